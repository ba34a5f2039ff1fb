"""One replica: start → online with one sandbox session per shard, stop → no session;
diagnosed errors; recovery from forced closes, RECONNECT and INVALID_SESSION."""

from __future__ import annotations

from proto import bots as P
from tests.fixtures.sandbox import SandboxControl
from tests.integration.fleet.conftest import Bots, Replicas


async def test_start_online_then_stop_leaves_no_session(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    replicas.start(1)
    app, bot = await bots.add(guilds=2, shard_count=2)
    status = await bots.wait_state(bot.id, "online")
    assert [s.state for s in status.shards] == ["online", "online"]
    assert sum(s.guild_count or 0 for s in status.shards) == 2
    sessions = await sandbox_control.wait_for_sessions(app.application_id, 2)
    assert sorted(tuple(s["shard"]) for s in sessions) == [(0, 2), (1, 2)]

    await bots.call(P.STOP_BOT, P.BotRef(bot_id=bot.id))
    await sandbox_control.wait_for_sessions(app.application_id, 0, timeout=5)
    assert (await bots.wait_state(bot.id, "offline", timeout=5)).shards[0].state == "offline"
    # A stopped session is over, not merely detached.
    assert await sandbox_control.sessions(app.application_id, include_all=True) == []
