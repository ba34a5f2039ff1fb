"""Cooldowns hold across command-service replicas: with two replicas answering
`rpc.command.execute` (a queue group picks one per call), a user who just ran a command
is told to wait whichever replica answers; another user is not; and a cooldown ends when
its time is up (each key expires on its own, on the real NATS KV bucket)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proto import commands as C
from services.devstack.stack import Infra, ServiceProcess
from tests.fixtures.infra import apoll

from .conftest import _spawn
from .test_commands_execution_rules import GUILD, _cmd, _run


@pytest.fixture
def second_replica(infra: Infra, command_service: ServiceProcess) -> Iterator[ServiceProcess]:
    proc = _spawn(infra, "command", {})
    try:
        yield proc
    finally:
        proc.stop()


async def test_a_cooldown_started_on_one_replica_holds_on_the_other(
    call, owned_bot, command_service, second_replica
) -> None:
    bot = owned_bot
    spec = _cmd(name="daily", cooldown_user_s=600)
    await call(C.CREATE, C.CreateCommand(bot_id=bot.bot_id, command=spec), bot.owner)

    assert (await _run(call, bot, "daily", user="7")).outcome == "ok"
    # Twelve more calls: with a clock per replica, about half would land on the replica
    # that never saw the first one and run again.
    outcomes = [(await _run(call, bot, "daily", user="7")).outcome for _ in range(12)]
    assert outcomes == ["cooldown"] * 12
    assert (await _run(call, bot, "daily", user="8", guild=GUILD)).outcome == "ok"


async def test_a_shared_cooldown_ends_when_its_time_is_up(call, owned_bot, second_replica) -> None:
    bot = owned_bot
    spec = _cmd(name="quick", cooldown_user_s=2)
    await call(C.CREATE, C.CreateCommand(bot_id=bot.bot_id, command=spec), bot.owner)
    assert (await _run(call, bot, "quick", user="9")).outcome == "ok"
    cooled = await _run(call, bot, "quick", user="9")
    assert cooled.outcome == "cooldown"
    assert "again in 2 s" in cooled.content or "again in 1 s" in cooled.content

    async def runs_again() -> bool:
        return bool((await _run(call, bot, "quick", user="9")).outcome == "ok")

    # The key expires with the cooldown (its own TTL, not the bucket's day).
    await apoll(runs_again, timeout_s=10, interval_s=0.25, what="the cooldown to end")
