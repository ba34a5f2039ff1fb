"""discord.py's own reconnect logic against the sandbox: RESUME after a forced close keeps
missed events, RECONNECT and INVALID_SESSION are handled, a revoked token stops the client,
shards see only their guilds, IDENTIFY pacing is counted, and REST 429s are waited out."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import discord
import httpx
import pytest

from tests.fixtures.sandbox import SandboxControl, SandboxProcess, running_client


class Bot(discord.Client):
    """A plain discord.py client that records what it receives. Its identify pacing is
    shortened to the sandbox fixture's 0.25 s window (discord.py waits Discord's 5 s)."""

    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, guild_ready_timeout=0.2, **options)
        self.contents: list[str] = []
        self.resumed = asyncio.Event()
        self.readies = 0
        self.new_message = asyncio.Event()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(0.3)

    async def on_ready(self) -> None:
        self.readies += 1

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_shard_resumed(self, shard_id: int) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        self.contents.append(message.content)
        self.new_message.set()

    async def wait_for_contents(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.contents) < count:
            self.new_message.clear()
            await asyncio.wait_for(self.new_message.wait(), max(deadline - time.monotonic(), 0.01))
        return self.contents


async def _bot_world(ctl: SandboxControl, name: str, guild_count: int = 0) -> tuple[Any, Any, Any]:
    app = await ctl.create_application(
        name, privileged_intents=["MESSAGE_CONTENT"], guild_count=guild_count
    )
    user = await ctl.create_user(f"{name.lower().replace(' ', '-')}-user")
    guild = await ctl.create_guild(f"{name} guild", members=[user.id])
    await ctl.install(guild.guild_id, app.application_id)
    return app, user, guild


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_resume_after_forced_close_keeps_missed_events(
    sandbox_control: SandboxControl,
) -> None:
    app, user, guild = await _bot_world(sandbox_control, "Resume Bot")
    bot = Bot()
    channel = guild.channel_ids[0]
    async with running_client(bot, app.token):
        [session] = await sandbox_control.wait_for_sessions(app.application_id, 1)
        await sandbox_control.close_session(session["session_id"], 4000)
        # Posted while the connection is going away: only RESUME's replay can deliver them.
        for i in range(3):
            await sandbox_control.post_message(channel, user.id, f"during outage {i}")
        await asyncio.wait_for(bot.resumed.wait(), 10)
        await sandbox_control.post_message(channel, user.id, "after resume")
        contents = await bot.wait_for_contents(4)
        [again] = await sandbox_control.wait_for_sessions(app.application_id, 1)
    assert contents == ["during outage 0", "during outage 1", "during outage 2", "after resume"]
    assert again["session_id"] == session["session_id"]
    assert again["resumes"] == 1
    stats = await sandbox_control.stats()
    assert stats["per_application"][app.application_id]["identifies"] == 1
    assert stats["per_application"][app.application_id]["resumes"] == 1


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_reconnect_and_invalid_session_are_handled_by_the_client(
    sandbox_control: SandboxControl,
) -> None:
    app, user, guild = await _bot_world(sandbox_control, "Flaky Bot")
    bot = Bot()
    async with running_client(bot, app.token):
        [session] = await sandbox_control.wait_for_sessions(app.application_id, 1)
        await sandbox_control.reconnect_session(session["session_id"])
        await asyncio.wait_for(bot.resumed.wait(), 10)
        bot.resumed.clear()
        await sandbox_control.invalidate_session(session["session_id"], resumable=True)
        await asyncio.wait_for(bot.resumed.wait(), 10)
        [same] = await sandbox_control.wait_for_sessions(app.application_id, 1)
        assert same["session_id"] == session["session_id"]

        await sandbox_control.invalidate_session(session["session_id"], resumable=False)
        deadline = time.monotonic() + 10
        while True:  # poll for the client's fresh IDENTIFY, bounded by the deadline
            live = await sandbox_control.sessions(app.application_id)
            if live and live[0]["session_id"] != session["session_id"]:
                break
            assert time.monotonic() < deadline, "the client did not identify again"
            await asyncio.sleep(0.05)
        await sandbox_control.post_message(guild.channel_ids[0], user.id, "still here")
        assert await bot.wait_for_contents(1) == ["still here"]
    stats = await sandbox_control.stats()
    assert stats["per_application"][app.application_id]["identifies"] == 2
    assert stats["per_application"][app.application_id]["max_concurrent_sessions_per_shard"] == {
        "0": 1
    }


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_revoked_token_closes_with_4004_and_the_client_stops(
    sandbox_control: SandboxControl,
) -> None:
    app, _, _ = await _bot_world(sandbox_control, "Revoked Bot")
    bot = Bot()
    async with running_client(bot, app.token) as task:
        [session] = await sandbox_control.wait_for_sessions(app.application_id, 1)
        await sandbox_control.reset_token(app.application_id)
        await sandbox_control.close_session(
            session["session_id"], 4000
        )  # the RESUME carries the old token
        with pytest.raises(discord.ConnectionClosed) as closed:
            await asyncio.wait_for(task, 10)
    assert closed.value.code == 4004
    assert bot.is_closed()


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_auto_sharded_client_gets_its_shards_from_gateway_bot(
    sandbox_control: SandboxControl,
) -> None:
    app, _user, _ = await _bot_world(sandbox_control, "Shard Bot", guild_count=6)
    await sandbox_control.configure(guilds_per_recommended_shard=4)  # 7 guilds -> 2 shards
    try:

        class ShardedBot(Bot, discord.AutoShardedClient):
            pass

        bot = ShardedBot()
        async with running_client(bot, app.token):
            assert bot.shard_count == 2
            live = await sandbox_control.wait_for_sessions(app.application_id, 2)
            assert sorted(s["shard"][0] for s in live) == [0, 1]
            for guild in bot.guilds:
                assert guild.shard_id == (guild.id >> 22) % 2
            assert len(bot.guilds) == 7
    finally:
        await sandbox_control.configure(guilds_per_recommended_shard=1000)
    stats = await sandbox_control.stats()
    assert stats["per_application"][app.application_id]["identify_violations"] == 0


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_two_uncoordinated_shards_trip_the_identify_limit(
    sandbox_control: SandboxControl,
) -> None:
    app, user, _ = await _bot_world(sandbox_control, "Twin Bot", guild_count=5)
    first, second = Bot(shard_id=0, shard_count=2), Bot(shard_id=1, shard_count=2)
    app_view = await sandbox_control.get_application(app.application_id)
    guild_ids = [int(g) for g in app_view["guild_ids"]]
    await sandbox_control.configure(identify_window_s=1.0)  # both start well inside one window
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(sandbox_control.configure, identify_window_s=0.25)
        # Two processes that do not coordinate: both start at the same moment.
        await asyncio.gather(
            stack.enter_async_context(running_client(first, app.token)),
            stack.enter_async_context(running_client(second, app.token)),
        )
        assert {g.id for g in first.guilds} == {g for g in guild_ids if (g >> 22) % 2 == 0}
        assert {g.id for g in second.guilds} == {g for g in guild_ids if (g >> 22) % 2 == 1}
        # A message in a shard-1 guild reaches only shard 1's session.
        target = next(g for g in second.guilds if g.text_channels)
        channel = target.text_channels[0]
        await sandbox_control.post_message(str(channel.id), user.id, "for shard one")
        assert await second.wait_for_contents(1) == ["for shard one"]
        assert first.contents == []
    stats = await sandbox_control.stats()
    per_app = stats["per_application"][app.application_id]
    # Both started at once in one max_concurrency bucket: the second IDENTIFY was too early,
    # got INVALID_SESSION, and discord.py identified again after its pause.
    assert per_app["identify_violations"] >= 1
    assert per_app["max_concurrent_sessions_per_shard"] == {"0": 1, "1": 1}


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_rest_rate_limit_429_and_discordpy_waits_it_out(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app, _, guild = await _bot_world(sandbox_control, "Chatty Bot")
    await sandbox_control.configure(message_create_limit={"limit": 3, "window_s": 1.0})
    channel = guild.channel_ids[0]
    url = f"{sandbox.api_url}/channels/{channel}/messages"
    headers = {"Authorization": f"Bot {app.token}"}
    try:
        async with httpx.AsyncClient() as raw:
            answers = [
                await raw.post(url, json={"content": f"spam {i}"}, headers=headers)
                for i in range(4)
            ]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[0].headers["X-RateLimit-Limit"] == "3"
        assert answers[2].headers["X-RateLimit-Remaining"] == "0"
        assert answers[0].headers["X-RateLimit-Bucket"] == answers[3].headers["X-RateLimit-Bucket"]
        limited = answers[3]
        assert limited.headers["Content-Type"] == "application/json"
        assert limited.headers["Via"]
        assert limited.headers["X-RateLimit-Scope"] == "user"
        body = limited.json()
        assert body["global"] is False
        assert 0 < body["retry_after"] <= 1.0

        bot = Bot()
        async with running_client(bot, app.token):
            target = bot.get_channel(int(channel))
            assert isinstance(target, discord.TextChannel)
            async with httpx.AsyncClient() as raw:  # another process spends the bucket first
                for i in range(3):
                    await raw.post(url, json={"content": f"other {i}"}, headers=headers)
            before = (await sandbox_control.stats())["rate_limits_sent"]
            sent = await asyncio.gather(*(target.send(f"patient {i}") for i in range(4)))
            assert sorted(m.content for m in sent) == [f"patient {i}" for i in range(4)]
        after = (await sandbox_control.stats())["rate_limits_sent"]
        assert after > before  # discord.py met at least one 429 and waited it out
    finally:
        await sandbox_control.configure(message_create_limit={"limit": 5, "window_s": 5.0})
