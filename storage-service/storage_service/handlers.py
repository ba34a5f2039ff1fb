"""Thin RPC handlers: contract in, service call, contract (or raw bytes) out."""

from __future__ import annotations

from uuid import UUID

from proto.access import Access
from proto.bots import AvatarApplied
from proto.errors import ErrorCode
from proto.storage import (
    APPLY_AVATAR_FILE,
    DELETE_FILE,
    FILE_CONTENT,
    GET_FILE,
    LIST_FILES,
    READ_CONFIG,
    UPLOAD,
    ApplyAvatarFile,
    ConfigDocument,
    ConfigRef,
    ContentRequest,
    FileDeleted,
    FileInfo,
    FileList,
    FileRef,
    ListFiles,
    UploadFile,
)
from proto.system import PurgeResult, PurgeUser, PurgeWorkspace, purge_spec, workspace_purge_spec
from services.audit import AuditActor
from services.bus.rpc import RawReply, RpcContext, answers
from services.db.engine import Database
from services.errors import RpcError
from storage_service.service import StorageService


class Handlers:
    def __init__(self, service: StorageService, db: Database) -> None:
        self.service = service
        self.db = db

    @answers(UPLOAD)
    async def upload(self, req: UploadFile, ctx: RpcContext) -> FileInfo:
        access = ctx.require_access()
        return await self.service.upload(
            ctx.session, access, AuditActor.of(access, ctx.headers), req, ctx.raw or b""
        )

    @answers(LIST_FILES)
    async def list(self, req: ListFiles, ctx: RpcContext) -> FileList:
        session = await ctx.user_session()
        return await self.service.list(session, ctx.require_access(), req)

    @answers(GET_FILE)
    async def get(self, req: FileRef, ctx: RpcContext) -> FileInfo:
        return await self.service.get(await ctx.user_session(), req.file_id)

    @answers(FILE_CONTENT)
    async def content(self, req: ContentRequest, ctx: RpcContext) -> RawReply:
        meta, data = await self.service.content(await ctx.user_session(), req)
        return RawReply(meta, data or b"")

    @answers(DELETE_FILE)
    async def delete(self, req: FileRef, ctx: RpcContext) -> FileDeleted:
        session = await ctx.user_session()
        access = ctx.require_access()
        return await self.service.delete(
            session, access, AuditActor.of(access, ctx.headers), req.file_id
        )

    @answers(READ_CONFIG)
    async def read_config(self, req: ConfigRef, ctx: RpcContext) -> ConfigDocument:
        return await self.service.read_config(
            await ctx.user_session(), req.file_id, req.workspace_id
        )

    @answers(APPLY_AVATAR_FILE)
    async def apply_avatar(self, req: ApplyAvatarFile, ctx: RpcContext) -> AvatarApplied:
        session = await ctx.user_session()
        return await self.service.apply_avatar(session, ctx.require_access(), req)

    @answers(purge_spec("storage"))
    async def purge(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        # Only auth-service may publish this subject (NATS permissions). When it acts for
        # a user the header must name the same one.
        if ctx.user_id is not None and ctx.user_id != req.user_id:
            raise RpcError(ErrorCode.FORBIDDEN, "a user can only purge their own data")
        removed = await self._purge(req.user_id)
        return PurgeResult(service="storage", removed=removed)

    async def _purge(self, user_id: UUID) -> int:
        async with self.db.user_scope(user_id) as session:
            return await self.service.purge(session, user_id)

    @answers(workspace_purge_spec("storage"))
    async def purge_workspace(self, req: PurgeWorkspace, ctx: RpcContext) -> PurgeResult:
        # Only auth-service may publish this subject (NATS permissions); it sends it after
        # dropping the workspace's memberships, so no caller's access still names it: act
        # for the workspace as the service itself.
        system = Access.system_for("storage", req.workspace_id)
        async with self.db.access_scope(system) as session:
            removed = await self.service.purge(session, req.workspace_id)
        return PurgeResult(service="storage", removed=removed)
