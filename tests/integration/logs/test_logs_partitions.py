"""Daily partitions: created ahead and dropped past retention by the definer functions; the
service roles reach rows only through the parent table (row-level security), never a
partition, and cannot create or drop tables themselves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from proto.logs import QUERY, LogQuery
from services.db.engine import plain_url
from services.settings import with_credentials
from tests.fixtures.infra import apoll
from tests.fixtures.logs import log_line


def _as(infra, user: str) -> str:
    return plain_url(with_credentials(infra.database_url, user, infra.role_password))


async def partition_days(conn: asyncpg.Connection) -> set:
    return {r[0] for r in await conn.fetch("select d from log.partition_days() as d")}


async def test_partitions_are_kept_for_the_retention_and_not_reachable_directly(
    infra, start_service, publisher, rpc
) -> None:
    today = datetime.now(UTC).date()
    old = today - timedelta(days=40)
    system = await asyncpg.connect(_as(infra, "bc_log_system"))
    user = await asyncpg.connect(_as(infra, "bc_log"))
    try:
        # The system role may only ask the definer function; it cannot create tables.
        await system.fetchval("select log.ensure_partitions($1, $1)", old)
        assert old in await partition_days(system)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await system.execute("create table log.mine (x int)")
        with pytest.raises(asyncpg.PostgresError):
            # At most about two months per call.
            await system.fetchval(
                "select log.ensure_partitions($1, $2)", old - timedelta(days=30), today
            )
        # Partitions are not reachable by name, even for the system role.
        part = f"log.events_p{today:%Y%m%d}"
        for conn in (system, user):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(f"select count(*) from {part}")
        # The request-serving role cannot drop history at all.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await user.fetchval("select log.drop_partitions_before(current_date)")
    finally:
        await system.close()
        await user.close()

    # The service's maintenance at start drops what is past retention, creates what comes.
    start_service("log", LOG_RETENTION_DAYS="7", LOG_PARTITIONS_AHEAD_DAYS="4")
    system = await asyncpg.connect(_as(infra, "bc_log_system"))
    try:
        days = await partition_days(system)
    finally:
        await system.close()
    assert old not in days
    assert {today + timedelta(days=i) for i in range(5)} <= days
    assert min(days) >= today - timedelta(days=7)

    # An event older than the retention is not stored; a fresh one is.
    owner = uuid.uuid4()
    stale = log_line(owner, None, "from long ago")
    stale.occurred_at = datetime.now(UTC) - timedelta(days=30)
    fresh = log_line(owner, None, "today")
    await publisher.publish("log", "info", stale)
    await publisher.publish("log", "info", fresh)

    async def stored() -> list:
        return (await rpc.call(QUERY, LogQuery(), user_id=owner)).items

    items = await apoll(stored, timeout_s=20, what="the fresh event")
    assert [i.message for i in items] == ["today"]
