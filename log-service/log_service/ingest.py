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

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from log_service import metrics
from log_service import repository as repo
from log_service.service import BadEvent, Record, parse_record
from log_service.settings import Settings
from services.bus import natsfast
from services.bus.events import STREAM, durable_pull
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


async def store_batch(db: Database, partitions: Partitions, rows: list[Record]) -> int:
    """Insert rows (skipping those past retention); returns how many were new."""
    oldest = partitions.oldest_kept()
    days = {r[1].astimezone(UTC).date() for r in rows}
    if min(days, default=oldest) < oldest:
        keep = [r for r in rows if r[1].astimezone(UTC).date() >= oldest]
        metrics.REJECTED.labels("expired").inc(len(rows) - len(keep))
        rows = keep
        days = {d for d in days if d >= oldest}
    if not rows:
        return 0
    await partitions.ensure(days)
    async with db.system_scope() as s:
        added = await repo.copy_events(s, rows)
    metrics.INGESTED.inc(added)
    metrics.DUPLICATES.inc(len(rows) - added)
    return added


def _seq_and_time(reply: str) -> tuple[int, datetime]:
    """Stream sequence and stored time from a delivery's reply subject (what `msg.metadata`
    parses, without building its objects): `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.
    <cseq>.<ts>.<pending>`, or with a domain and account hash first (11 or 12 tokens)."""
    t = reply.split(".")
    i = 5 if len(t) == 9 else 7
    return int(t[i]), datetime.fromtimestamp(int(t[i + 2]) / 1e9, UTC)


async def parse_batch(msgs: list[Msg]) -> list[Record]:
    rows: list[Record] = []
    for i, m in enumerate(msgs):
        if i % 256 == 255:
            # Parsing a batch is CPU work: let the live stream's deliveries in between.
            await asyncio.sleep(0)
        try:
            seq, stored_at = _seq_and_time(m.reply)
            rows.append(parse_record(m.subject, m.data, seq, stored_at))
        except (BadEvent, ValueError, IndexError) as exc:
            # Nothing we could ever store: acknowledge it so it does not block the stream.
            metrics.REJECTED.labels("malformed").inc()
            log.warning("dropping an event that cannot be stored: %s", exc)
    return rows


async def run_worker(
    nc: NATS,
    js: JetStreamContext,
    db: Database,
    partitions: Partitions,
    settings: Settings,
    stopping: asyncio.Event,
) -> None:
    async def ensure_consumer() -> object:
        # The durable consumer shared by every replica and lane (made if missing).
        return await durable_pull(
            js,
            settings.ingest_durable,
            ack_wait_s=settings.ingest_ack_wait_s,
            max_ack_pending=settings.ingest_max_ack_pending,
        )

    await ensure_consumer()
    lane = natsfast.pull_batches(
        nc,
        js,
        stream=STREAM,
        durable=settings.ingest_durable,
        batch=settings.ingest_batch,
        linger_s=settings.ingest_linger_s,
        recover=ensure_consumer,
    )
    await lane.start()
    try:
        await _consume(lane, db, partitions, stopping)
    finally:
        # Fetched but unacknowledged events are redelivered (to another lane or replica).
        await lane.stop()


async def _consume(
    lane: natsfast.Batches, db: Database, partitions: Partitions, stopping: asyncio.Event
) -> None:
    while not stopping.is_set():
        msgs = await lane.take(stopping)
        if not msgs:
            continue
        rows = await parse_batch(msgs)
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
        # Only now, after the commit: a crash before this line means a redelivery, and the
        # primary key turns the redelivered rows into no-ops.
        await natsfast.ack_all(lane.nc, msgs)


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
