"""log-service's tables under teams (#17), on a database of their own: the move of
`log.events` into personal workspaces (a database with rows at the old head), membership
row-level security, and the audit store (the chain under concurrent writers, append-only
for every role, `botcenter audit verify` naming the first broken row)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as pg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

import log_service
from log_service import repository as repo
from log_service.audit_pruner import prune_pass
from log_service.ingest.audit import store_audit
from log_service.service import prune_audit
from proto.access import Access, Grant, permission_mask
from proto.audit import AUDIT_RETENTION_DAYS_MIN, AuditRecord
from proto.errors import ErrorCode
from proto.events import new_event_id
from proto.logs import LogFilter
from services.db.bootstrap import bootstrap
from services.db.engine import Database, plain_url
from services.db.migrate import upgrade
from services.devstack.cli import main as cli_main
from services.devstack.cli import verify_audit
from services.errors import RpcError
from services.settings import with_credentials

MIGRATIONS = Path(log_service.__file__).parent / "migrations"


@pytest.fixture
async def admin_url(infra: Any) -> AsyncIterator[str]:
    """An empty database of its own, bootstrapped for log-service (not migrated yet)."""
    base = infra.database_url
    name = f"bc_logws_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(plain_url(base))
    try:
        await admin.execute(f'create database "{name}"')
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        await bootstrap(url, ["log"], infra.role_password)
        yield url
    finally:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


@pytest.fixture
async def db(admin_url: str, infra: Any) -> AsyncIterator[Database]:
    await upgrade(admin_url, "log", MIGRATIONS)
    database = Database(
        with_credentials(admin_url, "bc_log", infra.role_password),
        system_url=with_credentials(admin_url, "bc_log_system", infra.role_password),
    )
    try:
        yield database
    finally:
        await database.dispose()


def member(ws: uuid.UUID, *perms: str, bots: list[uuid.UUID] | None = None) -> Access:
    grant = Grant(
        workspace_id=ws, role="viewer", permissions=permission_mask(perms), bot_ids=bots or []
    )
    return Access(user_id=uuid.uuid4(), grants=[grant])


async def test_events_at_the_old_head_move_into_their_owners_personal_workspaces(
    admin_url: str, infra: Any
) -> None:
    await upgrade(admin_url, "log", MIGRATIONS, "0003")
    alice, bob, bot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    rows = [
        (new_event_id(), alice, bot),
        (new_event_id(), alice, None),
        (new_event_id(), bob, None),
    ]
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        for i, (eid, owner, b) in enumerate(rows):
            await admin.execute(
                "insert into log.events (id, occurred_at, owner_id, bot_id, domain, kind, level,"
                " message, payload, seq) values ($1, $2, $3, $4, 'log', 'info', 'info', $5,"
                " '{}', $6)",
                eid, now - timedelta(minutes=i), owner, b, f"line {i}", i + 1,
            )  # fmt: skip
        await upgrade(admin_url, "log", MIGRATIONS)
        stored = await admin.fetch("select id, workspace_id from log.events order by seq")
    finally:
        await admin.close()
    # Same ids, each now in its owner's personal workspace (id = the user's id).
    assert [(r["id"], r["workspace_id"]) for r in stored] == [(e, o) for e, o, _ in rows]

    database = Database(with_credentials(admin_url, "bc_log", infra.role_password))
    try:
        async with database.user_scope(alice) as s:
            seen = (await s.execute(text("select id from events order by seq"))).scalars().all()
        assert seen == [rows[0][0], rows[1][0]]
        # A member of a team sees nothing of a personal workspace they are not in.
        async with database.access_scope(member(uuid.uuid4(), "logs.view")) as s:
            assert (await s.execute(text("select count(*) from events"))).scalar() == 0
        # A member limited to another bot of alice's workspace sees its events of no bot.
        limited = member(alice, "logs.view", bots=[uuid.uuid4()])
        async with database.access_scope(limited) as s:
            seen = (await s.execute(text("select id from events"))).scalars().all()
        assert seen == [rows[1][0]]
    finally:
        await database.dispose()


def record(ws: uuid.UUID, n: int, **fields: Any) -> AuditRecord:
    return AuditRecord(
        id=new_event_id(),
        at=datetime.now(UTC),
        actor_user_id=ws,
        workspace_id=ws,
        action="bot.start",
        target_type="bot",
        target_id=str(n),
        changes={"n": n, "name": {"old": "a", "new": f"b{n}"}},
        **fields,
    )


async def test_four_concurrent_writers_make_one_chain_without_gap_or_fork(
    db: Database, admin_url: str
) -> None:
    ws, other = uuid.uuid4(), uuid.uuid4()
    batches = [
        [record(ws, w * 100 + i) for i in range(25)] + [record(other, w * 100)] for w in range(4)
    ]

    async def writer(batch: list[AuditRecord]) -> int:
        added = 0
        for i in range(0, len(batch), 5):  # many small transactions, interleaving
            added += await store_audit(db, batch[i : i + 5])
        return added

    assert await asyncio.gather(*(writer(b) for b in batches)) == [26] * 4
    # A redelivered batch is skipped: the chain does not grow.
    assert await store_audit(db, batches[0][:5]) == 0

    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        seqs = await admin.fetch(
            "select seq, prev_hash, hash from log.audit_events where workspace_id = $1"
            " order by seq",
            ws,
        )
    finally:
        await admin.close()
    assert [r["seq"] for r in seqs] == list(range(1, 101))
    for before, after in itertools.pairwise(seqs):
        assert after["prev_hash"] == before["hash"]
    results = await verify_audit(admin_url, None)
    assert sorted(line.split()[1] for _, line in results) == sorted([str(ws), str(other)])
    assert all(ok for ok, _ in results), results
    assert f"OK {ws} 100 rows head {bytes(seqs[-1]['hash']).hex()}" in [r[1] for r in results]


async def test_no_role_may_update_delete_or_truncate_the_trail(
    db: Database, admin_url: str, infra: Any
) -> None:
    ws = uuid.uuid4()
    await store_audit(db, [record(ws, 1)])
    logins = [
        with_credentials(admin_url, login, infra.role_password)
        for login in ("bc_log", "bc_log_system")
    ]
    statements = [
        "update log.audit_events set target_id = 'x'",
        "delete from log.audit_events",
        "truncate log.audit_events",
    ]
    for url in logins:
        conn = await asyncpg.connect(plain_url(url))
        try:
            for statement in statements:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
        finally:
            await conn.close()
    # The table's owner (migrations) is refused by the trigger.
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        for statement in statements:
            async with admin.transaction():
                await admin.execute("set local role bc_owner")
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                    await admin.execute(statement)
        assert await admin.fetchval("select count(*) from log.audit_events") == 1
    finally:
        await admin.close()


async def test_audit_verify_names_the_first_row_a_superuser_edited(
    db: Database, admin_url: str, tmp_path: Path
) -> None:
    ws = uuid.uuid4()
    records = [record(ws, n) for n in range(1, 6)]
    await store_audit(db, records)
    assert [ok for ok, _ in await verify_audit(admin_url, ws)] == [True]

    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        # A superuser can get past the trigger; the chain still tells.
        async with admin.transaction():
            await admin.execute("set local session_replication_role = replica")
            await admin.execute(
                "update log.audit_events set target_id = 'forged' where workspace_id = $1"
                " and seq >= 3",
                ws,
            )
    finally:
        await admin.close()
    [(ok, line)] = await verify_audit(admin_url, ws)
    assert not ok
    assert line.startswith(f"BROKEN {ws} at seq 3 id {records[2].id}: ")
    assert "edited" in line


async def test_retention_prunes_a_prefix_and_verify_starts_again_from_its_checkpoint(
    db: Database, admin_url: str, infra: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    ws, other = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    old = [record(ws, n).model_copy(update={"at": now - timedelta(days=60 - n)}) for n in range(3)]
    recent = [record(ws, n) for n in range(3, 5)]
    await store_audit(db, [*old, *recent, record(other, 9)])

    async with db.system_scope() as s:
        with pytest.raises(ValueError, match="at least 30 days"):
            await prune_audit(s, ws, AUDIT_RETENTION_DAYS_MIN - 1, now)
        # The database refuses it too, whoever calls.
        with pytest.raises(DBAPIError, match="last 30 days are kept"):
            async with s.begin_nested():
                await repo.prune_audit(s, ws, now - timedelta(days=10))
        assert await prune_audit(s, ws, 40, now) == 3
    async with db.system_scope() as s:
        assert await prune_audit(s, ws, 40, now) == 0  # nothing older is left
    # The user role may not prune.
    conn = await asyncpg.connect(
        plain_url(with_credentials(admin_url, "bc_log", infra.role_password))
    )
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("select log.audit_prune($1, now() - interval '90 days')", ws)
    finally:
        await conn.close()

    lines = [line for _, line in await verify_audit(admin_url, ws)]
    assert lines[0].startswith(f"OK {ws} 2 rows head ")
    # The command says the same, and exits 1 on a broken chain.
    monkeypatch.setenv("DATABASE_URL", admin_url)
    assert await asyncio.to_thread(cli_main, ["audit", "verify", "--all"]) == 0
    assert f"OK {other} 1 rows" in capsys.readouterr().out
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        async with admin.transaction():
            await admin.execute("set local session_replication_role = replica")
            await admin.execute("delete from log.audit_events where workspace_id = $1", ws)
    finally:
        await admin.close()
    assert await asyncio.to_thread(cli_main, ["audit", "verify", "--workspace", str(ws)]) == 1
    assert "the head does not name the last row" in capsys.readouterr().out


async def test_a_pruning_pass_applies_each_workspaces_retention(
    db: Database, admin_url: str
) -> None:
    # `team` keeps 40 days (its own retention, from auth-service); `deleted` is unknown to
    # auth-service and keeps the default; `young` has nothing old enough to look at.
    team, deleted, young = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)

    def aged(ws: uuid.UUID, *ages: int) -> list[AuditRecord]:
        return [
            record(ws, age).model_copy(update={"at": now - timedelta(days=age)}) for age in ages
        ]

    await store_audit(db, [*aged(team, 300, 50, 41, 39, 2), *aged(deleted, 500, 100, 50)])
    await store_audit(db, aged(young, 20, 1))
    asked: list[list[uuid.UUID]] = []

    async def retentions(ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        asked.append(ids)
        return {team: 40}

    removed = await prune_pass(db, retentions, 90, now)
    assert removed == {team: 3, deleted: 2}
    assert asked == [sorted([team, deleted])]
    # Again: nothing more is old enough.
    assert await prune_pass(db, retentions, 90, now) == {team: 0, deleted: 0}
    lines = {line.split()[1]: (ok, line) for ok, line in await verify_audit(admin_url, None)}
    assert all(ok for ok, _ in lines.values()), lines
    assert lines[str(team)][1].startswith(f"OK {team} 2 rows ")
    assert lines[str(deleted)][1].startswith(f"OK {deleted} 1 rows ")
    assert lines[str(young)][1].startswith(f"OK {young} 2 rows ")

    # auth-service not answering: the pass fails and prunes nothing.
    async def down(ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        raise RpcError(ErrorCode.UNAVAILABLE, "the auth service is not available")

    with pytest.raises(RpcError):
        await prune_pass(db, down, 30, now + timedelta(days=365))
    assert [ok for ok, _ in await verify_audit(admin_url, team)] == [True]
    assert lines[str(team)][1] == (await verify_audit(admin_url, team))[0][1]


async def test_a_page_of_events_in_the_callers_workspaces_reads_the_time_index(
    db: Database, admin_url: str
) -> None:
    # 100k events of 20 workspaces over three daily partitions; a member of 3 of them asks
    # for the newest page under row-level security (`workspace_id = any(app_ws())`): each
    # workspace's rows come from the top of the (workspace_id, occurred_at desc, id desc)
    # index, a page reads a page's worth of rows per workspace, not all of them.
    workspaces = [uuid.uuid4() for _ in range(20)]
    today = datetime.now(UTC).date()
    async with db.system_scope() as s:
        await repo.ensure_partitions(s, today - timedelta(days=3), today)
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        await admin.execute(
            "insert into log.events (id, occurred_at, workspace_id, bot_id, domain, kind, level,"
            " message, payload, seq) select gen_random_uuid(), now() - i * interval '2 seconds',"
            " ($1::uuid[])[1 + i % 20], case when i % 2 = 0 then $2::uuid end, 'log', 'info',"
            " 'info', 'line ' || i, '{}', i from generate_series(1, 100000) i",
            workspaces,
            uuid.uuid4(),
        )
        await admin.execute("analyze log.events")
        mine = workspaces[:3]
        newest = await admin.fetch(
            "select id from log.events where workspace_id = any($1::uuid[])"
            " order by occurred_at desc, id desc limit 50",
            mine,
        )
    finally:
        await admin.close()
    grants = [
        Grant(workspace_id=ws, role="viewer", permissions=permission_mask(["logs.view"]))
        for ws in mine
    ]
    access = Access(user_id=uuid.uuid4(), grants=grants)

    for asked in (mine, mine[:1]):
        compiled = repo.page_statement(LogFilter(), asked, None, 50).compile(dialect=pg_dialect())
        params = [compiled.params[k] for k in compiled.positiontup or []]
        async with db.access_scope(access) as s:
            conn = (await (await s.connection()).get_raw_connection()).driver_connection
            assert conn is not None
            plan = await conn.fetchval("explain (analyze, format json) " + compiled.string, *params)
        # SQLAlchemy's asyncpg dialect decodes json itself.
        tree = orjson.loads(plan) if isinstance(plan, str) else plan
        scans = list(_scans(tree[0]["Plan"]))
        assert scans, plan
        assert {node["Node Type"] for node in scans} == {"Index Scan"}, plan
        assert all(node["Index Name"].endswith("_occurred_at_id_idx") for node in scans), plan
        read = sum(node["Actual Rows"] * node["Actual Loops"] for node in scans)
        assert read <= 50 * len(asked), plan
    async with db.access_scope(access) as s:
        page = await repo.query(s, LogFilter(), mine, None, 50)
    assert [r.id for r in page] == [r["id"] for r in newest]


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The plan's scans of `log.events` partitions."""
    if node.get("Relation Name", "").startswith("events_p"):
        yield node
    for child in node.get("Plans", []):
        yield from _scans(child)
