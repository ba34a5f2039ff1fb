"""Ingestion: the durable JetStream pull consumer on `evt.>` -> PostgreSQL, in batches.

Every replica binds to the same durable consumer, so they share the work. A batch is
inserted in one statement and acknowledged only after the transaction committed; a crash
before the ack makes JetStream redeliver, and the primary key drops the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime, timedelta

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from log_service import metrics
from log_service import repository as repo
from log_service.service import BadEvent, EventRow, parse_event
from log_service.settings import Settings
from services.bus.events import durable_pull
from services.db.engine import Database

log = logging.getLogger(__name__)


def utc_today() -> date:
    return datetime.now(UTC).date()


class Partitions:
    """Which daily partitions exist; creates missing ones through the definer function."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.days: set[date] = set()
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self.db.system_scope() as s:
            self.days = await repo.partition_days(s)
        metrics.PARTITIONS.set(len(self.days))

    def oldest_kept(self) -> date:
        return utc_today() - timedelta(days=self.settings.retention_days)

    async def ensure(self, days: set[date]) -> None:
        missing = days - self.days
        if not missing:
            return
        async with self._lock:
            missing = days - self.days
            if missing:
                async with self.db.system_scope() as s:
                    await repo.ensure_partitions(s, min(missing), max(missing))
                await self.refresh()

    async def maintain(self) -> tuple[int, int]:
        """Create the coming days' partitions, drop those past retention."""
        today = utc_today()
        async with self._lock, self.db.system_scope() as s:
            made = await repo.ensure_partitions(
                s,
                today - timedelta(days=1),
                today + timedelta(days=self.settings.partitions_ahead_days),
            )
            dropped = await repo.drop_partitions_before(s, self.oldest_kept())
        await self.refresh()
        if made or dropped:
            log.info(
                "partitions maintained",
                extra={"partitions_created": made, "partitions_dropped": dropped},
            )
        return made, dropped


async def store_batch(db: Database, partitions: Partitions, rows: list[EventRow]) -> int:
    """Insert rows (skipping those past retention); returns how many were new."""
    oldest = partitions.oldest_kept()
    keep = [r for r in rows if r.occurred_at.astimezone(UTC).date() >= oldest]
    if len(keep) != len(rows):
        metrics.REJECTED.labels("expired").inc(len(rows) - len(keep))
    if not keep:
        return 0
    await partitions.ensure({r.occurred_at.astimezone(UTC).date() for r in keep})
    async with db.system_scope() as s:
        added = await repo.insert_events(s, keep)
    metrics.INGESTED.inc(added)
    metrics.DUPLICATES.inc(len(keep) - added)
    return added


async def run_worker(
    js: JetStreamContext,
    db: Database,
    partitions: Partitions,
    settings: Settings,
    stopping: asyncio.Event,
) -> None:
    sub = await durable_pull(
        js,
        settings.ingest_durable,
        ack_wait_s=settings.ingest_ack_wait_s,
        max_ack_pending=settings.ingest_max_ack_pending,
    )
    try:
        await _consume(sub, db, partitions, settings, stopping)
    finally:
        # Nothing left subscribed: the connection's drain at shutdown has nothing to wait for;
        # fetched but unacknowledged events are redelivered to another replica.
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _consume(
    sub: JetStreamContext.PullSubscription,
    db: Database,
    partitions: Partitions,
    settings: Settings,
    stopping: asyncio.Event,
) -> None:
    while not stopping.is_set():
        try:
            msgs = await sub.fetch(settings.ingest_batch, timeout=1.0)
        except (NatsTimeoutError, TimeoutError):
            continue
        rows: list[EventRow] = []
        for i, m in enumerate(msgs):
            if i % 100 == 99:
                # Parsing a batch is CPU work: let the live stream's deliveries in between.
                await asyncio.sleep(0)
            md = m.metadata
            try:
                rows.append(parse_event(m.subject, m.data, md.sequence.stream, md.timestamp))
            except BadEvent as exc:
                # Nothing we could ever store: acknowledge it so it does not block the stream.
                metrics.REJECTED.labels("malformed").inc()
                log.warning("dropping an event that cannot be stored: %s", exc)
        while True:
            try:
                await store_batch(db, partitions, rows)
                break
            except Exception:
                # Database down or a transient error: keep the batch unacknowledged, retry.
                log.exception("storing a batch of %d events failed; retrying", len(rows))
                if stopping.is_set():
                    return
                await asyncio.sleep(1.0)
        for i, m in enumerate(msgs):
            await m.ack()
            if i % 200 == 199:
                await asyncio.sleep(0)


async def run_maintenance(
    partitions: Partitions, interval_s: float, stopping: asyncio.Event
) -> None:
    while not stopping.is_set():
        try:
            await partitions.maintain()
        except Exception:
            log.exception("partition maintenance failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)
