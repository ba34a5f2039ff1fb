"""`stack`: the session's auth-service + gateway (tests/fixtures/auth.py, one per run);
`stand_in`: real NATS responders standing in for the other services auth asks (this stack
runs none of them); `bot_service`: one for bot-service's `rpc.bot.ids.check` (auth asks it
about a membership's `bot_ids`), in every test here; `trail`: the auth audit records
published while a test runs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from proto.audit import AuditRecord
from proto.bots import CHECK_BOT_IDS, BotIdsChecked, CheckBotIds
from tests.fixtures.auth import AuthStack
from tests.fixtures.infra import apoll

Answer = Callable[[Any], Awaitable[None]]


@pytest.fixture
def stack(auth_stack: AuthStack) -> AuthStack:
    return auth_stack


class StandIn:
    """Answers one subject with `answer`; `away()` stops answering (the service is down)."""

    def __init__(self, nc: NATS, subject: str, answer: Answer) -> None:
        self.nc, self.subject, self.answer = nc, subject, answer
        self.sub: Any = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.subject, cb=self.answer)
        await self.nc.flush()

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()
            await self.nc.flush()
            self.sub = None

    @contextlib.asynccontextmanager
    async def away(self) -> AsyncIterator[None]:
        await self.stop()
        try:
            yield
        finally:
            await self.start()


@pytest.fixture
async def stand_in(nc: NATS) -> AsyncIterator[Callable[[str, Answer], Awaitable[StandIn]]]:
    # Per test, not per session: other suites share the session's NATS with the real
    # services, which must be the only ones answering there.
    started: list[StandIn] = []

    async def start(subject: str, answer: Answer) -> StandIn:
        responder = StandIn(nc, subject, answer)
        await responder.start()
        started.append(responder)
        return responder

    yield start
    for responder in started:
        await responder.stop()


class BotService:
    """Every id is a bot of the workspace but those in `unknown`."""

    def __init__(self) -> None:
        self.unknown: set[uuid.UUID] = set()
        self.asked: list[CheckBotIds] = []
        self.responder: StandIn | None = None

    async def answer(self, msg: Any) -> None:
        request = CheckBotIds.model_validate_json(msg.data)
        self.asked.append(request)
        unknown = [i for i in request.bot_ids if i in self.unknown]
        await msg.respond(BotIdsChecked(unknown=unknown).model_dump_json().encode())

    def away(self) -> contextlib.AbstractAsyncContextManager[None]:
        assert self.responder is not None
        return self.responder.away()


@pytest.fixture(autouse=True)
async def bot_service(stand_in: Callable[[str, Answer], Awaitable[StandIn]]) -> BotService:
    service = BotService()
    service.responder = await stand_in(CHECK_BOT_IDS.subject, service.answer)
    return service


class Trail:
    """Every auth audit record published while the test runs, and the raw bytes."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.raw: list[bytes] = []

    async def on_msg(self, msg: Any) -> None:
        self.raw.append(msg.data)
        self.records.append(AuditRecord.model_validate_json(msg.data))

    def of(self, ws: uuid.UUID) -> list[AuditRecord]:
        return [r for r in self.records if r.workspace_id == ws]

    async def settled(self, ws: uuid.UUID, action: str, n: int = 1) -> list[AuditRecord]:
        """The workspace's records once `n` with `action` arrived (the outbox relay
        publishes just after the change's reply)."""
        await apoll(
            lambda: sum(r.action == action for r in self.of(ws)) >= n,
            timeout_s=10,
            what=f"{n} {action} record(s) in {ws}",
        )
        return self.of(ws)


@pytest.fixture
async def trail(nc: NATS, stack: Any) -> Any:
    found = Trail()
    sub = await nc.subscribe("aud.*.auth", cb=found.on_msg)
    await nc.flush()
    yield found
    await sub.unsubscribe()
