"""Storing ingested rows: daily partitions (made ahead, dropped past retention) and batches.

The service layer of ingestion (no NATS here): the worker hands it parsed rows.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta

from log_service import metrics
from log_service import repository as repo
from log_service.service import Record
from log_service.settings import Settings
from services.db.engine import Database
from services.tasks import run_every

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


async def run_maintenance(
    partitions: Partitions, interval_s: float, stopping: asyncio.Event
) -> None:
    await run_every(interval_s, stopping, "partition maintenance", partitions.maintain)
