"""Ingestion: the durable JetStream pull consumer on `evt.>` -> PostgreSQL, in batches.

Every replica binds to the same durable consumer, so they share the work. A batch is
inserted in one statement and acknowledged only after the transaction committed; a crash
before the ack makes JetStream redeliver, and the primary key drops the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
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


class Lane:
    """One pull request at a time on the durable consumer, into a private inbox.

    Messages go from nats-py's read loop straight into a list (`natsfast.subscribe` on its
    fast path): no task, queue hop or timer per message (nats-py's `fetch` makes all
    three). A batch is cut when it is full, or `linger_s` after its first message, so a
    quiet stream is still stored at once. Without the fast path, `FetchLane` does the same
    with nats-py's `fetch`.
    """

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        settings: Settings,
        recover: Callable[[], Awaitable[object]],
    ) -> None:
        self.nc = nc
        self.recover = recover
        prefix = natsfast.api_prefix(js)
        self.next_subject = f"{prefix}.CONSUMER.MSG.NEXT.{STREAM}.{settings.ingest_durable}"
        self.batch = settings.ingest_batch
        self.expires_s = 5.0
        self.linger_s = settings.ingest_linger_s
        self.inbox = nc.new_inbox()
        self.msgs: list[Msg] = []
        self.remaining = 0  # messages the outstanding pull request may still deliver
        self.requested_at = 0.0
        self.trouble: str | None = None  # why the last request ended, when not routine
        self.wake = asyncio.Event()
        self.delivery: natsfast.Delivery | None = None

    async def start(self) -> None:
        self.delivery = await natsfast.subscribe(self.nc, self.inbox, self._on_msg)

    async def stop(self) -> None:
        if self.delivery is not None:
            with contextlib.suppress(Exception):
                await self.delivery.unsubscribe()

    def _on_msg(self, msg: Msg) -> bool:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self.msgs.append(msg)
            self.remaining -= 1
            if self.remaining <= 0 or len(self.msgs) >= self.batch or len(self.msgs) == 1:
                self.wake.set()  # done, full, or the linger clock starts
            return True
        if status != "100":
            # 404 no messages, 408 request expired: routine; 409 (consumer deleted, too many
            # waiting requests...) and others: this request is over, and something is wrong.
            if status not in ("404", "408"):
                described = str(headers.get("Description", "")).split("\n")[0]
                self.trouble = f"{status} {described}".strip()
            self.remaining = 0
            self.wake.set()
        return True

    async def _request(self) -> None:
        want = self.batch - len(self.msgs)
        self.remaining = want
        self.requested_at = time.monotonic()
        body = b'{"batch":%d,"expires":%d}' % (want, int(self.expires_s * 1e9))
        await self.nc.publish(self.next_subject, body, reply=self.inbox)

    async def take(self, stopping: asyncio.Event) -> list[Msg]:
        """The next batch (empty when stopping)."""
        first_at: float | None = None
        while not stopping.is_set():
            if len(self.msgs) >= self.batch:
                break
            if self.trouble is not None:
                log.warning("pull request refused (%s); retrying in 1 s", self.trouble)
                self.trouble = None
                if self.msgs:
                    break  # store what arrived first
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)
                with contextlib.suppress(Exception):
                    await self.recover()  # e.g. the consumer was deleted: make it again
                continue
            now = time.monotonic()
            if self.remaining <= 0 or now - self.requested_at > self.expires_s + 2.0:
                # No request outstanding (or its answer was lost with a reconnect): ask again.
                await self._request()
            if self.msgs:
                if first_at is None:
                    first_at = now
                wait = first_at + self.linger_s - now
                if wait <= 0:
                    break
            else:
                wait = 1.0
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
        batch, self.msgs = self.msgs, []
        return batch


class FetchLane:
    """`Lane` on nats-py's public API: a pull subscription bound to the durable consumer,
    batches from `fetch` (which returns what is there at once, else waits up to a second
    for the first message)."""

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        settings: Settings,
        recover: Callable[[], Awaitable[object]],
    ) -> None:
        self.nc = nc
        self.js = js
        self.durable = settings.ingest_durable
        self.recover = recover
        self.batch = settings.ingest_batch
        self.psub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        self.psub = await self.js.pull_subscribe_bind(durable=self.durable, stream=STREAM)

    async def stop(self) -> None:
        if self.psub is not None:
            with contextlib.suppress(Exception):
                await self.psub.unsubscribe()

    async def take(self, stopping: asyncio.Event) -> list[Msg]:
        """The next batch (empty when stopping)."""
        assert self.psub is not None
        while not stopping.is_set():
            try:
                return await self.psub.fetch(self.batch, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                continue
            except Exception as exc:
                # e.g. the consumer was deleted: make it again.
                log.warning("pull request refused (%s); retrying in 1 s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)
                with contextlib.suppress(Exception):
                    await self.recover()
        return []


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
    lane: Lane | FetchLane
    if natsfast.fast_path():
        lane = Lane(nc, js, settings, ensure_consumer)
    else:
        lane = FetchLane(nc, js, settings, ensure_consumer)
    await lane.start()
    try:
        await _consume(lane, db, partitions, stopping)
    finally:
        # Fetched but unacknowledged events are redelivered (to another lane or replica).
        await lane.stop()


async def _consume(
    lane: Lane | FetchLane, db: Database, partitions: Partitions, stopping: asyncio.Event
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
