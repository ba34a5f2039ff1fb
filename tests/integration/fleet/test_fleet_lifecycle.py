"""One replica: start → online with one sandbox session per shard, stop → no session;
diagnosed errors; recovery from forced closes, RECONNECT and INVALID_SESSION."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg

from proto import bots as P
from proto import fleet as F
from tests.fixtures.sandbox import SandboxControl
from tests.integration.fleet.conftest import Bots, Replicas, wait_until


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


async def test_status_events_say_which_shard_where_and_how_many_servers(
    replicas: Replicas, bots: Bots
) -> None:
    """The log view's status lines: each shard's online event names the shard, the replica
    and its servers."""
    events: list[F.BotStatusChanged] = []

    async def keep(msg: Msg) -> None:
        events.append(F.BotStatusChanged.model_validate_json(msg.data))

    sub = await bots.nc.subscribe(f"evt.bot.{bots.user}.*.status", cb=keep)
    try:
        replicas.start(1)
        _, bot = await bots.add(guilds=3, shard_count=2)

        def online() -> list[F.BotStatusChanged]:
            return [e for e in events if e.bot_id == bot.id and e.state == "online"]

        await wait_until(lambda: len({e.shard_id for e in online()}) == 2, what="both online")
    finally:
        await sub.unsubscribe()
    last = {e.shard_id: e for e in online()}
    shards = [last[0], last[1]]
    assert [(e.shard_id, e.shard_count) for e in shards] == [(0, 2), (1, 2)]
    assert all(e.replica for e in shards)
    assert sum(e.guild_count or 0 for e in shards) == 3


async def test_invalid_token_is_diagnosed_and_not_retried(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    replicas.start(1)
    app, bot = await bots.add(start=False)
    await sandbox_control.reset_token(app.application_id)  # the stored token is now bad
    await bots.call(P.START_BOT, P.BotRef(bot_id=bot.id))
    status = await bots.wait_state(bot.id, "error", reason="invalid_token")
    assert "token" in (status.message or "")
    stats = await sandbox_control.stats()
    before = stats["rest_requests"]
    # Observation window (a retry loop would act within a few 0.2 s backoffs).
    await asyncio.sleep(2)
    again = await bots.wait_state(bot.id, "error", reason="invalid_token")
    assert again.since == status.since  # no retry loop: the state did not flap
    assert (await sandbox_control.stats())["rest_requests"] - before < 5
    assert await sandbox_control.sessions(app.application_id) == []


async def test_disallowed_intents_names_the_intent(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    replicas.start(1)
    app, bot = await bots.add(intents=["GUILDS", "GUILD_MEMBERS"])
    status = await bots.wait_state(bot.id, "error", reason="disallowed_intents")
    assert "GUILD_MEMBERS" in (status.message or "")
    assert "developer portal" in (status.message or "")
    assert await sandbox_control.sessions(app.application_id) == []


async def test_forced_close_reconnect_and_invalid_session_recover(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    replicas.start(1)
    app, bot = await bots.add()
    await bots.wait_state(bot.id, "online")
    for action in ("close", "reconnect", "invalidate_resumable", "invalidate"):
        (session,) = await sandbox_control.wait_for_sessions(app.application_id, 1)
        sid = session["session_id"]
        if action == "close":
            await sandbox_control.close_session(sid, 4000)
        elif action == "reconnect":
            await sandbox_control.reconnect_session(sid)
        elif action == "invalidate_resumable":
            await sandbox_control.invalidate_session(sid, True)
        else:
            await sandbox_control.invalidate_session(sid, False)

        async def recovered(sid: str = sid, action: str = action) -> bool:
            live = await sandbox_control.sessions(app.application_id)
            if len(live) != 1 or not live[0]["connected"]:
                return False
            if action == "invalidate":
                return live[0]["session_id"] != sid  # a new session after IDENTIFY
            return live[0]["session_id"] == sid and live[0]["resumes"] >= 1

        await wait_until(recovered, timeout=15, what=f"recovery after {action}")
        await bots.wait_state(bot.id, "online")
    per_app = (await sandbox_control.stats())["per_application"][app.application_id]
    assert per_app["identifies"] == 2  # the first one and the one after INVALID_SESSION(false)
    assert set(per_app["max_concurrent_sessions_per_shard"].values()) == {1}
