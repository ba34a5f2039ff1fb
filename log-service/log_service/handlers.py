"""RPC handlers of log-service: validate -> service -> reply."""

from __future__ import annotations

from datetime import UTC, datetime

from log_service import repository as repo
from log_service import service
from log_service.settings import Settings
from log_service.stream_auth import PROTOCOL, TICKET, TicketStore
from proto.base import Empty
from proto.logs import (
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
from proto.system import PurgeResult, PurgeUser
from services.bus.rpc import RawReply, RpcContext
from services.runtime import ServiceRuntime


def stream_url(runtime: ServiceRuntime, settings: Settings) -> str:
    """The websocket URL of this replica's stream (the fast server's port if it runs)."""
    base = (
        settings.public_url
        or runtime.state.get("stream_url")
        or str(runtime.state.get("http_url", ""))
    )
    url = str(base).replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/")
    return url + "/v1/stream"


class Handlers:
    def __init__(self, runtime: ServiceRuntime, tickets: TicketStore) -> None:
        self.runtime = runtime
        self.tickets = tickets

    async def query(self, req: LogQuery, ctx: RpcContext) -> LogPage:
        ctx.require_user()
        return await service.query(await ctx.session(), req)

    async def export_chunk(self, req: ExportQuery, ctx: RpcContext) -> RawReply:
        ctx.require_user()
        body, count, cursor = await service.export_chunk(await ctx.session(), req)
        return RawReply(ExportChunk(count=count, next_cursor=cursor), body)

    async def summary(self, req: SummaryQuery, ctx: RpcContext) -> EventsSummary:
        user = ctx.require_user()
        return await service.summary(await ctx.session(), user, req, datetime.now(UTC))

    async def stream_ticket(self, req: StreamTicketRequest, ctx: RpcContext) -> StreamTicket:
        user = ctx.require_user()
        ticket, expires = await self.tickets.issue(user, req)
        return StreamTicket(
            ticket=ticket, expires_at=expires, protocols=[PROTOCOL, TICKET + ticket]
        )

    async def stream_endpoint(self, _: Empty, ctx: RpcContext) -> StreamEndpoint:
        settings = self.runtime.settings
        assert isinstance(settings, Settings)
        return StreamEndpoint(url=stream_url(self.runtime, settings), instance=settings.instance)

    async def purge(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        db = self.runtime.db
        assert db is not None
        # In the user's own row-level-security scope: nobody else's rows can be touched.
        async with db.user_scope(req.user_id) as s:
            removed = await repo.purge(s, req.user_id)
        return PurgeResult(service="log", removed=removed)
