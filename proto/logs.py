"""Contracts of the logs domain: request/reply models, events and their subjects.

log-service stores every event of the `EVENTS` stream (`evt.>`) generically and answers
queries about them; its live stream (`GET /v1/stream`) is a websocket it serves itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.base import Contract, Empty
from proto.events import Event, LogLevel
from proto.registry import EventSpec, KvSpec, Spec, declared_specs, gateway_rpc
from proto.values import Text, Token

LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error", "critical")


class LogRecorded(Event):
    """`evt.log.<workspace>.<bot>.<level>`: one log line of a bot (e.g. from its discord.py client).

    The level is the subject's last token. `source` names the part that wrote it.
    """

    source: str = Field(default="", max_length=128)
    details: dict[str, Any] = Field(default_factory=dict)


class LogFilter(Contract):
    """Filters shared by query, export and (in the websocket subscribe message) the stream."""

    # One workspace (404 if the caller is no member, 403 without `logs.view`); None: every
    # workspace where the caller holds `logs.view`.
    workspace_id: UUID | None = None
    bot_id: UUID | None = None
    level: list[LogLevel] = Field(default_factory=list, max_length=5)
    # Event kinds and domains are letters, digits, - and _ (up to 64 characters).
    kind: list[Token] = Field(default_factory=list, max_length=50)
    domain: list[Token] = Field(default_factory=list, max_length=20)
    since: datetime | None = None
    until: datetime | None = None
    q: Text | None = Field(default=None, max_length=256)
    # One line (an event id): what the console links to from a command's result.
    event_id: UUID | None = None


class LogQuery(LogFilter):
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: Text | None = Field(default=None, max_length=200)


class LogEntry(Contract):
    id: UUID
    occurred_at: datetime
    workspace_id: UUID
    # The old name of `workspace_id` (the same value), for clients of before #17.
    owner_id: UUID
    bot_id: UUID | None
    domain: str
    kind: str
    level: LogLevel
    message: str
    # The whole event as published (after redaction).
    payload: dict[str, Any]


class LogPage(Contract):
    items: list[LogEntry]
    # Pass back as `cursor` for the next (older) page; None on the last page.
    next_cursor: str | None = None


class ExportQuery(LogFilter):
    """One chunk of an NDJSON export; the gateway asks for chunks until `next_cursor` is None."""

    cursor: Text | None = Field(default=None, max_length=200)
    chunk: int = Field(default=2000, ge=1, le=10_000)


class ExportChunk(Contract):
    """Metadata of an export chunk; the NDJSON lines are the raw reply body."""

    count: int
    next_cursor: str | None = None


class SummaryQuery(Contract):
    """Counts over a window: of one bot, or (no `bot_id`) of all the caller's events."""

    # None: every event of the caller (all their bots, and account events), the same set
    # `GET /v1/logs` lists without a bot filter.
    bot_id: UUID | None = None
    # As in `LogFilter`: one workspace, or every one where the caller holds `logs.view`.
    workspace_id: UUID | None = None
    since: datetime | None = None  # default: `until` - 24 h
    until: datetime | None = None  # default: now
    # Width of the time buckets for charts; 0 = no series, totals only.
    bucket_s: int = Field(default=3600, ge=0, le=7 * 24 * 3600)


class SummaryCount(Contract):
    kind: str
    level: LogLevel
    count: int


class SummaryBucket(Contract):
    start: datetime
    counts: list[SummaryCount]


class EventsSummary(Contract):
    bot_id: UUID | None = None  # None: all the caller's events
    since: datetime
    until: datetime
    total: int
    counts: list[SummaryCount]
    series: list[SummaryBucket] = Field(default_factory=list)


class StreamClose(IntEnum):
    """Close codes of the live stream (`GET /v1/stream`), a contract the console reads
    (`web/src/api/stream.ts` mirrors them; a test checks). The reason text says what to do."""

    GOING_AWAY = 1001  # the server is shutting down: reconnect (with `last_event_id`)
    ORIGIN_REFUSED = 1008  # the page's Origin is not allowed (refused before the handshake)
    INTERNAL = 1011  # missed events could not be replayed: reconnect with `last_event_id`
    # Too slow, the server is full or starting, credentials cannot be checked right now, too
    # many missed events: reconnect later with `last_event_id` (and back off).
    TRY_AGAIN = 1013
    # Credentials refused, or the session / personal token was signed out or revoked
    # (logout, refresh-token reuse, sign-out everywhere): sign in again; do not retry as is.
    UNAUTHORIZED = 4401
    # The caller's access to a workspace this stream showed was removed or lowered (#17), or
    # the stream asked for a workspace the caller is not a member of: reconnect to see what
    # they may still see; do not retry the same workspace.
    ACCESS_CHANGED = 4403
    # The access token (or the one a ticket was issued to) expired: get a fresh token or
    # ticket and reconnect at once with `last_event_id`; nothing is lost.
    TOKEN_EXPIRED = 4419
    # This account already has `LOG_STREAM_MAX_PER_USER` streams open on this server:
    # close one (another tab?) and retry later.
    TOO_MANY_STREAMS = 4429


class StreamTicketRequest(Contract):
    """What the gateway knows about the credential that asks for a ticket: a stream opened
    with the ticket belongs to it, and closes when it is signed out, revoked or expires
    (exactly as a stream opened with the access token itself would)."""

    # The session (`sid` of the access token = refresh family) that asked; None for a
    # personal API token.
    session_id: UUID | None = None
    # The personal API token that asked (None for a session).
    token_id: UUID | None = None
    # When the gateway stops accepting that credential (access token `exp` plus the
    # verifiers' clock leeway, or the personal token's expiry); None: it does not expire.
    expires_at: datetime | None = None
    # The one workspace the stream shows (404 if the caller is no member, 403 without
    # `logs.view`; 4403 at open if that changed since); None: every workspace where the
    # caller holds `logs.view`.
    workspace_id: UUID | None = None


class StreamTicket(Contract):
    """A single-use ticket to open `GET /v1/stream` (sent as subprotocol `ticket.<value>`)."""

    ticket: str
    expires_at: datetime
    # Subprotocols to offer when opening the websocket.
    protocols: list[str]


class StreamSubscribe(Contract):
    """Websocket message from the client: set the filters (any time) and, on the first one,
    resume after `last_event_id`. Empty lists mean "all"."""

    type: Literal["subscribe"] = "subscribe"
    bot_ids: list[UUID] = Field(default_factory=list, max_length=1000)
    kinds: list[str] = Field(default_factory=list, max_length=100)
    levels: list[LogLevel] = Field(default_factory=list, max_length=5)
    domains: list[str] = Field(default_factory=list, max_length=20)
    last_event_id: UUID | None = None


class StreamEndpoint(Contract):
    """Where one log-service replica serves its websocket (used by the gateway's proxy)."""

    url: str
    instance: str


QUERY = gateway_rpc(
    "rpc.log.query",
    LogQuery,
    LogPage,
    "the caller's logs and events, newest first, with filters and substring search",
)
EXPORT_CHUNK = gateway_rpc(
    "rpc.log.export.chunk",
    ExportQuery,
    ExportChunk,
    "one chunk of an NDJSON export (raw reply body), newest first",
)
SUMMARY = gateway_rpc(
    "rpc.log.summary",
    SummaryQuery,
    EventsSummary,
    "counts per kind and level over a window (one bot or all), with time buckets",
)
STREAM_TICKET = gateway_rpc(
    "rpc.log.stream.ticket",
    StreamTicketRequest,
    StreamTicket,
    "a short-lived single-use ticket to open the live stream",
)
STREAM_ENDPOINT = gateway_rpc(
    "rpc.log.stream.endpoint",
    Empty,
    StreamEndpoint,
    "the websocket URL of one log-service replica (the gateway proxies to it)",
)

SPECS: list[Spec] = [
    *declared_specs(globals()),
    EventSpec(
        "evt.log.*.*.*",
        LogRecorded,
        frozenset({"bot", "command", "log"}),
        summary="a bot's log line; the last token is its level",
    ),
    KvSpec(
        "log_stream_tickets",
        frozenset({"log"}),
        summary="single-use stream tickets (hashed), expiring after a few seconds",
    ),
]
