"""Public REST routes of the files area: validate, call the owning service over NATS, reply.

Uploads are parsed from the request stream as they arrive: the file part is counted
against the per-kind limit (avatars `STORAGE_MAX_AVATAR_BYTES`, config files
`STORAGE_MAX_CONFIG_BYTES` — the same variables storage-service reads) and the request is
refused with 413 the moment it goes over. While the client sends, the bytes wait in a
`gateway.uploads.Spool` (memory up to `GATEWAY_UPLOAD_SPOOL_BYTES`, then a temporary
file), and each upload holds a slot (per user, per address, per replica; 429 beyond).
Once the body is complete the file bytes travel to storage-service as the raw NATS
message body (metadata in the `bc-meta` header).

Downloads: with S3 the gateway redirects (307) to a short-lived presigned URL; with the
filesystem store storage-service returns the bytes and the gateway serves them.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from gateway.auth import CurrentUser
from gateway.deps import Bus
from gateway.ratelimit import client_ip
from gateway.routes.items import WorkspaceFilter
from gateway.settings import Settings
from gateway.uploads import Spool, upload_slots
from proto.base import Contract
from proto.bots import AvatarApplied
from proto.errors import ErrorCode, FieldError
from proto.storage import (
    APPLY_AVATAR_FILE,
    DEFAULT_MAX_AVATAR_BYTES,
    DEFAULT_MAX_CONFIG_BYTES,
    DELETE_FILE,
    FILE_CONTENT,
    GET_FILE,
    LIST_FILES,
    UPLOAD,
    ApplyAvatarFile,
    ContentRequest,
    FileDeleted,
    FileInfo,
    FileKind,
    FileList,
    FileRef,
    ListFiles,
    UploadFile,
)
from services.errors import RpcError
from services.sizes import human_size

router = APIRouter(tags=["files"])

UPLOAD_TIMEOUT_S = 30.0
APPLY_TIMEOUT_S = 15.0
_FIELD_LIMIT = 1024  # bytes of a plain form field (`kind`)
_MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers around the file


class UploadLimits(BaseSettings):
    """Per-kind upload limits, shared with storage-service through the same variables."""

    model_config = SettingsConfigDict(env_prefix="STORAGE_", extra="ignore")
    max_avatar_bytes: int = Field(DEFAULT_MAX_AVATAR_BYTES, ge=1024)
    max_config_bytes: int = Field(DEFAULT_MAX_CONFIG_BYTES, ge=256)

    def of(self, kind: str | None) -> int:
        if kind == "avatar":
            return self.max_avatar_bytes
        if kind == "config":
            return self.max_config_bytes
        return max(self.max_avatar_bytes, self.max_config_bytes)


_limits: UploadLimits | None = None


def upload_limits() -> UploadLimits:
    global _limits
    if _limits is None:
        _limits = UploadLimits()
    return _limits


def _too_large(kind: str | None, limit: int) -> RpcError:
    what = f"{kind} files" if kind else "uploads"
    return RpcError(
        ErrorCode.TOO_LARGE,
        f"{what} may be at most {human_size(limit)}",
        details={"limit_bytes": limit},
    )


def _invalid(message: str, loc: str = "file") -> RpcError:
    return RpcError(
        ErrorCode.VALIDATION, message, fields=[FieldError(loc=["body", loc], message=message)]
    )


_KINDS: dict[str, FileKind] = {"avatar": "avatar", "config": "config"}


def _kind(value: str | None) -> FileKind | None:
    if value is None or value == "":
        return None
    kind = _KINDS.get(value)
    if kind is None:
        raise _invalid("kind must be avatar or config", "kind")
    return kind


class _Upload:
    """Streaming multipart/form-data reader for one `file` part and a `kind` field."""

    def __init__(self, kind: FileKind | None, limits: UploadLimits, spool: Spool) -> None:
        self.kind = kind
        self.limits = limits
        self.filename: str | None = None
        self.content_type = ""
        self.spool = spool
        self.size = 0  # bytes of the file part so far
        self.pending = bytearray()  # of the last chunk parsed, not yet in the spool
        self.files = 0
        self.error: RpcError | None = None
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self._name: str | None = None
        self._is_file = False
        self._text = bytearray()

    # Callbacks of python-multipart's MultipartParser.
    def on_part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._text = {}, None, False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode(
            "utf-8", "replace"
        )
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        if name == "file":
            self.files += 1
            self._is_file = True
            raw = params.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else ""
            self.content_type = self._headers.get("content-type", "")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        if self._is_file:
            if self.files > 1:
                return
            self.pending += data[start:end]
            self.size += end - start
            limit = self.limits.of(self.kind)
            if self.size > limit:
                self.error = _too_large(self.kind, limit)
        else:
            self._text += data[start:end]
            if len(self._text) > _FIELD_LIMIT:
                self.error = _invalid("form fields other than file must be short", self._name or "")

    def on_part_end(self) -> None:
        if self._name == "kind" and not self._is_file and self.error is None:
            try:
                kind = _kind(self._text.decode("utf-8", "replace").strip())
            except RpcError as err:
                self.error = err
                return
            if self.kind is not None and kind is not None and kind != self.kind:
                self.error = _invalid("kind in the query and in the form disagree", "kind")
            self.kind = kind or self.kind


async def _read_upload(request: Request, kind: FileKind | None, spool: Spool) -> _Upload:
    limits = upload_limits()
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise _invalid("send the file as multipart/form-data with a `file` field", "file")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limits.of(kind) + _MULTIPART_OVERHEAD:
        raise _too_large(kind, limits.of(kind))  # refused before reading anything
    upload = _Upload(kind, limits, spool)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": upload.on_part_begin,
            "on_header_field": upload.on_header_field,
            "on_header_value": upload.on_header_value,
            "on_header_end": upload.on_header_end,
            "on_headers_finished": upload.on_headers_finished,
            "on_part_data": upload.on_part_data,
            "on_part_end": upload.on_part_end,
        },
    )
    # The ASGI messages are read here rather than through `request.stream()`, whose frame
    # (like an `async for` variable) keeps the last chunk — up to ~300 KiB — alive while
    # it waits for the next: a stalled upload is to hold its spool and nothing more.
    receive = request.receive
    try:
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect
            more = message.get("more_body", False)
            parser.write(message.get("body", b""))
            del message
            if upload.error is not None:
                # Stop reading: the rest of the body is never received.
                raise upload.error
            if upload.pending:
                await spool.write(upload.pending)
                upload.pending = bytearray()
        parser.finalize()
    except RpcError:
        raise
    except Exception:
        raise _invalid("the multipart body is malformed") from None
    if upload.filename is None:
        raise _invalid("the form has no `file` field")
    if upload.files > 1:
        raise _invalid("send one file per request")
    if upload.kind is None:
        raise _invalid("say what the file is: kind=avatar or kind=config", "kind")
    limit = limits.of(upload.kind)
    if upload.size > limit:  # `kind` came after the file
        raise _too_large(upload.kind, limit)
    if not upload.filename:
        raise _invalid("the file part needs a filename")
    return upload


@router.post(
    "/v1/files",
    status_code=status.HTTP_201_CREATED,
    response_model=FileInfo,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "kind": {"type": "string", "enum": ["avatar", "config"]},
                        },
                    }
                }
            },
        }
    },
    summary="Upload an avatar (PNG, JPEG, WebP, GIF) or a config file (JSON, YAML)",
)
async def upload_file(
    request: Request,
    response: Response,
    bus: Bus,
    user: CurrentUser,
    kind: Annotated[Literal["avatar", "config"] | None, Query()] = None,
    workspace_id: Annotated[
        UUID | None, Query(description="the workspace the file goes to (default: personal)")
    ] = None,
) -> FileInfo:
    settings = request.app.state.runtime.settings
    assert isinstance(settings, Settings)
    address = client_ip(request.scope, settings.trusted_proxy_hops)
    spool = Spool(settings.upload_spool_bytes)
    # Taken before a byte of the body is read, held until storage-service has answered.
    with upload_slots(request.app).hold(str(user.user_id), address):
        try:
            upload = await _read_upload(request, kind, spool)
            assert upload.kind is not None
            assert upload.filename is not None
            meta = UploadFile(
                kind=upload.kind,
                filename=upload.filename[-255:],
                content_type=upload.content_type[:255],
                workspace_id=workspace_id,
            )
            # The NATS message carries the bytes: the whole file is in memory from here
            # until storage-service answers (the spool bounded it while the client sent).
            body = await spool.read_all()
        finally:
            spool.close()
        info = await bus.call(
            UPLOAD, meta, user_id=user.user_id, body=body, timeout_s=UPLOAD_TIMEOUT_S
        )
    if info.deduplicated:
        response.status_code = status.HTTP_200_OK
    return info


@router.get("/v1/files", response_model=FileList, summary="Your files and quota usage")
async def list_files(
    bus: Bus,
    user: CurrentUser,
    kind: Annotated[Literal["avatar", "config"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    workspace_id: WorkspaceFilter = None,
) -> FileList:
    req = ListFiles(kind=kind, limit=limit, workspace_id=workspace_id)
    return await bus.call(LIST_FILES, req, user_id=user.user_id)


@router.get("/v1/files/{file_id}", response_model=FileInfo, summary="One file")
async def get_file(file_id: UUID, bus: Bus, user: CurrentUser) -> FileInfo:
    return await bus.call(GET_FILE, FileRef(file_id=file_id), user_id=user.user_id)


@router.get(
    "/v1/files/{file_id}/content",
    summary="Download a file (a redirect to a short-lived URL with S3, else the bytes)",
    responses={
        200: {"description": "the bytes (filesystem store)"},
        307: {"description": "redirect to a presigned URL (S3 store)"},
    },
)
async def file_content(
    file_id: UUID,
    bus: Bus,
    user: CurrentUser,
    variant: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z0-9]+$")] = None,
) -> Response:
    meta, data = await bus.call_raw(
        FILE_CONTENT, ContentRequest(file_id=file_id, variant=variant), user_id=user.user_id
    )
    if meta.url:
        return RedirectResponse(
            meta.url, status_code=307, headers={"Cache-Control": "private, no-store"}
        )
    disposition = "inline" if meta.content_type.startswith("image/") else "attachment"
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in meta.filename)[:100]
    return Response(
        content=data,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{safe_name or "file"}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=300",
        },
    )


@router.delete(
    "/v1/files/{file_id}",
    response_model=FileDeleted,
    summary="Delete a file and every stored variant",
)
async def delete_file(file_id: UUID, bus: Bus, user: CurrentUser) -> FileDeleted:
    return await bus.call(DELETE_FILE, FileRef(file_id=file_id), user_id=user.user_id)


class AvatarRequest(Contract):
    file_id: UUID


@router.post(
    "/v1/bots/{bot_id}/avatar",
    response_model=AvatarApplied,
    tags=["bots"],
    summary="Set an uploaded avatar on the bot's Discord user",
    responses={429: {"description": "Discord's avatar-change rate limit; see Retry-After"}},
)
async def apply_avatar(
    bot_id: UUID,
    body: AvatarRequest,
    bus: Bus,
    user: CurrentUser,
) -> AvatarApplied:
    return await bus.call(
        APPLY_AVATAR_FILE,
        ApplyAvatarFile(bot_id=bot_id, file_id=body.file_id),
        user_id=user.user_id,
        timeout_s=APPLY_TIMEOUT_S,
    )
