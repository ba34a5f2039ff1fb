"""The audit lane (#17): the durable pull consumer `log-audit` on the `AUDIT` stream (every
service's outbox publishes there) -> each workspace's hash chain in `log.audit_events`.

Like the events lane, a batch is acknowledged only after its transaction committed: a
crash in between redelivers it, and records already stored are skipped by id (under the
chain head's lock), so a record is chained exactly once.
"""

from __future__ import annotations

import asyncio
import logging

from log_service import metrics
from log_service import service as rules
from log_service.ingest.worker import consume
from log_service.settings import Settings
from proto.audit import AuditRecord
from services.bus import natsfast
from services.bus.events import AUDIT_STREAM, durable_pull
from services.bus.jetstream import JetStream, Msg, NatsClient
from services.db.engine import Database

log = logging.getLogger(__name__)


async def parse_audit_batch(msgs: list[Msg]) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for m in msgs:
        try:
            records.append(rules.parse_audit(m.subject, m.data))
        except rules.BadEvent as exc:
            # Nothing we could ever chain: acknowledged so it does not block the trail.
            metrics.REJECTED.labels("audit_malformed").inc()
            log.error("dropping an audit message that cannot be stored: %s", exc)
    return records


async def store_audit(db: Database, records: list[AuditRecord]) -> int:
    """Chain the records in one transaction; how many were new. A concurrent lane storing
    one of these ids first fails it (primary key): `consume` retries, and the retry skips
    what is stored by then."""
    if not records:
        return 0
    async with db.system_scope() as s:
        return await rules.append_audit(s, records)


async def run_audit_lane(
    nc: NatsClient, js: JetStream, db: Database, settings: Settings, stopping: asyncio.Event
) -> None:
    async def ensure_consumer() -> object:
        return await durable_pull(
            js,
            settings.audit_durable,
            filter_subject="aud.>",
            ack_wait_s=settings.ingest_ack_wait_s,
            stream=AUDIT_STREAM,
        )

    async def store(records: list[AuditRecord]) -> object:
        return await store_audit(db, records)

    lane = natsfast.pull_batches(
        nc, js, stream=AUDIT_STREAM, durable=settings.audit_durable, batch=settings.audit_batch,
        linger_s=settings.ingest_linger_s, recover=ensure_consumer,
    )  # fmt: skip
    await consume(lane, ensure_consumer, parse_audit_batch, store, "audit records", stopping)
