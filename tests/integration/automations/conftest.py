"""Fixtures for automations (#18): command-service and bot-service as processes, a bot in
its owner's personal workspace, and the database as its administrator (rows a test needs
in bulk: runs, a server full of variables). The service fixtures are command tests' own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from services.db.engine import async_url
from services.devstack.stack import Infra
from tests.integration.commands.conftest import (
    call,
    cmd_bot_service,
    command_service,
    owned_bot,
    peer,
)
from tests.integration.commands.test_commands_workspaces import audit

__all__ = ["audit", "call", "cmd_bot_service", "command_service", "owned_bot", "peer"]


@pytest.fixture
async def admin_db(infra: Infra) -> AsyncIterator[AsyncSession]:
    """A session as the database's administrator (no row-level security): what a test
    puts in place that no RPC makes (runs are the executor's, slice E)."""
    assert infra.database_url
    engine = create_async_engine(async_url(infra.database_url), poolclass=NullPool)
    try:
        async with AsyncSession(engine) as s:
            yield s
    finally:
        await engine.dispose()
