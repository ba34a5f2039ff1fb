"""Ingestion: the durable JetStream pull consumer on `evt.>` -> PostgreSQL, in batches.

Every replica binds to the same durable consumer, so they share the work. A batch is
inserted in one statement and acknowledged only after the transaction committed; a crash
before the ack makes JetStream redeliver, and the primary key drops the duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from log_service import metrics
from log_service.ingest.store import Partitions, store_batch
from log_service.service import BadEvent, Record, parse_record
from log_service.settings import Settings
from services.bus import natsfast
from services.bus.events import STREAM, durable_pull
from services.bus.jetstream import JetStream, Msg, NatsClient
from services.db.engine import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    nc: NatsClient,
    js: JetStream,
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

    async def store(rows: list[Record]) -> object:
        return await store_batch(db, partitions, rows)

    lane = natsfast.pull_batches(
        nc, js, stream=STREAM, durable=settings.ingest_durable, batch=settings.ingest_batch,
        linger_s=settings.ingest_linger_s, recover=ensure_consumer,
    )  # fmt: skip
    await consume(lane, ensure_consumer, parse_batch, store, "events", stopping)


async def consume(
    lane: natsfast.Batches,
    ensure_consumer: Callable[[], Awaitable[object]],
    parse: Callable[[list[Msg]], Awaitable[list[T]]],
    store: Callable[[list[T]], Awaitable[object]],
    what: str,
    stopping: asyncio.Event,
) -> None:
    """Take batches from `lane`, parse each once and store it until that succeeds, then
    acknowledge it; the events lane and the audit lane (`ingest.audit`) both run this."""
    await ensure_consumer()
    await lane.start()
    try:
        while not stopping.is_set():
            msgs = await lane.take(stopping)
            if not msgs:
                continue
            items = await parse(msgs)
            while True:
                try:
                    await store(items)
                    break
                except Exception:
                    # Database down or a transient error: keep the batch unacknowledged.
                    log.exception("storing a batch of %d %s failed; retrying", len(items), what)
                    if stopping.is_set():
                        return
                    await asyncio.sleep(1.0)
            # Only now, after the commit: a crash before this line means a redelivery, and
            # the stores skip what they already hold (primary key, chained record ids).
            await natsfast.ack_all(lane.nc, msgs)
    finally:
        # Fetched but unacknowledged messages are redelivered (to another lane or replica).
        await lane.stop()
