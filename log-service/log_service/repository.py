"""Every SQL query of log-service.

Queries are SQLAlchemy expressions over `models.events`. Ingestion's COPY is the one
exception: it needs the asyncpg connection itself (SQLAlchemy has no COPY), see below.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import (
    ColumnElement,
    Date,
    Row,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from log_service.models import audit_events, audit_heads, events
from proto.audit import AuditQuery
from proto.logs import LogFilter
from services.db import rows_touched

e = events.c


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


# The ingest hot path: binary COPY moves a batch several times faster than an INSERT of
# its rows, and only the asyncpg connection under the session can COPY.
# COPY cannot write a table with row-level security, so a batch is copied (binary) into a
# temporary staging table of this connection -- not WAL-logged, emptied at every commit --
# and moved with one INSERT ... SELECT; ON CONFLICT drops the ids already stored.
_CREATE_STAGE = """
create temp table if not exists events_stage (
    id uuid, occurred_at timestamptz, workspace_id uuid, bot_id uuid, domain text, kind text,
    level text, message text, payload jsonb, seq bigint
) on commit delete rows
"""
_COLUMNS = ["id", "occurred_at", "workspace_id", "bot_id", "domain", "kind", "level", "message",
            "payload", "seq"]  # fmt: skip
_MOVE = """
insert into events
    (id, occurred_at, workspace_id, bot_id, domain, kind, level, message, payload, seq)
select id, occurred_at, workspace_id, bot_id, domain, kind, level, message, payload, seq
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
    result = await session.execute(select(func.partition_days(type_=Date)))
    return {r[0] for r in result}


async def ensure_partitions(session: AsyncSession, first: date, last: date) -> int:
    result = await session.execute(select(func.ensure_partitions(first, last)))
    return int(result.scalar_one())


async def drop_partitions_before(session: AsyncSession, before: date) -> int:
    result = await session.execute(select(func.drop_partitions_before(before)))
    return int(result.scalar_one())


def _any(column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
    # One array parameter (`= any($n)`), not one parameter per value as `in_` would:
    # the statement stays the same whatever the number of values.
    return column == any_(bindparam(None, list(values), type_=ARRAY(Text)))


def like_escape(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_workspaces(workspaces: Sequence[UUID]) -> ColumnElement[bool]:
    return e.workspace_id == any_(bindparam(None, list(workspaces), type_=ARRAY(PgUUID)))


def _filters(f: LogFilter, after: tuple[datetime, UUID] | None) -> list[ColumnElement[bool]]:
    # The user's filters (the workspaces are matched by `_newest_first`).
    clauses: list[ColumnElement[bool]] = []
    if f.bot_id is not None:
        clauses.append(e.bot_id == f.bot_id)
    if f.level:
        clauses.append(_any(e.level, f.level))
    if f.kind:
        clauses.append(_any(e.kind, f.kind))
    if f.domain:
        clauses.append(_any(e.domain, f.domain))
    if f.since is not None:
        clauses.append(e.occurred_at >= f.since)
    if f.until is not None:
        clauses.append(e.occurred_at < f.until)
    if f.event_id is not None:
        # A UUIDv7 says when it was made: the time bounds let PostgreSQL prune.
        made = datetime.fromtimestamp(int.from_bytes(f.event_id.bytes[:6], "big") / 1000, UTC)
        clauses.append(e.id == f.event_id)
        clauses.append(e.occurred_at >= made - timedelta(days=1))
        clauses.append(e.occurred_at < made + timedelta(days=1))
    if f.q:
        # Substring, case-insensitive. No index can serve it under row-level security
        # (ILIKE is not leakproof, see migration 0003): the other filters bound the scan.
        clauses.append(e.message.ilike(f"%{like_escape(f.q)}%", escape="\\"))
    if after is not None:
        clauses.append(tuple_(e.occurred_at, e.id) < tuple_(*after))
    return clauses


def _newest_first(
    columns: Sequence[ColumnElement[Any]],
    f: LogFilter,
    workspaces: Sequence[UUID],
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> Select[Any]:
    """The newest `limit` events of the workspaces that pass the filters: per workspace,
    the top of its `(workspace_id, occurred_at desc, id desc)` index (at most `limit` rows
    each, a lateral join), then merged. With `workspace_id = any(…)` instead, rows of
    several workspaces interleave in that index, so PostgreSQL read and sorted every row
    of them (100k events: 115 ms against under 1 ms; the plan is checked in
    tests/integration/logs/test_logs_workspaces_db.py). Row-level security still limits
    the rows to the caller's workspaces and bots; `workspaces` are those where they may
    view logs."""
    w = (
        func.unnest(bindparam(None, list(dict.fromkeys(workspaces)), type_=ARRAY(PgUUID)))
        .table_valued(column("id", PgUUID))
        .render_derived(name="w")
    )
    page = (
        select(*columns)
        .where(e.workspace_id == w.c.id, *_filters(f, after))
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(limit)
        .lateral("page")
    )
    return (
        select(page)
        .select_from(w)
        .join(page, true())
        .order_by(page.c.occurred_at.desc(), page.c.id.desc())
        .limit(limit)
    )


def page_statement(
    f: LogFilter, workspaces: Sequence[UUID], after: tuple[datetime, UUID] | None, limit: int
) -> Select[Any]:
    """The statement of one page of `query` (its plan is checked in the tests)."""
    columns = (e.id, e.occurred_at, e.workspace_id, e.bot_id, e.domain, e.kind, e.level, e.message)
    return _newest_first((*columns, e.payload), f, workspaces, after, limit)


async def query(
    session: AsyncSession,
    f: LogFilter,
    workspaces: Sequence[UUID],
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> Sequence[Row[Any]]:
    result = await session.execute(page_statement(f, workspaces, after, limit))
    rows: Sequence[Row[Any]] = result.all()
    return rows


# `owner_id` is the old name of `workspace_id`, kept in the lines for readers of before #17.
_LINE_KEYS = (("id", "id"), ("occurred_at", "occurred_at"), ("workspace_id", "workspace_id"),
              ("owner_id", "workspace_id"), ("bot_id", "bot_id"), ("domain", "domain"),
              ("kind", "kind"), ("level", "level"), ("message", "message"),
              ("payload", "payload"))  # fmt: skip
_line_args: list[ColumnElement[Any]] = []
for _key, _column in _LINE_KEYS:
    _line_args += [literal_column(f"'{_key}'"), e[_column]]
_LINE = cast(func.json_build_object(*_line_args), Text)


async def export(
    session: AsyncSession,
    f: LogFilter,
    workspaces: Sequence[UUID],
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[tuple[str, datetime, UUID]]:
    """Each row already rendered as one JSON line by PostgreSQL."""
    result = await session.execute(
        _newest_first((_LINE.label("line"), e.occurred_at, e.id), f, workspaces, after, limit)
    )
    return [(r[0], r[1], r[2]) for r in result]


def _window(
    workspaces: Sequence[UUID], bot_id: UUID | None, since: datetime, until: datetime
) -> Any:
    """One bot's events, or (no bot) all of the workspaces'; row-level security applies on
    top."""
    scope = _in_workspaces(workspaces)
    if bot_id is not None:
        scope = and_(scope, e.bot_id == bot_id)
    return and_(scope, e.occurred_at >= since, e.occurred_at < until)


async def summary_counts(
    session: AsyncSession,
    workspaces: Sequence[UUID],
    bot_id: UUID | None,
    since: datetime,
    until: datetime,
) -> list[tuple[str, str, int]]:
    """Counts per (kind, level) of one bot's events, or of all the workspaces' (no bot)."""
    n = func.count()
    result = await session.execute(
        select(e.kind, e.level, n)
        .where(_window(workspaces, bot_id, since, until))
        .group_by(e.kind, e.level)
        .order_by(n.desc(), e.kind, e.level)
    )
    return [(r[0], r[1], int(r[2])) for r in result]


async def summary_series(
    session: AsyncSession,
    workspaces: Sequence[UUID],
    bot_id: UUID | None,
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[tuple[datetime, str, str, int]]:
    """The same counts per time bucket (`bucket_s` wide, aligned on `since`)."""
    bucket = func.make_interval(0, 0, 0, 0, 0, 0, bucket_s)
    start = func.date_bin(bucket, e.occurred_at, since).label("b")
    # Grouped and ordered by the label: repeating the expression would repeat its
    # parameters, which PostgreSQL cannot tell are equal.
    b: ColumnElement[Any] = literal_column("b")
    result = await session.execute(
        select(start, e.kind, e.level, func.count())
        .where(_window(workspaces, bot_id, since, until))
        .group_by(b, e.kind, e.level)
        .order_by(b, e.kind, e.level)
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in result]


async def seq_of(session: AsyncSession, event_id: UUID, lo: datetime, hi: datetime) -> int | None:
    """The stream sequence of a stored event (the time bounds let PostgreSQL prune)."""
    result = await session.execute(
        select(e.seq).where(e.id == event_id, e.occurred_at >= lo, e.occurred_at < hi)
    )
    value = result.scalar_one_or_none()
    return int(value) if value is not None else None


async def rows_after_seq(
    session: AsyncSession,
    workspaces: Sequence[UUID],
    after_seq: int,
    before_seq: int,
    limit: int,
) -> list[tuple[int, str, str, str | None, str, str]]:
    """(seq, payload, domain, bot_id, kind, level) of the workspaces' events in (after,
    before)."""
    result = await session.execute(
        select(e.seq, cast(e.payload, Text), e.domain, cast(e.bot_id, Text), e.kind, e.level)
        .where(_in_workspaces(workspaces), e.seq > after_seq, e.seq < before_seq)
        .order_by(e.seq)
        .limit(limit)
    )
    return [(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in result]


async def purge(session: AsyncSession, workspace_id: UUID) -> int:
    result = await session.execute(delete(events).where(e.workspace_id == workspace_id))
    return int(rows_touched(result) or 0)


# --- the audit trail (#17) ---------------------------------------------------------------

a = audit_events.c
h = audit_heads.c


async def lock_audit_head(
    session: AsyncSession, workspace_id: UUID, genesis: bytes
) -> tuple[int, bytes]:
    """(seq, hash) of the workspace's chain head, locked until the transaction ends: the
    replicas' lanes append to one workspace one at a time (made at `genesis` if new)."""
    await session.execute(
        pg_insert(audit_heads)
        .values(workspace_id=workspace_id, seq=0, hash=genesis)
        .on_conflict_do_nothing(index_elements=[h.workspace_id])
    )
    row = (
        await session.execute(
            select(h.seq, h.hash).where(h.workspace_id == workspace_id).with_for_update()
        )
    ).one()
    return int(row[0]), bytes(row[1])


async def stored_audit_ids(session: AsyncSession, ids: Sequence[UUID]) -> set[UUID]:
    """Which of these record ids are stored already (a redelivery)."""
    result = await session.execute(
        select(a.id).where(a.id == any_(bindparam(None, list(ids), type_=ARRAY(PgUUID))))
    )
    return {r[0] for r in result}


async def insert_audit(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await session.execute(insert(audit_events), list(rows))


async def set_audit_head(session: AsyncSession, workspace_id: UUID, seq: int, hash_: bytes) -> None:
    await session.execute(
        update(audit_heads).where(h.workspace_id == workspace_id).values(seq=seq, hash=hash_)
    )


async def audit_page(
    session: AsyncSession, q: AuditQuery, before_seq: int | None, limit: int
) -> Sequence[Row[Any]]:
    """One workspace's records, newest first (chain order), filtered."""
    clauses: list[ColumnElement[bool]] = [a.workspace_id == q.workspace_id]
    if q.actor is not None:
        clauses.append(a.actor_user_id == q.actor)
    if q.action is not None:
        clauses.append(a.action == q.action)
    if q.target_type is not None:
        clauses.append(a.target_type == q.target_type)
    if q.target_id is not None:
        clauses.append(a.target_id == q.target_id)
    if q.since is not None:
        clauses.append(a.at >= q.since)
    if q.until is not None:
        clauses.append(a.at < q.until)
    if q.until_seq is not None:
        clauses.append(a.seq <= q.until_seq)
    if before_seq is not None:
        clauses.append(a.seq < before_seq)
    result = await session.execute(
        select(audit_events).where(*clauses).order_by(a.seq.desc()).limit(limit)
    )
    rows: Sequence[Row[Any]] = result.all()
    return rows


async def audit_head_seq(session: AsyncSession, workspace_id: UUID) -> int | None:
    """The newest `seq` of the workspace's records the caller can read."""
    result = await session.execute(select(func.max(a.seq)).where(a.workspace_id == workspace_id))
    value = result.scalar_one_or_none()
    return int(value) if value is not None else None


async def audit_workspaces_before(session: AsyncSession, before: datetime) -> list[UUID]:
    """The workspaces that have audit records older than `before` (system scope)."""
    stmt = (
        select(audit_events.c.workspace_id)
        .where(audit_events.c.at < before)
        .distinct()
        .order_by(audit_events.c.workspace_id)
    )
    return list((await session.execute(stmt)).scalars())


async def prune_audit(session: AsyncSession, workspace_id: UUID, before: datetime) -> int:
    """Delete the workspace's records older than `before` (a prefix of its chain) through
    the owner's definer function, which records where the chain starts again; how many."""
    result = await session.execute(select(func.audit_prune(workspace_id, before)))
    return int(result.scalar_one())
