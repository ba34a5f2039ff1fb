"""The transactional outbox (#17): messages that must not be lost (audit records, access
changes) are written in the transaction of the change and published after it commits.

A service layer calls `Outbox.add(session, subject, contract, stream=...)` inside the
change's transaction: the row commits or rolls back with the change, so a rolled-back
change publishes nothing and a committed one is published even if the process dies right
after. `OutboxRelay` (started by the runtime for services that declare an outbox) takes
rows as the system role with `for update skip locked` (replicas share the table, a row is
in one relay's hands at a time), publishes each to JetStream with `Nats-Msg-Id` = the
row's id, and deletes the acknowledged rows. A relay that dies between publish and delete
leaves its rows to the next one; the stream's duplicate window drops the second publish.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import KW_ONLY, dataclass
from typing import Any, Final
from uuid import UUID

from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from proto import headers as H
from proto.audit import AuditRecord
from proto.base import Contract
from proto.events import new_event_id
from services.audit import audit_subject, written_var
from services.bus.events import AUDIT_STREAM
from services.bus.types import JetStream
from services.db.bootstrap import role, system_role
from services.db.engine import Database
from services.db.rls import system_may
from services.telemetry.tracing import inject_headers

log = logging.getLogger(__name__)

TABLE: Final = "outbox"
# Rows taken per transaction; bounded so a backlog is published in commits of this size.
BATCH: Final = 500
POLL_S: Final = 1.0


def outbox_model(metadata: MetaData, *, schema: str | None = None) -> Table:
    """The outbox table on a service's MetaData, as `outbox_table` creates it (so the
    schema test compares it like the service's own tables)."""
    return Table(
        TABLE,
        metadata,
        # UUIDv7: ordering by id is ordering by creation.
        Column("id", PgUUID(as_uuid=True), primary_key=True),
        Column("stream", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )


def outbox_table(schema: str) -> list[str]:
    """Migration SQL: `<schema>.outbox`, RLS forced. The service's user role may only insert
    (a request cannot read or drop another's pending messages); its system role, the
    relay's, may only read, lock and delete.

    `select ... for update` needs the UPDATE privilege on a column and passes the UPDATE
    policies' USING: the system role gets both, with a `with check (false)` that refuses
    any actual update."""
    table = f"{schema}.{TABLE}"
    user, system = role(schema), system_role(schema)
    return [
        f"create table {table} ("
        "id uuid primary key, "
        "stream text not null, "
        "subject text not null, "
        "payload bytea not null, "
        "headers jsonb not null default '{}'::jsonb, "
        "created_at timestamptz not null default now())",
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        # bootstrap's default privileges grant every role all DML; take back what neither
        # needs, so a missing policy is not the only guard.
        f"revoke select, update, delete, truncate on {table} from {user}",
        f"revoke insert, update, truncate on {table} from {system}",
        f"grant update (created_at) on {table} to {system}",
        f"create policy {TABLE}_user_insert on {table} for insert to {user} with check (true)",
        *system_may(table, system, "select", "delete", prefix=TABLE),
        f"create policy {TABLE}_system_lock on {table} for update to {system} "
        "using (true) with check (false)",
    ]


class Outbox:
    """A service's outbox table: `add` from the service layer, inside the change's
    transaction; `wake` is set after that transaction commits, so the relay publishes at
    once instead of at its next poll."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.table = outbox_model(MetaData(), schema=schema)
        self.wake = asyncio.Event()

    async def add(
        self,
        session: AsyncSession,
        subject: str,
        payload: Contract,
        *,
        stream: str,
        headers: dict[str, str] | None = None,
        row_id: UUID | None = None,
    ) -> UUID:
        """Queue `payload` for `subject` on `stream` in the session's transaction; the id
        of the row (its `Nats-Msg-Id`, the audit record's id for the `bc-audit` reply).

        `row_id` is the payload's own id when it has one (an audit record's), so the
        message, its de-duplication and the stored record share one id; a UUIDv7 made just
        before keeps the relay's order."""
        row_id = row_id or new_event_id()
        hdrs = dict(headers) if headers else {}
        inject_headers(hdrs)
        await session.execute(
            insert(self.table).values(
                id=row_id,
                stream=stream,
                subject=subject,
                payload=payload.__pydantic_serializer__.to_json(payload),
                headers=hdrs,
            )
        )
        self._wake_after_commit(session)
        if stream == AUDIT_STREAM:
            # Named in the served request's `bc-audit` reply header (services.audit).
            written_var.set((*written_var.get(), row_id))
        return row_id

    async def add_audit(self, session: AsyncSession, service: str, record: AuditRecord) -> UUID:
        """Queue an audit record of `service` in the session's transaction: published on
        `aud.<workspace>.<service>` (stream AUDIT) once the change commits, never if it
        rolls back. The row's id is the record's (the `bc-audit` reply value)."""
        return await self.add(
            session,
            audit_subject(record.workspace_id, service),
            record,
            stream=AUDIT_STREAM,
            row_id=record.id,
        )

    def _wake_after_commit(self, session: AsyncSession) -> None:
        sync = session.sync_session
        key = ("outbox_wake", id(self))
        if sync.info.get(key):
            return
        sync.info[key] = True

        # SQLAlchemy's session events are synchronous and run on the event loop's thread
        # (inside the greenlet of the awaited commit), where setting an asyncio.Event is
        # safe. Nothing is set on rollback: there is nothing to publish.
        def committed(sess: Any) -> None:
            sess.info.pop(key, None)
            self.wake.set()

        def rolled_back(sess: Any, _previous: Any = None) -> None:
            sess.info.pop(key, None)

        event.listen(sync, "after_commit", committed, once=True)
        event.listen(sync, "after_soft_rollback", rolled_back, once=True)


@dataclass(eq=False)
class OutboxRelay:
    """Publishes an outbox's rows to JetStream and deletes them once acknowledged."""

    db: Database
    js: JetStream
    outbox: Outbox
    _: KW_ONLY
    batch: int = BATCH
    poll_s: float = POLL_S
    publish_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        t = self.outbox.table
        self._take = (
            select(t.c.id, t.c.stream, t.c.subject, t.c.payload, t.c.headers)
            .order_by(t.c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )

    async def relay_once(self) -> int:
        """Publish one batch of rows no other relay holds; how many were published and
        deleted. A publish that fails (NATS away, the stream full) ends the batch: the rows
        before it are deleted, the error is raised, the rest wait for the next pass."""
        failure: Exception | None = None
        async with self.db.system_scope() as session:
            rows = (await session.execute(self._take)).all()
            published: list[UUID] = []
            for row in rows:
                try:
                    await self._publish(row.id, row.stream, row.subject, row.payload, row.headers)
                except Exception as exc:
                    failure = exc
                    break
                published.append(row.id)
            if published:
                await self._delete(session, published)
        if failure is not None:
            raise failure
        return len(published)

    async def _publish(
        self, row_id: UUID, stream: str, subject: str, payload: bytes, headers: dict[str, str]
    ) -> None:
        hdrs = dict(headers)
        hdrs[H.MSG_ID] = str(row_id)
        await self.js.publish(
            subject, payload, timeout=self.publish_timeout_s, stream=stream, headers=hdrs
        )

    async def _delete(self, session: AsyncSession, ids: list[UUID]) -> None:
        t = self.outbox.table
        await session.execute(delete(t).where(t.c.id.in_(ids)))

    async def drain(self) -> int:
        """Relay until no free row is left; how many were published."""
        total = 0
        while True:
            n = await self.relay_once()
            total += n
            if n < self.batch:
                return total

    async def run(self) -> None:
        """Forever: drain, then wait for a commit's wake-up or `poll_s` (rows of other
        replicas, or left by a relay that died, are found by the poll)."""
        wake = self.outbox.wake
        while True:
            wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "outbox relay of %s failed; retrying", self.outbox.schema, exc_info=True
                )
            try:
                async with asyncio.timeout(self.poll_s):
                    await wake.wait()
            except TimeoutError:
                pass
