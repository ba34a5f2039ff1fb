"""RPC handlers of log-service: validate -> service -> reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from log_service import service
from log_service.settings import Settings
from log_service.stream.auth import PROTOCOL, TICKET, TicketStore
from log_service.stream.context import StreamAddress
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
from proto.system import PurgeResult, PurgeUser, purge_spec
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
        ctx.require_user()
        return await service.query(await ctx.session(), req)

    @answers(EXPORT_CHUNK)
    async def export_chunk(self, req: ExportQuery, ctx: RpcContext) -> RawReply:
        ctx.require_user()
        body, count, cursor = await service.export_chunk(await ctx.session(), req)
        return RawReply(ExportChunk(count=count, next_cursor=cursor), body)

    @answers(SUMMARY)
    async def summary(self, req: SummaryQuery, ctx: RpcContext) -> EventsSummary:
        user = ctx.require_user()
        return await service.summary(await ctx.session(), user, req, datetime.now(UTC))

    @answers(STREAM_TICKET)
    async def stream_ticket(self, req: StreamTicketRequest, ctx: RpcContext) -> StreamTicket:
        user = ctx.require_user()
        ticket, expires = await self.tickets.issue(user, req)
        return StreamTicket(
            ticket=ticket, expires_at=expires, protocols=[PROTOCOL, TICKET + ticket]
        )

    @answers(STREAM_ENDPOINT)
    async def stream_endpoint(self, _: Empty, ctx: RpcContext) -> StreamEndpoint:
        return StreamEndpoint(url=self.address.url(), instance=self.settings.instance)

    @answers(purge_spec("log"))
    async def purge(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        # In the user's own row-level-security scope: nobody else's rows can be touched.
        async with self.db.user_scope(req.user_id) as s:
            removed = await service.purge(s, req.user_id)
        return PurgeResult(service="log", removed=removed)
