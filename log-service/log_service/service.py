"""log-service rules: turning stream messages into rows, cursors, windows, queries.

No FastAPI or NATS here: the ingest loop, the RPC handlers and the websocket hub call in.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from log_service import repository as repo
from proto.access import Access
from proto.audit import AUDIT_RETENTION_DAYS_MIN, AuditPage, AuditQuery, AuditRecord
from proto.errors import ErrorCode, FieldError
from proto.logs import (
    LEVELS,
    EventsSummary,
    ExportQuery,
    LogEntry,
    LogFilter,
    LogPage,
    LogQuery,
    SummaryBucket,
    SummaryCount,
    SummaryQuery,
)
from services import audit
from services.access import require_member
from services.errors import RpcError
from services.telemetry import redaction
from services.telemetry.redaction import REDACTED, redact

MAX_MESSAGE = 8192
# Events claiming to happen further in the future than this are filed at the time
# JetStream stored them (a deterministic value, so a redelivery files them identically).
MAX_FUTURE = timedelta(hours=1)
MAX_SUMMARY_BUCKETS = 2000
_SECRET_KEYS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization")


class BadEvent(ValueError):
    """A message on `evt.>` that cannot be stored (not JSON, no id, owner mismatch...)."""


@dataclass(slots=True)
class EventRow:
    id: UUID
    occurred_at: datetime
    workspace_id: UUID
    bot_id: UUID | None
    domain: str
    kind: str
    level: str
    message: str
    payload: str  # JSON text, redacted
    seq: int


@dataclass(frozen=True, slots=True)
class SubjectParts:
    domain: str
    workspace_id: str
    bot_id: str | None
    kind: str


def split_subject(subject: str) -> SubjectParts:
    """`evt.<domain>.<workspace_id>.<bot_id|->.<kind>`."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[0] != "evt":
        raise BadEvent(f"unexpected subject {subject!r}")
    return SubjectParts(parts[1], parts[2], None if parts[3] == "-" else parts[3], parts[4])


def _clean(text: str) -> str:
    # PostgreSQL text and jsonb refuse NUL characters.
    return text.replace("\x00", "") if "\x00" in text else text


# A cheap screen that matches whenever the kernel's `redact` could change a text: each of
# its patterns needs one of these words (case-insensitive) or, for Discord bot tokens, a
# `.xxxxxx.` segment. Texts that pass it are clean and skip the (much slower) redaction.
_SCREEN_WORDS = (
    "eyj",
    "bcp_",
    "bcr_",
    "bearer ",
    "bot ",
    "basic ",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
)
_SCREEN_DOTTED = re.compile(r"\.[A-Za-z\d_-]{6,7}\.")


def may_need_redaction(text: str) -> bool:
    if redaction.any_registered():
        return True  # exact secrets registered in this process: always run the real thing
    if "\\u" in text:
        return True  # a JSON escape could spell a word below; decode and check value by value
    lowered = text.lower()
    for word in _SCREEN_WORDS:  # (a loop of `in` beats one regex alternation by far)
        if word in lowered:
            return True
    return _SCREEN_DOTTED.search(text) is not None


def redact_value(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        lowered = key.lower()
        if any(lowered.endswith(k) for k in _SECRET_KEYS) and value:
            return REDACTED
        return redact(_clean(value))
    if isinstance(value, dict):
        return {str(k): redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


# One row as COPY takes it: (id, occurred_at, workspace_id, bot_id, domain, kind, level, message,
# payload, seq); the ids are canonical UUID strings (PostgreSQL's uuid codec parses them).
Record = tuple[str, datetime, str, str | None, str, str, str, str, str, int]
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_subject_ids: dict[str, str] = {}


def _canonical_id(value: str) -> str:
    """The canonical text of a UUID (raises ValueError): a cheap check for the usual form."""
    if len(value) == 36 and _CANONICAL_UUID.fullmatch(value):
        return value
    return str(UUID(value))


def _subject_id(token: str) -> str:
    """Owner and bot ids from subjects repeat: validated once, remembered (bounded)."""
    found = _subject_ids.get(token)
    if found is None:
        found = _canonical_id(token)
        if len(_subject_ids) >= 100_000:
            _subject_ids.clear()
        _subject_ids[token] = found
    return found


def parse_record(subject: str, data: bytes, seq: int, stored_at: datetime) -> Record:
    """One stream message -> one row, with the kernel's redaction as a second defence."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[0] != "evt":
        raise BadEvent(f"unexpected subject {subject!r}")
    _, domain, workspace_part, bot_part, kind = parts
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadEvent("event body is not JSON") from exc
    if not isinstance(body, dict):
        raise BadEvent("event body is not an object")
    try:
        event_id = _canonical_id(str(body["id"]))
        workspace_id = _subject_id(workspace_part)
        bot_id = None if bot_part == "-" else _subject_id(bot_part)
        occurred_at = datetime.fromisoformat(str(body["occurred_at"]))
    except (KeyError, ValueError) as exc:
        raise BadEvent(f"event lacks a valid id, workspace or time: {exc}") from exc
    # Events published before #17 name the workspace `owner_id` (its old name).
    if str(body.get("workspace_id", body.get("owner_id"))) != workspace_id:
        raise BadEvent("workspace in the subject and in the body differ")
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    if occurred_at > stored_at + MAX_FUTURE:
        occurred_at = stored_at
    level = body.get("level")
    if level not in LEVELS:
        level = kind if domain == "log" and kind in LEVELS else "info"
    message = body.get("message")
    message = message if isinstance(message, str) else ""
    text = data.decode("utf-8", errors="replace")
    if may_need_redaction(text) or "\\u0000" in text:
        # Something may look secret (or cannot be stored): clean value by value.
        message = redact(_clean(message))
        body = redact_value(body)
        payload = orjson.dumps(body).decode().replace("\\u0000", "")
    else:
        payload = text
    return (
        event_id,
        occurred_at,
        workspace_id,
        bot_id,
        domain,
        kind,
        str(level),
        message[:MAX_MESSAGE],
        payload,
        seq,
    )


def parse_event(subject: str, data: bytes, seq: int, stored_at: datetime) -> EventRow:
    """`parse_record` with typed fields."""
    r = parse_record(subject, data, seq, stored_at)
    return EventRow(
        id=UUID(r[0]),
        occurred_at=r[1],
        workspace_id=UUID(r[2]),
        bot_id=UUID(r[3]) if r[3] else None,
        domain=r[4],
        kind=r[5],
        level=r[6],
        message=r[7],
        payload=r[8],
        seq=r[9],
    )


def _to_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _from_cursor(cursor: str) -> str:
    """The text of a cursor (ValueError, UnicodeDecodeError or binascii.Error if it is
    none)."""
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


def encode_cursor(occurred_at: datetime, event_id: UUID) -> str:
    return _to_cursor(f"{occurred_at.isoformat()}|{event_id}")


def _bad_cursor() -> RpcError:
    return RpcError(
        ErrorCode.INVALID,
        "the cursor is not valid; start again without it",
        fields=[FieldError(loc=["cursor"], message="not a cursor returned by this API")],
    )


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, eid = _from_cursor(cursor).split("|", 1)
        when = datetime.fromisoformat(at)
        return (when if when.tzinfo else when.replace(tzinfo=UTC)), UUID(eid)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise _bad_cursor() from None


def _check_window(f: LogFilter | AuditQuery) -> None:
    if f.since and f.until and f.since >= f.until:
        raise RpcError(
            ErrorCode.VALIDATION,
            "`since` must be before `until`",
            fields=[FieldError(loc=["since"], message="must be before until")],
        )


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    loaded = orjson.loads(value)
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def viewable(access: Access, workspace_id: UUID | None) -> list[UUID]:
    """The workspaces whose events the caller may read: the one asked for (NOT_FOUND when
    they are no member, FORBIDDEN without `logs.view` there), else every one where they
    hold `logs.view`."""
    if workspace_id is None:
        return access.permitted("logs.view")
    require_member(access, "logs.view", workspace_id)
    return [workspace_id]


async def query(session: AsyncSession, access: Access, q: LogQuery) -> LogPage:
    _check_window(q)
    workspaces = viewable(access, q.workspace_id)
    after = decode_cursor(q.cursor) if q.cursor else None
    rows = await repo.query(session, q, workspaces, after, q.limit + 1)
    items = [
        LogEntry.from_row(r, owner_id=r.workspace_id, payload=_payload(r.payload))
        for r in rows[: q.limit]
    ]
    next_cursor = None
    if len(rows) > q.limit:
        last = items[-1]
        next_cursor = encode_cursor(last.occurred_at, last.id)
    return LogPage(items=items, next_cursor=next_cursor)


async def export_chunk(
    session: AsyncSession, access: Access, q: ExportQuery
) -> tuple[bytes, int, str | None]:
    """NDJSON lines of one chunk (newest first) and the cursor of the next one."""
    _check_window(q)
    workspaces = viewable(access, q.workspace_id)
    after = decode_cursor(q.cursor) if q.cursor else None
    rows = await repo.export(session, q, workspaces, after, q.chunk + 1)
    page = rows[: q.chunk]
    body = b"".join(line.encode() + b"\n" for line, _, _ in page)
    next_cursor = None
    if len(rows) > q.chunk and page:
        _, at, eid = page[-1]
        next_cursor = encode_cursor(at, eid)
    return body, len(page), next_cursor


async def summary(
    session: AsyncSession, access: Access, q: SummaryQuery, now: datetime
) -> EventsSummary:
    """Counts of one bot's events, or (no `bot_id`) of all the caller's viewable ones."""
    workspaces = viewable(access, q.workspace_id)
    until = q.until or now
    since = q.since or until - timedelta(hours=24)
    if since >= until:
        raise RpcError(
            ErrorCode.VALIDATION,
            "`since` must be before `until`",
            fields=[FieldError(loc=["since"], message="must be before until")],
        )
    if q.bucket_s and (until - since).total_seconds() / q.bucket_s > MAX_SUMMARY_BUCKETS:
        raise RpcError(
            ErrorCode.VALIDATION,
            f"too many buckets: at most {MAX_SUMMARY_BUCKETS} per window",
            fields=[FieldError(loc=["bucket_s"], message="use a wider bucket or a shorter window")],
        )
    series: list[SummaryBucket] = []
    if q.bucket_s:
        # The totals are summed from the buckets, not counted again: a second query would
        # see events stored in between, and the two would disagree.
        per_kind: dict[tuple[str, str], int] = {}
        current: SummaryBucket | None = None
        for start, kind, level, n in await repo.summary_series(
            session, workspaces, q.bot_id, since, until, q.bucket_s
        ):
            if current is None or current.start != start:
                current = SummaryBucket(start=start, counts=[])
                series.append(current)
            current.counts.append(SummaryCount(kind=kind, level=level, count=n))
            per_kind[kind, level] = per_kind.get((kind, level), 0) + n
        totals = sorted(
            ((k, lv, n) for (k, lv), n in per_kind.items()), key=lambda t: (-t[2], t[0], t[1])
        )
    else:
        totals = await repo.summary_counts(session, workspaces, q.bot_id, since, until)
    counts = [SummaryCount(kind=k, level=lv, count=n) for k, lv, n in totals]
    return EventsSummary(
        bot_id=q.bot_id,
        since=since,
        until=until,
        total=sum(c.count for c in counts),
        counts=counts,
        series=series,
    )


async def seq_of(session: AsyncSession, event_id: UUID, lo: datetime, hi: datetime) -> int | None:
    """The stream sequence of a stored event that occurred in [lo, hi) (a resume's start)."""
    return await repo.seq_of(session, event_id, lo, hi)


async def rows_after_seq(
    session: AsyncSession,
    workspaces: list[UUID],
    after_seq: int,
    before_seq: int,
    limit: int,
) -> list[tuple[int, str, str, str | None, str, str]]:
    """The workspaces' stored events between two stream sequences (what a resume replays
    from the table once JetStream no longer has them)."""
    return await repo.rows_after_seq(session, workspaces, after_seq, before_seq, limit)


async def purge(session: AsyncSession, workspace_id: UUID) -> int:
    """Delete every event of a workspace (a user's erasure purges their personal one); how
    many rows went. Idempotent: a second call removes nothing."""
    return await repo.purge(session, workspace_id)


# --- the audit trail (#17, docs/design/teams.md §6.2) --------------------------------------


def parse_audit(subject: str, data: bytes) -> AuditRecord:
    """One `aud.<workspace_id>.<service>` message -> its record (BadEvent if it cannot be
    stored: not a record, or filed under another workspace than it names)."""
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != "aud":
        raise BadEvent(f"unexpected audit subject {subject!r}")
    try:
        record = AuditRecord.model_validate_json(data)
    except ValueError as exc:
        raise BadEvent(f"not an audit record: {str(exc)[:200]}") from None
    if str(record.workspace_id) != parts[1]:
        raise BadEvent("workspace in the subject and in the record differ")
    return record


async def append_audit(session: AsyncSession, records: list[AuditRecord]) -> int:
    """Chain the records onto their workspaces' trails in this transaction; how many were
    new (a redelivered record, already stored, is skipped).

    Workspaces are locked in sorted order, so two batches sharing workspaces cannot
    deadlock; within a workspace the records keep the order they came in."""
    by_workspace: dict[UUID, list[AuditRecord]] = {}
    for record in records:
        by_workspace.setdefault(record.workspace_id, []).append(record)
    added = 0
    for workspace_id in sorted(by_workspace):
        seq, prev = await repo.lock_audit_head(session, workspace_id, audit.GENESIS)
        # Checked under the head's lock: a record another lane stored is committed by now.
        batch = by_workspace[workspace_id]
        stored = await repo.stored_audit_ids(session, [r.id for r in batch])
        rows: list[dict[str, Any]] = []
        for record in batch:
            if record.id in stored:
                continue
            stored.add(record.id)
            seq += 1
            link = audit.chain_hash(prev, record, seq)
            rows.append({**record.model_dump(), "seq": seq, "prev_hash": prev, "hash": link})
            prev = link
        if rows:
            await repo.insert_audit(session, rows)
            await repo.set_audit_head(session, workspace_id, seq, prev)
            added += len(rows)
    return added


def _seq_cursor(seq: int) -> str:
    return _to_cursor(str(seq))


def _cursor_seq(cursor: str) -> int:
    try:
        seq = int(_from_cursor(cursor))
        if seq < 1:
            raise ValueError(seq)
        return seq
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise _bad_cursor() from None


async def audit_list(session: AsyncSession, access: Access, q: AuditQuery) -> AuditPage:
    """One page of a workspace's trail, newest first: NOT_FOUND for a workspace the caller
    is no member of, FORBIDDEN without `audit.view`."""
    require_member(access, "audit.view", q.workspace_id)
    _check_window(q)
    before = _cursor_seq(q.cursor) if q.cursor else None
    rows = await repo.audit_page(session, q, before, q.limit + 1)
    items = [AuditRecord.from_row(r) for r in rows[: q.limit]]
    next_cursor = _seq_cursor(rows[q.limit - 1].seq) if len(rows) > q.limit else None
    head = await repo.audit_head_seq(session, q.workspace_id)
    return AuditPage(items=items, next_cursor=next_cursor, head_seq=head)


async def audit_prune_candidates(session: AsyncSession, now: datetime) -> list[UUID]:
    """The workspaces that may have records past their retention: those with records older
    than the shortest retention allowed."""
    return await repo.audit_workspaces_before(
        session, now - timedelta(days=AUDIT_RETENTION_DAYS_MIN)
    )


async def prune_audit(
    session: AsyncSession, workspace_id: UUID, retention_days: int, now: datetime
) -> int:
    """Apply a workspace's audit retention (at least `AUDIT_RETENTION_DAYS_MIN` days, which
    the database function enforces again); how many records went."""
    if retention_days < AUDIT_RETENTION_DAYS_MIN:
        raise ValueError(f"audit retention is at least {AUDIT_RETENTION_DAYS_MIN} days")
    return await repo.prune_audit(session, workspace_id, now - timedelta(days=retention_days))
