"""Row-level security keyed by workspace membership (#17), as a real service role: the
kernel's migration helpers on a scratch schema, `Database.access_scope` setting the
caller's workspaces, and a query that forgets its WHERE still seeing no foreign row."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import text

from proto.access import ALL_PERMISSIONS_MASK, Access, Grant, permission_mask
from services.db.bootstrap import OWNER, bootstrap, role
from services.db.engine import Database, plain_url, rows_touched
from services.db.rls import bot_scoped, member_functions, workspace_scoped
from services.settings import with_credentials

SCHEMA = "teamrls"


@dataclass(frozen=True)
class World:
    db: Database
    a: UUID  # the workspace under test
    b: UUID  # someone else's workspace
    bot_x: UUID
    bot_y: UUID
    bot_z: UUID  # a bot of B


@pytest.fixture(scope="module")
async def world(infra):
    await bootstrap(infra.database_url, [SCHEMA], infra.role_password)
    admin = await asyncpg.connect(plain_url(infra.database_url))
    statements = [
        f"set role {OWNER}",
        f"set search_path to {SCHEMA}",
        "drop table if exists notes, bot_notes",
        *member_functions(SCHEMA),
        "create table notes (id uuid primary key default gen_random_uuid(), "
        "workspace_id uuid not null, body text not null)",
        *workspace_scoped("notes"),
        "create table bot_notes (id uuid primary key default gen_random_uuid(), "
        "workspace_id uuid not null, bot_id uuid, body text not null)",
        *bot_scoped("bot_notes", "bot_id", nullable=True),
        "reset role",
    ]
    for statement in statements:
        await admin.execute(statement)
    w = World(
        db=Database(
            with_credentials(infra.database_url, role(SCHEMA), infra.role_password),
            pool_size=1,
            max_overflow=0,
        ),
        a=uuid4(),
        b=uuid4(),
        bot_x=uuid4(),
        bot_y=uuid4(),
        bot_z=uuid4(),
    )
    # Seeded as the superuser (RLS does not apply to it).
    await admin.executemany(
        f"insert into {SCHEMA}.notes (workspace_id, body) values ($1, $2)",
        [(w.a, "a1"), (w.a, "a2"), (w.b, "b1")],
    )
    await admin.executemany(
        f"insert into {SCHEMA}.bot_notes (workspace_id, bot_id, body) values ($1, $2, $3)",
        [(w.a, w.bot_x, "ax"), (w.a, w.bot_y, "ay"), (w.a, None, "a-"), (w.b, w.bot_z, "bz")],
    )
    await admin.close()
    yield w
    await w.db.dispose()


def member(ws: UUID, bots: list[UUID] | None = None, *, more: tuple[UUID, ...] = ()) -> Access:
    grants = [
        Grant(workspace_id=ws, role="owner", permissions=ALL_PERMISSIONS_MASK, bot_ids=bots or [])
    ]
    grants += [
        Grant(workspace_id=m, role="viewer", permissions=permission_mask(["bots.view"]))
        for m in more
    ]
    return Access(user_id=uuid4(), grants=grants)


async def bodies(db: Database, access: Access, table: str) -> list[str]:
    async with db.access_scope(access) as session:
        rows = await session.execute(text(f"select body from {SCHEMA}.{table}"))
        return sorted(rows.scalars().all())


async def admin_bodies(infra, table: str, ws: UUID) -> list[str]:
    admin = await asyncpg.connect(plain_url(infra.database_url))
    try:
        rows = await admin.fetch(f"select body from {SCHEMA}.{table} where workspace_id = $1", ws)
    finally:
        await admin.close()
    return sorted(r["body"] for r in rows)


async def test_select_without_where_returns_only_the_callers_workspaces(world: World) -> None:
    assert await bodies(world.db, member(world.a), "notes") == ["a1", "a2"]
    assert await bodies(world.db, member(world.a), "bot_notes") == ["a-", "ax", "ay"]
    # Limited to bot X: X's rows and those of no bot; the workspace's plain rows too.
    limited = member(world.a, [world.bot_x])
    assert await bodies(world.db, limited, "bot_notes") == ["a-", "ax"]
    assert await bodies(world.db, limited, "notes") == ["a1", "a2"]
    # A member of B only sees nothing of A; a member of both sees both.
    assert await bodies(world.db, member(world.b), "notes") == ["b1"]
    assert await bodies(world.db, member(world.b), "bot_notes") == ["bz"]
    both = member(world.a, more=(world.b,))
    assert await bodies(world.db, both, "notes") == ["a1", "a2", "b1"]
    # Nobody (a user with no membership, a system access for another workspace).
    assert await bodies(world.db, Access(user_id=uuid4()), "notes") == []
    assert await bodies(world.db, Access.system_for("bot", uuid4()), "bot_notes") == []
    assert await bodies(world.db, Access.system_for("bot", world.a), "bot_notes") == [
        "a-",
        "ax",
        "ay",
    ]


async def test_a_limited_membership_in_one_workspace_does_not_open_bots_elsewhere(
    world: World,
) -> None:
    # Limited in B to bot X's id (a bot of A): the bot filter still needs the workspace.
    outsider = Access(
        user_id=uuid4(),
        grants=[Grant(workspace_id=world.b, role="viewer", permissions=1, bot_ids=[world.bot_x])],
    )
    assert await bodies(world.db, outsider, "bot_notes") == []


@pytest.mark.parametrize(
    ("who", "ws", "bot", "allowed"),
    [
        ("member", "a", None, True),
        ("member", "b", None, False),
        ("limited", "a", "x", True),
        ("limited", "a", None, True),  # a row of no bot (nullable column)
        ("limited", "a", "y", False),
        ("outsider", "a", "x", False),
    ],
)
async def test_insert_only_into_what_the_caller_sees(
    world: World, who: str, ws: str, bot: str | None, allowed: bool
) -> None:
    access = {
        "member": member(world.a),
        "limited": member(world.a, [world.bot_x]),
        "outsider": member(world.b),
    }[who]
    workspace = {"a": world.a, "b": world.b}[ws]
    bot_id = {None: None, "x": world.bot_x, "y": world.bot_y}[bot]
    body = f"new-{uuid4().hex[:8]}"
    statement = text(
        f"insert into {SCHEMA}.bot_notes (workspace_id, bot_id, body) values (:ws, :bot, :body)"
    )
    if allowed:
        async with world.db.access_scope(access) as session:
            await session.execute(statement, {"ws": workspace, "bot": bot_id, "body": body})
        assert body in await bodies(world.db, access, "bot_notes")
    else:
        with pytest.raises(Exception, match="row-level security"):
            async with world.db.access_scope(access) as session:
                await session.execute(statement, {"ws": workspace, "bot": bot_id, "body": body})
    async with world.db.access_scope(access) as session:
        await session.execute(text(f"delete from {SCHEMA}.bot_notes where body = :b"), {"b": body})


async def test_update_and_delete_touch_no_foreign_row(world: World, infra) -> None:
    outsider = member(world.b)
    async with world.db.access_scope(outsider) as session:
        updated = rows_touched(
            await session.execute(
                text(f"update {SCHEMA}.notes set body = body || '!' where workspace_id = :a"),
                {"a": world.a},
            )
        )
        deleted = rows_touched(await session.execute(text(f"delete from {SCHEMA}.bot_notes")))
        # Its own rows only: B's one row (deleted, then put back below).
        assert deleted == 1
        await session.execute(
            text(
                f"insert into {SCHEMA}.bot_notes (workspace_id, bot_id, body) values (:b, :z, 'bz')"
            ),
            {"b": world.b, "z": world.bot_z},
        )
    assert updated == 0
    assert await admin_bodies(infra, "notes", world.a) == ["a1", "a2"]
    assert await admin_bodies(infra, "bot_notes", world.a) == ["a-", "ax", "ay"]

    limited = member(world.a, [world.bot_x])
    async with world.db.access_scope(limited) as session:
        touched = rows_touched(
            await session.execute(text(f"update {SCHEMA}.bot_notes set body = body"))
        )
    assert touched == 2  # ax and a-, not ay


async def test_a_row_cannot_be_moved_into_a_workspace_the_caller_is_not_in(world: World) -> None:
    with pytest.raises(Exception, match="row-level security"):
        async with world.db.access_scope(member(world.a)) as session:
            await session.execute(
                text(f"update {SCHEMA}.notes set workspace_id = :b where body = 'a1'"),
                {"b": world.b},
            )
    with pytest.raises(Exception, match="row-level security"):
        async with world.db.access_scope(member(world.a, [world.bot_x])) as session:
            await session.execute(
                text(f"update {SCHEMA}.bot_notes set bot_id = :y where body = 'ax'"),
                {"y": world.bot_y},
            )


async def test_the_settings_end_with_the_transaction(world: World) -> None:
    # One pooled connection: the next transaction runs on the same one.
    async with world.db.access_scope(member(world.a, [world.bot_x])) as session:
        row = (
            await session.execute(
                text("select current_setting('app.ws', true), current_setting('app.bots', true)")
            )
        ).one()
        assert row == (f"{{{world.a}}}", f"{{{world.bot_x}}}")
    async with world.db.engine.connect() as conn:
        settings = (
            await conn.execute(
                text(
                    "select coalesce(current_setting('app.user_id', true), ''), "
                    "coalesce(current_setting('app.ws', true), ''), "
                    "coalesce(current_setting('app.ws_all_bots', true), ''), "
                    "coalesce(current_setting('app.bots', true), '')"
                )
            )
        ).one()
        assert tuple(settings) == ("", "", "", "")
        visible = (await conn.execute(text(f"select count(*) from {SCHEMA}.notes"))).scalar_one()
        assert visible == 0


async def test_user_scope_is_the_personal_workspace(world: World, infra) -> None:
    user = uuid4()
    admin = await asyncpg.connect(plain_url(infra.database_url))
    await admin.execute(
        f"insert into {SCHEMA}.notes (workspace_id, body) values ($1, 'mine')", user
    )
    await admin.close()
    async with world.db.user_scope(user) as session:
        rows = (await session.execute(text(f"select body from {SCHEMA}.notes"))).scalars().all()
    assert rows == ["mine"]
