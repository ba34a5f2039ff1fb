"""Async SQLAlchemy engine on asyncpg, with one transaction per scope.

`access_scope(access)` opens a transaction that first sets `app.user_id` and the caller's
workspaces (`app.ws`, `app.ws_all_bots`, `app.bots`, read by `services.db.rls`), so the
row-level security policies see only that user's rows and their workspaces' rows;
`user_scope(user_id)` is the same for a caller who owns only their personal workspace.
`system_scope()` runs as the service's system role (a separate login with narrow,
explicit policies).

The settings are transaction-local (`set_config(..., true)`): a pooled connection's next
transaction starts with none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, cast
from uuid import UUID

from sqlalchemy import CursorResult, Result, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from proto.access import Access

# One statement, one round trip, whatever the caller's memberships (the 0.3 ms budget of
# #17); `SET LOCAL` takes no parameters, `set_config(..., true)` does.
_SET_SCOPE = text(
    "select set_config('app.user_id', :uid, true), set_config('app.ws', :ws, true), "
    "set_config('app.ws_all_bots', :all_bots, true), set_config('app.bots', :bots, true)"
)


def _uuid_array(ids: Iterable[UUID]) -> str:
    """A PostgreSQL array literal of uuids (`{a,b}`), as `::uuid[]` reads it."""
    return "{" + ",".join(str(i) for i in ids) + "}"


def scope_settings(access: Access) -> dict[str, str]:
    """The values `access_scope` sets: every workspace of the caller, those without a bot
    limit, and the bots of the limited ones."""
    return {
        "uid": "" if access.user_id is None else str(access.user_id),
        "ws": _uuid_array(g.workspace_id for g in access.grants),
        "all_bots": _uuid_array(g.workspace_id for g in access.grants if not g.bot_ids),
        "bots": _uuid_array(b for g in access.grants for b in g.bot_ids),
    }


def _personal_settings(user_id: UUID | str) -> dict[str, str]:
    uid = str(user_id)
    # The personal workspace's id is its user's id (docs/design/teams.md §0).
    return {"uid": uid, "ws": "{" + uid + "}", "all_bots": "{" + uid + "}", "bots": "{}"}


def rows_touched(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched.

    SQLAlchemy types `execute()` as returning `Result`; for these statements it returns a
    `CursorResult`, the one that carries `rowcount`.
    """
    return cast("CursorResult[Any]", result).rowcount


def async_url(url: str) -> str:
    """`postgresql://` (what people write) -> the asyncpg dialect URL SQLAlchemy needs."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("database URL must start with postgresql://")


def plain_url(url: str) -> str:
    """The libpq form of a URL, for asyncpg.connect and psql."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    def __init__(
        self,
        url: str,
        *,
        system_url: str | None = None,
        pool_size: int = 10,
        max_overflow: int = 20,
    ) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
        self.system_engine: AsyncEngine = (
            create_async_engine(async_url(system_url), pool_size=max(2, pool_size // 2))
            if system_url
            else self.engine
        )
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._system_sessions = async_sessionmaker(
            self.system_engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def user_scope(self, user_id: UUID | str) -> AsyncIterator[AsyncSession]:
        """A transaction acting for one user as the owner of their personal workspace only;
        commits on success, rolls back on error."""
        async with self._sessions() as session, session.begin():
            await session.execute(_SET_SCOPE, _personal_settings(user_id))
            yield session

    @asynccontextmanager
    async def access_scope(self, access: Access) -> AsyncIterator[AsyncSession]:
        """A transaction acting with `access` (a user's, or a system's for one workspace):
        RLS sees the caller's own rows and those of their workspaces, within their bot
        limits. Commits on success, rolls back on error."""
        async with self._sessions() as session, session.begin():
            await session.execute(_SET_SCOPE, scope_settings(access))
            yield session

    @asynccontextmanager
    async def system_scope(self) -> AsyncIterator[AsyncSession]:
        """A transaction as the service's system role (no user)."""
        async with self._system_sessions() as session, session.begin():
            yield session

    async def ping(self, timeout_s: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
                await conn.execute(text("select 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.system_engine is not self.engine:
            await self.system_engine.dispose()
