"""Thin RPC handlers: contract in, service call, contract (or raw bytes) out."""

from __future__ import annotations

from uuid import UUID

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
from proto.system import PurgeResult, PurgeUser, purge_spec
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
        owner = ctx.require_user()
        return await self.service.upload(ctx.session, owner, req, ctx.raw or b"")

    @answers(LIST_FILES)
    async def list(self, req: ListFiles, ctx: RpcContext) -> FileList:
        return await self.service.list(await ctx.user_session(), req)

    @answers(GET_FILE)
    async def get(self, req: FileRef, ctx: RpcContext) -> FileInfo:
        return await self.service.get(await ctx.user_session(), req.file_id)

    @answers(FILE_CONTENT)
    async def content(self, req: ContentRequest, ctx: RpcContext) -> RawReply:
        meta, data = await self.service.content(await ctx.user_session(), req)
        return RawReply(meta, data or b"")

    @answers(DELETE_FILE)
    async def delete(self, req: FileRef, ctx: RpcContext) -> FileDeleted:
        return await self.service.delete(await ctx.user_session(), req.file_id)

    @answers(READ_CONFIG)
    async def read_config(self, req: ConfigRef, ctx: RpcContext) -> ConfigDocument:
        return await self.service.read_config(await ctx.user_session(), req.file_id)

    @answers(APPLY_AVATAR_FILE)
    async def apply_avatar(self, req: ApplyAvatarFile, ctx: RpcContext) -> AvatarApplied:
        owner = ctx.require_user()
        return await self.service.apply_avatar(await ctx.session(), owner, req)

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
