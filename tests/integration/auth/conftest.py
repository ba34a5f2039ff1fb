"""`stack`: the session's auth-service + gateway (tests/fixtures/auth.py, one per run), and
`bot_service`: a stand-in for bot-service's `rpc.bot.ids.check` (auth asks it about a
membership's `bot_ids`; this stack runs no bot-service)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from proto.bots import CHECK_BOT_IDS, BotIdsChecked, CheckBotIds
from tests.fixtures.auth import AuthStack


@pytest.fixture
def stack(auth_stack: AuthStack) -> AuthStack:
    return auth_stack


class BotService:
    """Answers `rpc.bot.ids.check`: every id is a bot of the workspace but those in
    `unknown`; `away()` stops answering (bot-service down)."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.unknown: set[uuid.UUID] = set()
        self.asked: list[CheckBotIds] = []
        self.sub: Any = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(CHECK_BOT_IDS.subject, cb=self.answer)
        await self.nc.flush()

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()
            await self.nc.flush()
            self.sub = None

    async def answer(self, msg: Any) -> None:
        request = CheckBotIds.model_validate_json(msg.data)
        self.asked.append(request)
        unknown = [i for i in request.bot_ids if i in self.unknown]
        await msg.respond(BotIdsChecked(unknown=unknown).model_dump_json().encode())

    @contextlib.asynccontextmanager
    async def away(self) -> AsyncIterator[None]:
        await self.stop()
        try:
            yield
        finally:
            await self.start()


@pytest.fixture(autouse=True)
async def bot_service(nc: NATS) -> AsyncIterator[BotService]:
    # Per test, not per session: other suites share the session's NATS with a real
    # bot-service, which must be the only one answering there.
    service = BotService(nc)
    await service.start()
    yield service
    await service.stop()
