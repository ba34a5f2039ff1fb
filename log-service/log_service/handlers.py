"""RPC handlers of log-service: validate -> service -> reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from log_service import service
from log_service.settings import Settings
from log_service.stream.auth import PROTOCOL, TICKET, TicketStore
from log_service.stream.context import StreamAddress
from proto.access import Access
from proto.audit import AUDIT_LIST, AuditPage, AuditQuery
from proto.base import Empty
from proto.logs import (
    EXPORT_CHUNK,
    QUERY,
    STREAM_ENDPOINT,
    STREAM_TICKET,
    SUMMARY,
    EventsSummary,
    ExportChunk,
    ExportQuery,
    LogPage,
    LogQuery,
    StreamEndpoint,
    StreamTicket,
    StreamTicketRequest,
    SummaryQuery,
)
from proto.system import (
    PurgeResult,
    PurgeUser,
    PurgeWorkspace,
    purge_spec,
    workspace_purge_spec,
)
from services.bus.rpc import RawReply, RpcContext, answers
from services.db.engine import Database


@dataclass(eq=False)
class Handlers:
    db: Database
    settings: Settings
    tickets: TicketStore
    address: StreamAddress

    @answers(QUERY)
    async def query(self, req: LogQuery, ctx: RpcContext) -> LogPage:
        return await service.query(await ctx.user_session(), ctx.require_access(), req)

    @answers(EXPORT_CHUNK)
    async def export_chunk(self, req: ExportQuery, ctx: RpcContext) -> RawReply:
        body, count, cursor = await service.export_chunk(
            await ctx.user_session(), ctx.require_access(), req
        )
        return RawReply(ExportChunk(count=count, next_cursor=cursor), body)

    @answers(SUMMARY)
    async def summary(self, req: SummaryQuery, ctx: RpcContext) -> EventsSummary:
        session = await ctx.user_session()
        return await service.summary(session, ctx.require_access(), req, datetime.now(UTC))

    @answers(STREAM_TICKET)
    async def stream_ticket(self, req: StreamTicketRequest, ctx: RpcContext) -> StreamTicket:
        user = ctx.require_user()
        access = ctx.require_access()
        if req.workspace_id is not None:
            service.viewable(access, req.workspace_id)
        ticket, expires = await self.tickets.issue(user, req, access)
        return StreamTicket(
            ticket=ticket, expires_at=expires, protocols=[PROTOCOL, TICKET + ticket]
        )

    @answers(STREAM_ENDPOINT)
    async def stream_endpoint(self, _: Empty, ctx: RpcContext) -> StreamEndpoint:
        return StreamEndpoint(url=self.address.url(), instance=self.settings.instance)

    @answers(AUDIT_LIST)
    async def audit_list(self, req: AuditQuery, ctx: RpcContext) -> AuditPage:
        return await service.audit_list(await ctx.user_session(), ctx.require_access(), req)

    @answers(workspace_purge_spec("log"))
    async def purge_workspace(self, req: PurgeWorkspace, ctx: RpcContext) -> PurgeResult:
        # Acting for that workspace alone: row-level security lets nothing else be touched.
        # Its audit trail stays (append-only, kept until retention: docs/design/teams.md Q1).
        async with self.db.access_scope(Access.system_for("log", req.workspace_id)) as s:
            removed = await service.purge(s, req.workspace_id)
        return PurgeResult(service="log", removed=removed)

    @answers(purge_spec("log"))
    async def purge(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        # In the user's own row-level-security scope: nobody else's rows can be touched.
        async with self.db.user_scope(req.user_id) as s:
            removed = await service.purge(s, req.user_id)
        return PurgeResult(service="log", removed=removed)
