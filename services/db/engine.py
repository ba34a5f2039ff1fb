"""Async SQLAlchemy engine on asyncpg, with one transaction per scope.

`user_scope(user_id)` opens a transaction that first sets `app.user_id`, so the row-level
security policies see only that user's rows. `system_scope()` runs as the service's
system role (a separate login with narrow, explicit policies).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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

_SET_USER = text("select set_config('app.user_id', :uid, true)")


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
        """A transaction acting for one user; commits on success, rolls back on error."""
        async with self._sessions() as session, session.begin():
            await session.execute(_SET_USER, {"uid": str(user_id)})
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
