"""Rules of storage-service: limits, quotas, dedup, object keys, avatar application.

No FastAPI or NATS here: handlers pass a way to open the request's database session, the
object store and a `BotAvatars` port (bot-service, reached over NATS by app.py).

Files belong to workspaces (#17): any member reads them (the session's row-level security
shows only the caller's workspaces), uploads and deletes need `files.edit` there, and each
upload or delete writes one audit record through the outbox, in its transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol
from uuid import UUID

import uuid_utils
from sqlalchemy.ext.asyncio import AsyncSession

from proto.access import Access
from proto.bots import AvatarApplied
from proto.errors import ErrorCode, FieldError
from proto.events import Event
from proto.storage import (
    ApplyAvatarFile,
    AvatarChanged,
    ConfigDocument,
    ContentRequest,
    FileContent,
    FileDeleted,
    FileEvent,
    FileInfo,
    FileList,
    FileVariant,
    ListFiles,
    UploadFile,
)
from services.access import require, require_member
from services.audit import AuditActor, diff
from services.errors import RpcError, not_found, validation
from services.outbox import Outbox
from services.sizes import human_duration, human_size
from storage_service import processing
from storage_service.models import StoredFile
from storage_service.objects import ObjectMissing, ObjectStore
from storage_service.repository import FileRepository
from storage_service.settings import Settings
from storage_service.workers import Processor

log = logging.getLogger(__name__)

OpenSession = Callable[[], Awaitable[AsyncSession]]

_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
_CONFIG_EXT = {"json": ".json", "yaml": ".yaml"}


class EventSink(Protocol):
    async def __call__(self, kind: str, event: Event) -> None: ...


class BotAvatars(Protocol):
    """bot-service, acting for the request's caller (its access goes along)."""

    async def workspace_of(self, bot_id: UUID) -> UUID:
        """The bot's workspace; NOT_FOUND when the caller cannot see the bot."""
        ...

    async def apply(self, bot_id: UUID, data: bytes, content_type: str) -> AvatarApplied: ...


def object_key(workspace_id: UUID, sha256: str, variant: str, ext: str) -> str:
    # `users/`: the prefix of the keys written before workspaces (a personal workspace's
    # id is its user's), kept so no object moves.
    return f"users/{workspace_id}/{sha256}/{variant}{ext}"


def workspace_prefix(workspace_id: UUID) -> str:
    return f"users/{workspace_id}/"


def file_changes(row: StoredFile) -> dict[str, Any]:
    """What an audit record says of a file (none of it secret: names, sizes, digest)."""
    return row.model_dump(include={"kind", "name", "content_type", "size_bytes", "sha256"})


def rejected(exc: processing.UploadRejected) -> RpcError:
    fields = [FieldError(loc=[exc.field], message=exc.message)]
    fields += [FieldError(loc=["document", *loc], message=msg) for loc, msg in exc.problems]
    return RpcError(ErrorCode(exc.code), exc.message, fields=fields)


def file_info(row: StoredFile, *, deduplicated: bool = False) -> FileInfo:
    return FileInfo.from_row(
        row,
        variants=[
            FileVariant(**{k: v for k, v in variant.items() if k != "key"})
            for variant in row.variants
        ],
        deduplicated=deduplicated,
    )


def _avatar_options(s: Settings) -> dict[str, int]:
    """`process_avatar`'s size limits and WebP options."""
    return {
        "max_pixels": s.max_image_pixels,
        "max_lossless_pixels": s.max_lossless_pixels,
        "min_side": s.min_avatar_side,
        "quality": s.webp_quality,
        "method": s.webp_method,
    }


def _config_limits(s: Settings) -> dict[str, int]:
    """`parse_config`'s limits: an upload is checked and a stored file read with the same."""
    return {"max_depth": s.max_config_depth, "max_nodes": s.max_config_nodes}


@dataclass(eq=False)
class StorageService:
    settings: Settings
    store: ObjectStore
    processor: Processor
    bots: BotAvatars | None = None
    events: EventSink | None = None
    # Where audit records go (the service's outbox); None only where rules are exercised
    # without a database.
    outbox: Outbox | None = None

    async def _audit(
        self,
        session: AsyncSession,
        actor: AuditActor,
        row: StoredFile,
        action: str,
        changes: dict[str, Any],
    ) -> None:
        if self.outbox is not None:
            record = actor.record(
                row.workspace_id, action, target_type="file", target_id=row.id, changes=changes
            )
            await self.outbox.add_audit(session, "storage", record)

    async def _emit(self, kind: str, event: Event) -> None:
        if self.events is not None:
            await self.events(kind, event)

    async def _file_event(self, kind: str, row: StoredFile, verb: str) -> None:
        await self._emit(
            kind,
            FileEvent(
                owner_id=row.workspace_id,
                message=f"{row.kind} file {row.name!r} {verb}",
                file_id=row.id,
                file_kind=row.kind,
                name=row.name,
                size_bytes=row.size_bytes,
                stored_bytes=row.stored_bytes,
            ),
        )

    # ------------------------------------------------------------------ upload

    def limit_for(self, kind: str) -> int:
        return (
            self.settings.max_avatar_bytes if kind == "avatar" else self.settings.max_config_bytes
        )

    async def upload(
        self,
        open_session: OpenSession,
        access: Access,
        actor: AuditActor,
        meta: UploadFile,
        data: bytes,
    ) -> FileInfo:
        uploader = access.user_id
        if uploader is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "an upload needs a signed-in user")
        workspace = meta.workspace_id or uploader
        require_member(access, "files.edit", workspace)
        limit = self.limit_for(meta.kind)
        if len(data) > limit:
            raise RpcError(
                ErrorCode.TOO_LARGE,
                f"{meta.kind} files may be at most {human_size(limit)}",
                details={"limit_bytes": limit},
            )
        if not data:
            raise RpcError(
                ErrorCode.VALIDATION,
                "the file is empty",
                fields=[FieldError(loc=["file"], message="empty")],
            )
        name = PurePosixPath(meta.filename.replace("\\", "/")).name[:255] or "file"
        sha = hashlib.sha256(data).hexdigest()
        # CPU work first, outside any database transaction (no connection held meanwhile).
        objects, row = await self._process(workspace, uploader, meta, name, data, sha)

        session = await open_session()
        repo = FileRepository(session)
        await repo.lock_workspace(workspace)
        existing = await repo.by_sha(workspace, sha)
        if existing is not None:
            return file_info(existing, deduplicated=True)
        files, used = await repo.usage(workspace)
        s = self.settings
        if files >= s.quota_files:
            raise RpcError(
                ErrorCode.CONFLICT,
                f"this workspace already has {files} files, the limit is {s.quota_files}; "
                "delete some first",
                details={"quota_files": s.quota_files, "used_files": files},
            )
        if used + row.stored_bytes > s.quota_bytes:
            raise RpcError(
                ErrorCode.TOO_LARGE,
                f"storing this file would use {human_size(used + row.stored_bytes)} of the "
                f"workspace's {human_size(s.quota_bytes)} quota; delete some files first",
                details={
                    "quota_bytes": s.quota_bytes,
                    "used_bytes": used,
                    "needed_bytes": row.stored_bytes,
                },
            )
        await repo.add(row)
        await self._audit(session, actor, row, "file.upload", diff(None, file_changes(row)))
        # Objects after the row: if a put fails, the handler raises and the row (and its
        # audit record) rolls back.
        await asyncio.gather(*(self.store.put(k, b, t) for k, (b, t) in objects.items()))
        await self._file_event("file_stored", row, "stored")
        return file_info(row)

    async def _process(
        self,
        workspace_id: UUID,
        uploader: UUID,
        meta: UploadFile,
        name: str,
        data: bytes,
        sha: str,
    ) -> tuple[dict[str, tuple[bytes, str]], StoredFile]:
        s = self.settings
        objects: dict[str, tuple[bytes, str]] = {}
        variants: list[dict[str, Any]] = []
        width = height = None
        animated = False

        def keep(variant: str, blob: bytes, mime: str, ext: str, **size: int) -> None:
            """Store `blob` as `variant`; `size` (width, height) only for images, so a
            config file's entry has no such keys at all."""
            key = object_key(workspace_id, sha, variant, ext)
            objects[key] = (blob, mime)
            variants.append(
                {"name": variant, "content_type": mime, "size_bytes": len(blob), **size, "key": key}
            )

        try:
            if meta.kind == "avatar":
                avatar = await self.processor.run(
                    processing.process_avatar, data, name, meta.content_type, **_avatar_options(s)
                )
                content_type = avatar.mime
                width, height, animated = avatar.width, avatar.height, avatar.animated
                for variant, (blob, side) in avatar.variants.items():
                    keep(variant, blob, "image/webp", ".webp", width=side, height=side)
                if s.keep_original:
                    size = {"width": avatar.width, "height": avatar.height}
                    keep("original", data, avatar.mime, _EXT[avatar.mime], **size)
            else:
                parsed = await self.processor.run(
                    processing.parse_and_validate_config,
                    data,
                    name,
                    meta.content_type,
                    **_config_limits(s),
                )
                content_type = parsed.mime
                keep("original", data, parsed.mime, _CONFIG_EXT[parsed.format])
        except processing.UploadRejected as exc:
            raise rejected(exc) from None
        row = StoredFile(
            id=UUID(str(uuid_utils.uuid7())),
            workspace_id=workspace_id,
            created_by=uploader,
            kind=meta.kind,
            name=name,
            content_type=content_type,
            sha256=sha,
            size_bytes=len(data),
            stored_bytes=sum(len(b) for b, _ in objects.values()),
            width=width,
            height=height,
            animated=animated,
            variants=variants,
            object_keys=list(objects),
        )
        return objects, row

    # ------------------------------------------------------------------ reads

    async def _row(self, session: AsyncSession, file_id: UUID) -> StoredFile:
        row = await FileRepository(session).get(file_id)
        if row is None:
            raise RpcError(ErrorCode.NOT_FOUND, "no such file")
        return row

    async def list(self, session: AsyncSession, access: Access, req: ListFiles) -> FileList:
        if req.workspace_id is not None and not access.sees(req.workspace_id):
            raise not_found("workspace")
        # Any member reads a workspace's files; the filter repeats what RLS already says.
        shown = (
            [req.workspace_id]
            if req.workspace_id is not None
            else [g.workspace_id for g in access.grants]
        )
        repo = FileRepository(session)
        rows = await repo.newest(shown, req.kind, req.limit)
        quota_of = req.workspace_id or access.user_id
        files, used = await repo.usage(quota_of) if quota_of is not None else (0, 0)
        return FileList(
            files=[file_info(r) for r in rows],
            used_bytes=used,
            used_files=files,
            quota_bytes=self.settings.quota_bytes,
            quota_files=self.settings.quota_files,
        )

    async def get(self, session: AsyncSession, file_id: UUID) -> FileInfo:
        return file_info(await self._row(session, file_id))

    @staticmethod
    def _variant(row: StoredFile, name: str | None) -> dict[str, Any]:
        wanted = name or ("1024" if row.kind == "avatar" else "original")
        for variant in row.variants:
            if variant["name"] == wanted:
                return variant
        names = ", ".join(v["name"] for v in row.variants)
        raise RpcError(
            ErrorCode.NOT_FOUND,
            f"this file has no variant {wanted!r} (it has: {names})",
            fields=[FieldError(loc=["variant"], message=f"one of: {names}")],
        )

    async def content(
        self, session: AsyncSession, req: ContentRequest
    ) -> tuple[FileContent, bytes | None]:
        row = await self._row(session, req.file_id)
        variant = self._variant(row, req.variant)
        stem = PurePosixPath(row.name).stem or "file"
        ext = PurePosixPath(variant["key"]).suffix
        filename = f"{stem}-{variant['name']}{ext}" if row.kind == "avatar" else row.name
        meta = FileContent(
            file_id=row.id,
            variant=variant["name"],
            content_type=variant["content_type"],
            size_bytes=variant["size_bytes"],
            filename=filename,
        )
        ttl = self.settings.presign_ttl_s
        url = await self.store.presigned_url(
            variant["key"], ttl, content_type=variant["content_type"], filename=filename
        )
        if url is not None:
            meta.url, meta.expires_in_s = url, ttl
            return meta, None
        return meta, await self._stored(row, variant)

    async def _stored(self, row: StoredFile, variant: dict[str, Any]) -> bytes:
        """The bytes of one variant of `row`; its object gone from the store is a 404 (and an
        error in the log: rows and objects are written together)."""
        try:
            return await self.store.get(variant["key"])
        except ObjectMissing:
            log.error("object missing from the store", extra={"file_id": str(row.id)})
            raise RpcError(
                ErrorCode.NOT_FOUND, "the stored content of this file is missing"
            ) from None

    async def read_config(
        self, session: AsyncSession, file_id: UUID, workspace_id: UUID | None = None
    ) -> ConfigDocument:
        row = await self._row(session, file_id)
        if workspace_id is not None and row.workspace_id != workspace_id:
            raise other_workspace()
        if row.kind != "config":
            raise RpcError(
                ErrorCode.VALIDATION,
                "this file is not a config file",
                fields=[FieldError(loc=["file_id"], message="not a config file")],
            )
        data = await self._stored(row, self._variant(row, "original"))
        try:
            parsed = await self.processor.run(
                processing.parse_config,
                data,
                row.name,
                row.content_type,
                **_config_limits(self.settings),
            )
        except processing.UploadRejected as exc:
            raise rejected(exc) from None
        return ConfigDocument(file_id=row.id, name=row.name, document=parsed.document)

    # ------------------------------------------------------------------ deletes

    async def delete(
        self, session: AsyncSession, access: Access, actor: AuditActor, file_id: UUID
    ) -> FileDeleted:
        repo = FileRepository(session)
        row = await self._row(session, file_id)
        require(access, "files.edit", row.workspace_id)
        keys = list(row.object_keys)
        await repo.delete(row)
        await self._audit(session, actor, row, "file.delete", diff(file_changes(row), None))
        in_use = await repo.keys_in_use(row.workspace_id, keys)
        orphans = [k for k in keys if k not in in_use]
        removed = await self.store.delete(orphans)
        await self._file_event("file_deleted", row, "deleted")
        return FileDeleted(file_id=file_id, removed_objects=removed)

    async def purge(self, session: AsyncSession, workspace_id: UUID) -> int:
        """Every file row of the workspace, then every object under its prefix (orphans
        too: keys are per workspace, so no other workspace's row can reference them).
        Idempotent; a user's purge is their personal workspace's."""
        rows = await FileRepository(session).delete_all(workspace_id)
        await self.store.delete_prefix(workspace_prefix(workspace_id))
        return len(rows)

    # ------------------------------------------------------------------ avatars

    async def apply_avatar(
        self, session: AsyncSession, access: Access, req: ApplyAvatarFile
    ) -> AvatarApplied:
        row = await self._row(session, req.file_id)
        if row.kind != "avatar":
            raise RpcError(
                ErrorCode.VALIDATION,
                "this file is not an avatar",
                fields=[FieldError(loc=["file_id"], message="not an avatar")],
            )
        if self.bots is None:
            raise RpcError(ErrorCode.UNAVAILABLE, "bot-service is not reachable")
        workspace = await self.bots.workspace_of(req.bot_id)
        require(access, "bots.edit", workspace, req.bot_id)
        if row.workspace_id != workspace:
            raise other_workspace()
        names = {v["name"] for v in row.variants}
        wanted = self.settings.apply_variant if self.settings.apply_variant in names else "512"
        variant = self._variant(row, wanted)
        data = await self._stored(row, variant)
        try:
            applied = await self.bots.apply(req.bot_id, data, variant["content_type"])
        except RpcError as err:
            if err.code is not ErrorCode.RATE_LIMITED:
                raise
            raise avatar_rate_limited(err) from None
        await self._emit(
            "avatar_applied",
            AvatarChanged(
                owner_id=workspace,
                bot_id=req.bot_id,
                message=(
                    f"avatar {row.name!r} was already set; nothing was sent to Discord"
                    if applied.unchanged
                    else f"avatar changed to {row.name!r}"
                ),
                file_id=row.id,
                avatar_hash=applied.avatar_hash,
            ),
        )
        return applied


def other_workspace() -> RpcError:
    """A file used for a bot of another workspace: refused even when the caller is a
    member of both (nothing crosses workspaces)."""
    message = "the file is not in the bot's workspace"
    return validation(message, fields=[FieldError(loc=["file_id"], message=message)])


def avatar_rate_limited(err: RpcError) -> RpcError:
    """Discord's avatar-change limit, said plainly, with the wait in `retry_after` (the
    gateway turns it into a Retry-After header)."""
    try:
        wait = float(err.details["retry_after"])
    except (KeyError, TypeError, ValueError):
        wait = 60.0
    seconds = max(1, math.ceil(wait))
    return RpcError(
        ErrorCode.RATE_LIMITED,
        "Discord limits how often a bot's avatar can change; "
        f"try again in {human_duration(seconds)}",
        details={"retry_after": seconds},
    )
