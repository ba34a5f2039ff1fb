"""The audit trail's retention (#17, docs/design/teams.md §6.2): a pass prunes, in each
workspace with records older than the shortest retention allowed, the records older than
that workspace's retention, through the owner's `audit_prune` function (which keeps the
chain verifiable from a checkpoint).

A workspace's retention is its `audit_retention_days` in auth-service, asked once per pass
(`rpc.auth.audit.retention`); a workspace auth-service no longer has (deleted) keeps its
records for `LOG_AUDIT_RETENTION_DAYS`. When auth-service does not answer, the pass prunes
nothing: a record is never dropped earlier than its workspace asked for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from log_service import service
from log_service.settings import Settings
from proto.workspaces import AUDIT_RETENTION_QUERY_MAX
from services.db import Database
from services.tasks import run_every

log = logging.getLogger(__name__)

# Days each of these workspaces keeps its records (absent: auth-service does not know it).
Retentions = Callable[[list[UUID]], Awaitable[dict[UUID, int]]]


async def prune_pass(
    db: Database, retentions: Retentions, default_days: int, now: datetime | None = None
) -> dict[UUID, int]:
    """One pass: how many records went, per workspace that had records old enough to look at."""
    now = now or datetime.now(UTC)
    async with db.system_scope() as s:
        candidates = await service.audit_prune_candidates(s, now)
    removed: dict[UUID, int] = {}
    for start in range(0, len(candidates), AUDIT_RETENTION_QUERY_MAX):
        chunk = candidates[start : start + AUDIT_RETENTION_QUERY_MAX]
        days = await retentions(chunk)
        for workspace_id in chunk:
            # One transaction per workspace: its chain is locked only while it is pruned.
            async with db.system_scope() as s:
                removed[workspace_id] = await service.prune_audit(
                    s, workspace_id, days.get(workspace_id, default_days), now
                )
    return removed


async def run_audit_pruner(
    db: Database, retentions: Retentions, settings: Settings, stopping: asyncio.Event
) -> None:
    async def one_pass() -> None:
        removed = await prune_pass(db, retentions, settings.audit_retention_days)
        if any(removed.values()):
            log.info(
                "audit retention: %d records pruned in %d workspaces",
                sum(removed.values()),
                sum(1 for n in removed.values() if n),
            )

    await run_every(settings.audit_prune_interval_s, stopping, "audit retention pass", one_pass)
