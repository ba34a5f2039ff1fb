"""Public REST routes of the logs area: validate, call the owning service over NATS, reply.

- `GET /v1/logs`: the caller's events, newest first, filters, substring search, cursor.
- `GET /v1/logs/export`: the same as NDJSON, streamed: the gateway asks log-service for
  bounded chunks (`rpc.log.export.chunk`, keyset cursor) and writes each as it arrives, so
  neither side holds the whole export and no RPC reply grows past its limit.
- `GET /v1/bots/{id}/events/summary`: counts per kind and level (and per time bucket).
- `GET /v1/events/summary`: the same over all the caller's events (every bot's).
- `POST /v1/stream/ticket`: a short-lived single-use ticket for the websocket (for clients
  that cannot send their token as a subprotocol, e.g. a browser with a cookie session).
- `GET /v1/stream` (websocket): proxied to one log-service replica, which authenticates;
  on Kubernetes the Ingress routes the path to log-service directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from uuid import UUID

from fastapi import APIRouter, Depends, Query, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Origin, Subprotocol

from gateway.auth import CurrentUser
from gateway.deps import Bus
from gateway.inputs import contract_from
from gateway.routes.items import WorkspaceFilter
from proto import logs as L
from proto.base import Empty
from proto.errors import ErrorCode, FieldError
from proto.events import LogLevel
from services.bus.rpc import RpcClient
from services.errors import RpcError

log = logging.getLogger(__name__)
router = APIRouter(tags=["logs"])

# Width of the summary's time buckets: 0 = totals only, at most a week.
SummaryBucketSeconds = Annotated[int, Query(ge=0, le=7 * 24 * 3600)]


_LEVELS: dict[str, LogLevel] = {level: level for level in get_args(LogLevel)}


def _iso_time(value: Any) -> Any:
    """A time filter in ISO 8601 (`2026-12-07T10:00:00Z`, an offset, or UTC when none)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError(
            "iso_datetime",
            "should be a date and time in ISO 8601, like 2026-12-07T10:00:00Z",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# `since`/`until` of the logs and summaries: a plain message for a bad value.
IsoTime = Annotated[datetime | None, BeforeValidator(_iso_time)]


def _summary_window(
    since: IsoTime = None,
    until: IsoTime = None,
    bucket_s: SummaryBucketSeconds = 3600,
) -> L.SummaryQuery:
    """The window both summary routes take as query parameters (of all the caller's events;
    the per-bot route adds `bot_id`)."""
    return L.SummaryQuery(since=since, until=until, bucket_s=bucket_s)


SummaryWindow = Annotated[L.SummaryQuery, Depends(_summary_window)]


def _time_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise RpcError(
            ErrorCode.VALIDATION,
            "the time range is empty: since must be before until",
            fields=[FieldError(loc=["query", "since"], message="must be before until")],
        )


def _split(values: list[str]) -> list[str]:
    """`?level=error&level=warning` and `?level=error,warning` mean the same."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _levels(values: list[str]) -> list[LogLevel]:
    levels = _split(values)
    bad = [v for v in levels if v not in _LEVELS]
    if bad:
        raise RpcError(
            ErrorCode.VALIDATION,
            f"unknown level {bad[0]!r}",
            fields=[FieldError(loc=["query", "level"], message=f"one of {sorted(_LEVELS)}")],
        )
    return [_LEVELS[v] for v in levels]


class LogFilters:
    """The filters `/v1/logs` and its export share, as query parameters; checked in the
    route (`fields`), after FastAPI has validated every parameter."""

    def __init__(
        self,
        workspace_id: WorkspaceFilter = None,
        bot_id: UUID | None = None,
        level: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
        kind: Annotated[list[str], Query()] = [],  # noqa: B006
        domain: Annotated[list[str], Query()] = [],  # noqa: B006
        since: IsoTime = None,
        until: IsoTime = None,
        q: Annotated[str | None, Query(max_length=256)] = None,
        event_id: Annotated[UUID | None, Query(description="one log line (an event id)")] = None,
    ) -> None:
        self.workspace_id = workspace_id
        self.bot_id, self.since, self.until, self.q = bot_id, since, until, q
        self.event_id = event_id
        self.level, self.kind, self.domain = level, kind, domain

    def fields(self) -> dict[str, Any]:
        _time_range(self.since, self.until)
        return {
            "workspace_id": self.workspace_id,
            "bot_id": self.bot_id,
            "level": _levels(self.level),
            "kind": _split(self.kind),
            "domain": _split(self.domain),
            "since": self.since,
            "until": self.until,
            "q": self.q or None,
            "event_id": self.event_id,
        }


class Page:
    """Which page of `/v1/logs`: its own dependency after `LogFilters`, so the query
    parameters keep their order in the OpenAPI document."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> None:
        self.limit, self.cursor = limit, cursor


@router.get("/v1/logs", response_model=L.LogPage, summary="Your bots' logs and events")
async def list_logs(
    bus: Bus,
    user: CurrentUser,
    filters: Annotated[LogFilters, Depends()],
    page: Annotated[Page, Depends()],
) -> L.LogPage:
    req = contract_from(
        L.LogQuery, "query", **filters.fields(), limit=page.limit, cursor=page.cursor
    )
    return await bus.call(L.QUERY, req, user_id=user.user_id)


async def _chunks(
    bus: RpcClient, req: L.ExportQuery, user_id: UUID, first: bytes, cursor: str | None
) -> AsyncIterator[bytes]:
    yield first
    while cursor is not None:
        try:
            meta, body = await bus.call_raw(
                L.EXPORT_CHUNK, req.model_copy(update={"cursor": cursor}), user_id=user_id
            )
        except RpcError as err:
            # Headers are gone: end with a line that says why, so the file is not silently short.
            log.warning("export stopped: %s", err.message)
            yield b'{"error":"export interrupted; resume with the last id you received"}\n'
            return
        yield body
        cursor = meta.next_cursor


@router.get(
    "/v1/logs/export",
    summary="Your logs as NDJSON (streamed, newest first, same filters as /v1/logs)",
    response_class=StreamingResponse,
)
async def export_logs(
    bus: Bus, user: CurrentUser, filters: Annotated[LogFilters, Depends()]
) -> StreamingResponse:
    req = contract_from(L.ExportQuery, "query", **filters.fields())
    # The first chunk before the headers: bad filters still get a proper 4xx.
    meta, first = await bus.call_raw(L.EXPORT_CHUNK, req, user_id=user.user_id)
    return StreamingResponse(
        _chunks(bus, req, user.user_id, first, meta.next_cursor),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="botcenter-logs.ndjson"'},
    )


@router.get(
    "/v1/bots/{bot_id}/events/summary",
    response_model=L.EventsSummary,
    summary="Event counts per kind and level over a window (default: the last 24 h)",
)
async def events_summary(
    bus: Bus, user: CurrentUser, bot_id: UUID, window: SummaryWindow
) -> L.EventsSummary:
    req = window.model_copy(update={"bot_id": bot_id})
    return await bus.call(L.SUMMARY, req, user_id=user.user_id)


@router.get(
    "/v1/events/summary",
    response_model=L.EventsSummary,
    summary="Event counts per kind and level over all your bots (default: the last 24 h)",
)
async def all_events_summary(
    bus: Bus, user: CurrentUser, window: SummaryWindow, workspace_id: WorkspaceFilter = None
) -> L.EventsSummary:
    req = window.model_copy(update={"workspace_id": workspace_id})
    return await bus.call(L.SUMMARY, req, user_id=user.user_id)


@router.post(
    "/v1/stream/ticket",
    response_model=L.StreamTicket,
    summary="A single-use ticket to open the live stream (subprotocol `ticket.<ticket>`)",
)
async def stream_ticket(bus: Bus, user: CurrentUser) -> L.StreamTicket:
    # The stream belongs to the credential asking: it closes on that session's sign-out
    # (or the personal token's revocation) and when the credential expires.
    credential = L.StreamTicketRequest(
        session_id=user.session_id, token_id=user.token_id, expires_at=user.expires_at
    )
    return await bus.call(L.STREAM_TICKET, credential, user_id=user.user_id)


_HOP_CLOSE = {1005, 1006, 1015}


@router.websocket("/v1/stream")
async def stream_proxy(ws: WebSocket) -> None:
    """Relay the websocket to a log-service replica (picked by NATS's queue group)."""
    bus: RpcClient = ws.app.state.runtime.client
    offered = [
        p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
    ]
    try:
        endpoint = await bus.call(L.STREAM_ENDPOINT, Empty(), timeout_s=3.0)
    except RpcError:
        await ws.accept(subprotocol="botcenter.v1" if "botcenter.v1" in offered else None)
        await ws.close(code=1013, reason="the log service is not available; try again")
        return
    headers = {"X-Forwarded-Host": ws.headers.get("host", "")}
    origin = ws.headers.get("origin")
    if ws.client is not None:
        headers["X-Forwarded-For"] = ws.client.host
    try:
        upstream = await connect(
            endpoint.url,
            subprotocols=[Subprotocol(p) for p in offered] or None,
            origin=None if origin is None else Origin(origin),
            additional_headers=headers,
            compression=None,
            open_timeout=5.0,
            max_size=2**20,
            ping_interval=None,  # log-service pings this leg; our server pings the client
        )
    except InvalidStatus:
        await ws.close(code=1008)  # refused (origin): refuse the client's handshake too
        return
    except (OSError, TimeoutError, WebSocketException):
        await ws.accept(subprotocol="botcenter.v1" if "botcenter.v1" in offered else None)
        await ws.close(code=1013, reason="the log service is not available; try again")
        return
    await ws.accept(subprotocol=upstream.subprotocol)
    await _relay(ws, upstream)


async def _relay(ws: WebSocket, upstream: ClientConnection) -> None:
    async def down() -> None:
        async for message in upstream:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_text(message)

    async def up() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text") or message.get("bytes")
            if data:
                await upstream.send(data)

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(BaseException):
            await task
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionClosed):
            log.debug("stream relay ended: %r", exc)
    code = upstream.close_code
    reason = upstream.close_reason or ""
    await upstream.close()
    with contextlib.suppress(Exception):
        await ws.close(code=code if code and code not in _HOP_CLOSE else 1000, reason=reason)
