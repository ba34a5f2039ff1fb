"""Row-level security through the kernel's scopes, as a real service role."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import text

from services.db.bootstrap import bootstrap, role
from services.db.engine import Database, plain_url
from services.settings import with_credentials

SCHEMA = "rlstest"


@pytest.fixture(scope="module")
async def rls_db(infra):
    """A schema set up exactly like a service's: owned by bc_owner, RLS enabled and forced."""
    await bootstrap(infra.database_url, [SCHEMA], infra.role_password)
    admin = await asyncpg.connect(plain_url(infra.database_url))
    await admin.execute(
        f"""
        set role bc_owner;
        create table if not exists {SCHEMA}.notes (
            id uuid primary key default gen_random_uuid(),
            owner_id uuid not null,
            body text not null
        );
        alter table {SCHEMA}.notes enable row level security;
        alter table {SCHEMA}.notes force row level security;
        drop policy if exists owner_only on {SCHEMA}.notes;
        create policy owner_only on {SCHEMA}.notes
            using (owner_id = nullif(current_setting('app.user_id', true), '')::uuid)
            with check (owner_id = nullif(current_setting('app.user_id', true), '')::uuid);
        reset role;
        """
    )
    await admin.close()
    url = with_credentials(infra.database_url, role(SCHEMA), infra.role_password)
    db = Database(url)
    yield db
    await db.dispose()


async def test_a_query_without_where_sees_only_the_callers_rows(rls_db: Database) -> None:
    alice, bob = uuid4(), uuid4()
    for owner, body in ((alice, "alice 1"), (alice, "alice 2"), (bob, "bob 1")):
        async with rls_db.user_scope(owner) as session:
            await session.execute(
                text(f"insert into {SCHEMA}.notes (owner_id, body) values (:o, :b)"),
                {"o": owner, "b": body},
            )
    async with rls_db.user_scope(alice) as session:
        rows = (await session.execute(text(f"select body from {SCHEMA}.notes"))).scalars().all()
    assert sorted(rows) == ["alice 1", "alice 2"]
    async with rls_db.user_scope(bob) as session:
        rows = (await session.execute(text(f"select body from {SCHEMA}.notes"))).scalars().all()
    assert rows == ["bob 1"]


async def test_a_user_cannot_write_rows_for_someone_else(rls_db: Database) -> None:
    alice, bob = uuid4(), uuid4()
    with pytest.raises(Exception, match="row-level security"):
        async with rls_db.user_scope(alice) as session:
            await session.execute(
                text(f"insert into {SCHEMA}.notes (owner_id, body) values (:o, 'x')"), {"o": bob}
            )


async def test_without_a_user_nothing_is_visible(rls_db: Database) -> None:
    async with rls_db.user_scope(uuid4()) as session:
        await session.execute(
            text(
                f"insert into {SCHEMA}.notes (owner_id, body) "
                "values (current_setting('app.user_id')::uuid, 'x')"
            )
        )
    async with rls_db.system_scope() as session:
        count = (await session.execute(text(f"select count(*) from {SCHEMA}.notes"))).scalar_one()
    assert count == 0


@pytest.mark.parametrize(
    "statement",
    [
        f"alter table {SCHEMA}.notes disable row level security",
        f"alter table {SCHEMA}.notes no force row level security",
        f"drop policy owner_only on {SCHEMA}.notes",
        "set session_replication_role = replica",
        "set role bc_owner",
    ],
)
async def test_the_service_role_cannot_switch_rls_off(rls_db: Database, statement: str) -> None:
    with pytest.raises(Exception, match=r"must be owner|permission denied"):
        async with rls_db.user_scope(uuid4()) as session:
            await session.execute(text(statement))
