"""Contracts of the storage domain: request/reply models, events and their subjects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.base import Contract
from proto.bots import AvatarApplied
from proto.events import Event
from proto.registry import EventSpec, Spec, declared_specs, gateway_rpc, rpc

FileKind = Literal["avatar", "config"]

# Default per-kind upload limits. The gateway (while the body streams in) and
# storage-service (again, on the bytes it receives) both read the same variables
# STORAGE_MAX_AVATAR_BYTES / STORAGE_MAX_CONFIG_BYTES, with these defaults.
DEFAULT_MAX_AVATAR_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024

AVATAR_SIZES: tuple[int, ...] = (128, 256, 512, 1024)


# A request about one file extends this ref.
class FileRef(Contract):
    file_id: UUID


class ConfigRef(FileRef):
    # The workspace of the bot the file is for (command-service's import): a file of
    # another workspace is refused (422), even when the caller is a member of both.
    workspace_id: UUID | None = None


class ConfigDocument(Contract):
    """A stored config file of one of the caller's workspaces, already parsed (JSON or
    safe YAML)."""

    file_id: UUID
    name: str
    document: dict[str, Any]


class UploadFile(Contract):
    """Raw body: the file bytes; this model travels in the `bc-meta` header."""

    kind: FileKind
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="", max_length=255)
    # The workspace the file goes to (the caller needs `files.edit` there); default: the
    # caller's personal workspace.
    workspace_id: UUID | None = None


class FileVariant(Contract):
    """One stored rendition: `128`..`1024` (square WebP) for avatars, `original` otherwise."""

    name: str
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None


class FileInfo(Contract):
    id: UUID
    workspace_id: UUID
    kind: FileKind
    name: str
    content_type: str  # of the uploaded bytes, as detected (not as declared)
    size_bytes: int  # of the upload
    stored_bytes: int  # what the file costs against the quota (every stored variant)
    sha256: str
    width: int | None = None  # of the source image
    height: int | None = None
    animated: bool = False  # an animated source: its first frame was used
    variants: list[FileVariant] = Field(default_factory=list)
    created_at: datetime
    # True when these exact bytes were already stored in this workspace: no new copy was
    # made.
    deduplicated: bool = False


class ListFiles(Contract):
    kind: FileKind | None = None
    # Only this workspace's files (404 when the caller is not a member); default: every
    # workspace of the caller.
    workspace_id: UUID | None = None
    limit: int = Field(default=100, ge=1, le=500)


class FileList(Contract):
    """`files` across the listed workspaces; the usage and quota are those of `workspace_id`
    (the one asked for, else the caller's personal workspace): quotas are per workspace."""

    files: list[FileInfo]
    used_bytes: int
    used_files: int
    quota_bytes: int
    quota_files: int


class ContentRequest(FileRef):
    variant: str | None = None  # default: the largest avatar variant, or the original


class FileContent(Contract):
    """Either a short-lived `url` (S3 backends: redirect there) or, when `url` is None,
    the bytes as the raw reply body (filesystem backend) with this model in `bc-meta`."""

    file_id: UUID
    variant: str
    content_type: str
    size_bytes: int
    filename: str
    url: str | None = None
    expires_in_s: int | None = None


class FileDeleted(Contract):
    file_id: UUID
    removed_objects: int


class ApplyAvatarFile(Contract):
    bot_id: UUID
    file_id: UUID


class FileEvent(Event):
    """`evt.storage.<workspace>.-.file_stored` / `.file_deleted` (`owner_id` is the
    file's workspace)."""

    file_id: UUID
    file_kind: FileKind
    name: str
    size_bytes: int
    stored_bytes: int


class AvatarChanged(Event):
    """`evt.storage.<workspace>.<bot>.avatar_applied`: an uploaded avatar is now the bot's."""

    file_id: UUID
    avatar_hash: str | None = None


FILE_STORED = EventSpec(
    "evt.storage.*.*.file_stored", FileEvent, frozenset({"storage"}), "a file was stored"
)
FILE_DELETED = EventSpec(
    "evt.storage.*.*.file_deleted", FileEvent, frozenset({"storage"}), "a file was deleted"
)
AVATAR_APPLIED = EventSpec(
    "evt.storage.*.*.avatar_applied",
    AvatarChanged,
    frozenset({"storage"}),
    "an uploaded avatar was set on a bot's Discord user",
)

READ_CONFIG = rpc(
    "rpc.storage.config.read",
    ConfigRef,
    ConfigDocument,
    callers=["command"],
    summary="the parsed content of a config file of the caller's workspaces (404 if not "
    "theirs, 422 if not in the given workspace)",
)
UPLOAD = gateway_rpc(
    "rpc.storage.file.upload",
    UploadFile,
    FileInfo,
    "validate, process and store an upload (raw body = the file bytes)",
    raw_body=True,
)
LIST_FILES = gateway_rpc(
    "rpc.storage.file.list",
    ListFiles,
    FileList,
    "the files of the caller's workspaces, newest first, with a workspace's quota usage",
)
GET_FILE = rpc(
    "rpc.storage.file.get",
    FileRef,
    FileInfo,
    # auth: a workspace's `avatar_file_id` must name a file of that workspace.
    callers=["gateway", "auth"],
    summary="one file of the caller's workspaces (404 if not theirs)",
)
FILE_CONTENT = gateway_rpc(
    "rpc.storage.file.content",
    ContentRequest,
    FileContent,
    "download: a presigned URL (S3) or the bytes as raw reply body (filesystem)",
)
DELETE_FILE = gateway_rpc(
    "rpc.storage.file.delete",
    FileRef,
    FileDeleted,
    "delete a file and every stored variant no other file of its workspace references",
)
APPLY_AVATAR_FILE = gateway_rpc(
    "rpc.storage.avatar.apply",
    ApplyAvatarFile,
    AvatarApplied,
    "set an uploaded avatar on a bot of the file's workspace (through bot-service and Discord)",
)

SPECS: list[Spec] = declared_specs(globals())
