"""Creates the schemas and roles of DESIGN.md: one schema per service, owned by `bc_owner`.

Each service logs in as `bc_<service>` (DML only, row-level security applies) and does
system work as `bc_<service>_system`; neither owns a table nor is a superuser, so neither
can disable row-level security. Migrations run as the admin with `SET ROLE bc_owner`.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from services.db.engine import plain_url

OWNER = "bc_owner"


def role(service: str) -> str:
    return f"bc_{service}"


def system_role(service: str) -> str:
    return f"bc_{service}_system"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad identifier {name!r}")
    return f'"{name}"'


async def bootstrap(admin_url: str, services: Iterable[str], role_password: str) -> None:
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        async with conn.transaction():
            # Serialise concurrent bootstraps (several test workers, several replicas).
            await conn.execute("select pg_advisory_xact_lock(424242)")
            await _ensure_role(conn, OWNER, login=False, password=None)
            me = await conn.fetchval("select current_user")
            if me != OWNER:
                await conn.execute(f"grant {_ident(OWNER)} to {_ident(me)}")
            for svc in services:
                user, system = role(svc), system_role(svc)
                await _ensure_role(conn, user, login=True, password=role_password)
                await _ensure_role(conn, system, login=True, password=role_password)
                schema = _ident(svc)
                await conn.execute(f"create schema if not exists {schema} authorization {OWNER}")
                await conn.execute(
                    f"grant usage on schema {schema} to {_ident(user)}, {_ident(system)}"
                )
                await conn.execute(
                    f"alter default privileges for role {OWNER} in schema {schema} "
                    "grant select, insert, update, delete on tables "
                    f"to {_ident(user)}, {_ident(system)}"
                )
                await conn.execute(
                    f"alter default privileges for role {OWNER} in schema {schema} "
                    f"grant usage, select on sequences to {_ident(user)}, {_ident(system)}"
                )
                await conn.execute(f"alter role {_ident(user)} set search_path = {schema}")
                await conn.execute(f"alter role {_ident(system)} set search_path = {schema}")
    finally:
        await conn.close()


async def _ensure_role(
    conn: asyncpg.Connection, name: str, *, login: bool, password: str | None
) -> None:
    exists = await conn.fetchval("select 1 from pg_roles where rolname = $1", name)
    opts = "login" if login else "nologin"
    opts += " nosuperuser nocreatedb nocreaterole nobypassrls noinherit"
    if not exists:
        await conn.execute(f"create role {_ident(name)} {opts}")
    else:
        await conn.execute(f"alter role {_ident(name)} {opts}")
    if password is not None:
        # Parameters are not allowed in ALTER ROLE; quote the literal ourselves.
        literal = "'" + password.replace("'", "''") + "'"
        await conn.execute(f"alter role {_ident(name)} password {literal}")
