"""Every SQL query of log-service."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from proto.logs import LogFilter
from services.db import rows_touched


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


# COPY cannot write a table with row-level security, so a batch is copied (binary) into a
# temporary staging table of this connection -- not WAL-logged, emptied at every commit --
# and moved with one INSERT ... SELECT; ON CONFLICT drops the ids already stored.
_CREATE_STAGE = """
create temp table if not exists events_stage (
    id uuid, occurred_at timestamptz, owner_id uuid, bot_id uuid, domain text, kind text,
    level text, message text, payload jsonb, seq bigint
) on commit delete rows
"""
_COLUMNS = ["id", "occurred_at", "owner_id", "bot_id", "domain", "kind", "level", "message",
            "payload", "seq"]  # fmt: skip
_MOVE = """
insert into events (id, occurred_at, owner_id, bot_id, domain, kind, level, message, payload, seq)
select id, occurred_at, owner_id, bot_id, domain, kind, level, message, payload, seq
from events_stage
on conflict (id, occurred_at) do nothing
"""
_staged: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()


async def copy_events(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY rows (`service.Record` tuples) in; returns how many were new."""
    if not rows:
        return 0
    pg = await _driver(session)
    if pg not in _staged:
        await pg.execute(_CREATE_STAGE)
        _staged.add(pg)
    # The session begins its transaction lazily (at its first statement of its own): the
    # copy and the move must share one, or the commit in between empties the stage.
    async with contextlib.AsyncExitStack() as stack:
        if not pg.is_in_transaction():
            await stack.enter_async_context(pg.transaction())
        try:
            await pg.copy_records_to_table("events_stage", records=rows, columns=_COLUMNS)
        except asyncpg.UndefinedTableError:
            _staged.discard(pg)  # the session was reset; created again on the retry
            raise
        status = await pg.execute(_MOVE)
    # "INSERT 0 <n>"
    return int(status.rsplit(" ", 1)[-1])


async def partition_days(session: AsyncSession) -> set[date]:
    result = await session.execute(text("select d from partition_days() as d"))
    return {r[0] for r in result}


async def ensure_partitions(session: AsyncSession, first: date, last: date) -> int:
    result = await session.execute(
        text("select ensure_partitions(:a, :b)"), {"a": first, "b": last}
    )
    return int(result.scalar_one())


async def drop_partitions_before(session: AsyncSession, before: date) -> int:
    result = await session.execute(text("select drop_partitions_before(:d)"), {"d": before})
    return int(result.scalar_one())


_SELECT_ENTRIES = (
    "select id, occurred_at, owner_id, bot_id, domain, kind, level, message, payload from events"
)
_SELECT_LINES = (
    "select json_build_object('id', id, 'occurred_at', occurred_at, 'owner_id', owner_id,"
    " 'bot_id', bot_id, 'domain', domain, 'kind', kind, 'level', level,"
    " 'message', message, 'payload', payload)::text, occurred_at, id from events"
)
_NEWEST_FIRST = " order by occurred_at desc, id desc limit :limit"


def _where(f: LogFilter, after: tuple[datetime, UUID] | None) -> tuple[str, dict[str, Any]]:
    # Row-level security already limits rows to the caller; these are the user's filters.
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if f.bot_id is not None:
        clauses.append("bot_id = :bot_id")
        params["bot_id"] = f.bot_id
    if f.level:
        clauses.append("level = any(:levels)")
        params["levels"] = list(f.level)
    if f.kind:
        clauses.append("kind = any(:kinds)")
        params["kinds"] = list(f.kind)
    if f.domain:
        clauses.append("domain = any(:domains)")
        params["domains"] = list(f.domain)
    if f.since is not None:
        clauses.append("occurred_at >= :since")
        params["since"] = f.since
    if f.until is not None:
        clauses.append("occurred_at < :until")
        params["until"] = f.until
    if f.q:
        clauses.append("tsv @@ websearch_to_tsquery('simple', :q)")
        params["q"] = f.q
    if after is not None:
        clauses.append("(occurred_at, id) < (:after_at, :after_id)")
        params["after_at"], params["after_id"] = after
    return (" where " + " and ".join(clauses)) if clauses else "", params


async def query(
    session: AsyncSession, f: LogFilter, after: tuple[datetime, UUID] | None, limit: int
) -> Sequence[Row[Any]]:
    where, params = _where(f, after)
    params["limit"] = limit
    result = await session.execute(
        # `where` holds only fixed fragments; every value is a bound parameter.
        text(_SELECT_ENTRIES + where + _NEWEST_FIRST),
        params,
    )
    return result.all()


async def export(
    session: AsyncSession, f: LogFilter, after: tuple[datetime, UUID] | None, limit: int
) -> list[tuple[str, datetime, UUID]]:
    """Each row already rendered as one JSON line by PostgreSQL."""
    where, params = _where(f, after)
    params["limit"] = limit
    result = await session.execute(
        text(_SELECT_LINES + where + _NEWEST_FIRST),
        params,
    )
    return [(r[0], r[1], r[2]) for r in result]


# Per bot, or (no bot) all of the owner's events; row-level security applies on top.
_SUMMARY_COUNTS = {
    "bot": "select kind, level, count(*) from events"
    " where bot_id = :key and occurred_at >= :since and occurred_at < :until"
    " group by kind, level order by count(*) desc, kind, level",
    "owner": "select kind, level, count(*) from events"
    " where owner_id = :key and occurred_at >= :since and occurred_at < :until"
    " group by kind, level order by count(*) desc, kind, level",
}
_SUMMARY_SERIES = {
    "bot": "select date_bin(make_interval(secs => :bucket), occurred_at, :since) as b,"
    " kind, level, count(*) from events"
    " where bot_id = :key and occurred_at >= :since and occurred_at < :until"
    " group by b, kind, level order by b, kind, level",
    "owner": "select date_bin(make_interval(secs => :bucket), occurred_at, :since) as b,"
    " kind, level, count(*) from events"
    " where owner_id = :key and occurred_at >= :since and occurred_at < :until"
    " group by b, kind, level order by b, kind, level",
}


async def summary_counts(
    session: AsyncSession, owner_id: UUID, bot_id: UUID | None, since: datetime, until: datetime
) -> list[tuple[str, str, int]]:
    """Counts per (kind, level) of one bot's events, or of all the owner's (no bot)."""
    scope = "owner" if bot_id is None else "bot"
    result = await session.execute(
        text(_SUMMARY_COUNTS[scope]),
        {"key": bot_id or owner_id, "since": since, "until": until},
    )
    return [(r[0], r[1], int(r[2])) for r in result]


async def summary_series(
    session: AsyncSession,
    owner_id: UUID,
    bot_id: UUID | None,
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[tuple[datetime, str, str, int]]:
    """The same counts per time bucket (`bucket_s` wide, aligned on `since`)."""
    scope = "owner" if bot_id is None else "bot"
    result = await session.execute(
        text(_SUMMARY_SERIES[scope]),
        {"key": bot_id or owner_id, "since": since, "until": until, "bucket": bucket_s},
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in result]


async def seq_of(session: AsyncSession, event_id: UUID, lo: datetime, hi: datetime) -> int | None:
    """The stream sequence of a stored event (the time bounds let PostgreSQL prune)."""
    result = await session.execute(
        text("select seq from events where id = :id and occurred_at >= :lo and occurred_at < :hi"),
        {"id": event_id, "lo": lo, "hi": hi},
    )
    value = result.scalar_one_or_none()
    return int(value) if value is not None else None


async def rows_after_seq(
    session: AsyncSession, owner_id: UUID, after_seq: int, before_seq: int, limit: int
) -> list[tuple[int, str, str, str | None, str, str]]:
    """(seq, payload, domain, bot_id, kind, level) of the owner's events in (after, before)."""
    result = await session.execute(
        text(
            "select seq, payload::text, domain, bot_id::text, kind, level from events"
            " where owner_id = :owner and seq > :after and seq < :before"
            " order by seq limit :limit"
        ),
        {"owner": owner_id, "after": after_seq, "before": before_seq, "limit": limit},
    )
    return [(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in result]


async def purge(session: AsyncSession, owner_id: UUID) -> int:
    result = await session.execute(
        text("delete from events where owner_id = :owner"), {"owner": owner_id}
    )
    return int(rows_touched(result) or 0)
