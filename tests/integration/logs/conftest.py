"""log-service test fixtures (defined in tests/fixtures/logs.py and tests/fixtures/auth.py),
and a stand-in for bot-service's `rpc.bot.get`, which a per-bot summary asks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from nats.aio.client import Client as NATS

from proto.bots import GET_BOT, BotRef, BotSummary
from services.bus.rpc import RpcContext, RpcServer
from services.errors import not_found
from tests.fixtures.logs import publisher, rpc  # noqa: F401


@dataclass
class BotDirectory:
    """The bots bot-service would know, by workspace. Log tests start no bot-service; this
    answers `rpc.bot.get` as it does: within the caller's access (NOT_FOUND for a bot of a
    workspace they are no member of, or outside their bot limit)."""

    workspaces: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    def add(self, workspace_id: uuid.UUID) -> uuid.UUID:
        bot_id = uuid.uuid4()
        self.workspaces[bot_id] = workspace_id
        return bot_id

    async def get(self, req: BotRef, ctx: RpcContext) -> BotSummary:
        workspace_id = self.workspaces.get(req.bot_id)
        if workspace_id is None or not ctx.require_access().sees(workspace_id, req.bot_id):
            raise not_found("bot")
        return BotSummary(id=req.bot_id, workspace_id=workspace_id, name="bot")


@pytest.fixture
async def bot_directory(nc: NATS) -> AsyncIterator[BotDirectory]:
    directory = BotDirectory()
    server = RpcServer(nc, "bot")
    server.register(GET_BOT, directory.get)  # type: ignore[arg-type]
    await server.start()
    try:
        yield directory
    finally:
        await server.stop()
