"""Migration auth/0005_workspaces on a database that already has users (at 0004): each
gets a personal workspace (its own id, 'Personal') with the owner membership, and the new
tables' row-level security shows a user only the workspaces of `app.ws`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

import auth_service
from services.db.bootstrap import bootstrap
from services.db.engine import plain_url
from services.db.migrate import upgrade
from tests.integration.test_schema_matches_models import fresh_database

MIGRATIONS = Path(auth_service.__file__).parent / "migrations"

__all__ = ["fresh_database"]


async def test_existing_users_get_a_personal_workspace(infra: Any, fresh_database: str) -> None:
    await bootstrap(fresh_database, ["auth"], infra.role_password)
    await upgrade(fresh_database, "auth", MIGRATIONS, "0004")
    users = [uuid.uuid4(), uuid.uuid4()]
    admin = await asyncpg.connect(plain_url(fresh_database))
    try:
        for i, user in enumerate(users):
            await admin.execute(
                "insert into auth.users (id, display_name, created_at) "
                "values ($1, $2, now() - make_interval(days => $3))",
                user,
                f"user {i}",
                i + 1,
            )
        await upgrade(fresh_database, "auth", MIGRATIONS)
        rows = await admin.fetch(
            "select w.id, w.name, w.personal, w.owner_user_id, w.created_at, u.created_at "
            "as user_created, m.user_id, m.builtin_role, u.access_version "
            "from auth.workspaces w join auth.memberships m on m.workspace_id = w.id "
            "join auth.users u on u.id = w.id order by w.id"
        )
    finally:
        await admin.close()
    assert [
        (r["id"], r["name"], r["personal"], r["owner_user_id"], r["user_id"], r["builtin_role"])
        for r in rows
    ] == [(u, "Personal", True, u, u, "owner") for u in sorted(users)]
    assert all(r["created_at"] == r["user_created"] and r["access_version"] == 0 for r in rows)

    # As the service's role: a member sees their workspace only once `app.ws` names it,
    # and never another user's.
    url = make_url(fresh_database).set(username="bc_auth", password=infra.role_password)
    conn = await asyncpg.connect(plain_url(url.render_as_string(hide_password=False)))
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.user_id', $1, true)", str(users[0]))
            own = await conn.fetch("select workspace_id from memberships")
            assert [r["workspace_id"] for r in own] == [users[0]]
            assert await conn.fetch("select id from workspaces") == []
            await conn.execute(
                "select set_config('app.ws', $1, true)", "{" + str(users[0]) + "}"
            )
            assert [r["id"] for r in await conn.fetch("select id from workspaces")] == [users[0]]
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "insert into memberships (workspace_id, user_id, builtin_role) "
                    "values ($1, $2, 'viewer')",
                    users[1],
                    users[0],
                )
    finally:
        await conn.close()


async def test_0006_keeps_tokens_and_pending_purges_as_they_were(
    infra: Any, fresh_database: str
) -> None:
    """Tokens made before 0006 keep every field (no workspace, no permission subset = all
    of the owner's, the same expiry); an account's pending purges become kind 'user'."""
    await bootstrap(fresh_database, ["auth"], infra.role_password)
    await upgrade(fresh_database, "auth", MIGRATIONS, "0005")
    user, token = uuid.uuid4(), uuid.uuid4()
    admin = await asyncpg.connect(plain_url(fresh_database))
    try:
        await admin.execute("insert into auth.users (id, display_name) values ($1, 'u')", user)
        await admin.execute(
            "insert into auth.api_tokens (id, owner_id, name, token_hash, last4, scopes) "
            "values ($1, $2, 'old', 'hash', 'abcd', '{bots:read}')",
            token,
            user,
        )
        await admin.execute(
            "insert into auth.pending_purges (owner_id, service, attempts) values ($1, 'bot', 2)",
            user,
        )
        await upgrade(fresh_database, "auth", MIGRATIONS)
        tok = await admin.fetchrow("select * from auth.api_tokens where id = $1", token)
        purge = await admin.fetchrow("select * from auth.pending_purges")
    finally:
        await admin.close()
    assert (tok["owner_id"], tok["name"], tok["scopes"], tok["expires_at"]) == (
        user,
        "old",
        ["bots:read"],
        None,
    )
    assert (tok["workspace_id"], tok["permissions"]) == (None, None)
    assert (purge["kind"], purge["target_id"], purge["service"], purge["attempts"]) == (
        "user",
        user,
        "bot",
        2,
    )
