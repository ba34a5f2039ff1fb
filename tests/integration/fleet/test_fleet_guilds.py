"""The servers of a running bot (`rpc.bot.runtime.guilds`, GET /v1/bots/{id}/guilds) come from
the live discord.py connection's cache of the replica that runs the bot: name, member count,
channels and roles, as the console's pickers show them; a stopped bot is a plain 409."""

from __future__ import annotations

import uuid

import pytest

from proto import bots as P
from proto import fleet as F
from proto.errors import ErrorCode
from services.errors import RpcError
from tests.fixtures.sandbox import SandboxControl
from tests.integration.fleet.conftest import Bots, Replicas, wait_until


async def test_guilds_of_a_running_bot_come_from_its_live_cache(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    # Two replicas: the call may land on the one that does not run the bot (routed over ctl).
    replicas.start(2)
    app, bot = await bots.add(guilds=0)
    owner = await sandbox_control.create_user("pickers-owner")
    guild = await sandbox_control.create_guild(
        "Pickers Guild", members=[owner.id], channels=["general", "announcements"]
    )
    await sandbox_control.install(guild.guild_id, app.application_id)
    await bots.wait_state(bot.id, "online")

    async def listed() -> F.GuildList | None:
        found = await bots.call(F.GET_GUILDS, P.BotRef(bot_id=bot.id))
        return found if any(g.id == guild.guild_id for g in found.guilds) else None

    # Asked repeatedly: the calls are spread over both replicas by the queue group.
    for _ in range(4):
        found = await wait_until(listed, what="the sandbox guild in the bot's live cache")
        [live] = [g for g in found.guilds if g.id == guild.guild_id]
        assert live.name == "Pickers Guild"
        assert live.member_count == 2  # the owner and the bot
        assert [(c.id, c.name, c.type) for c in live.channels] == [
            (guild.channel_ids[0], "general", "text"),
            (guild.channel_ids[1], "announcements", "text"),
        ]
        roles = {r.name: r for r in live.roles}
        assert set(roles) == {"@everyone", "Fleet Bot"}  # the bot's managed role
        assert roles["@everyone"].id == guild.guild_id
        # Highest role first, as Discord lists them.
        assert live.roles[0].position >= live.roles[-1].position

    # Someone else's bot does not exist for you.
    with pytest.raises(RpcError) as err:
        await bots.call(F.GET_GUILDS, P.BotRef(bot_id=bot.id), user=uuid.uuid4())
    assert err.value.code is ErrorCode.NOT_FOUND

    # A stopped bot has no live cache: a 409 that says so.
    await bots.call(P.STOP_BOT, P.BotRef(bot_id=bot.id))
    await bots.wait_state(bot.id, "offline")
    with pytest.raises(RpcError) as err:
        await bots.call(F.GET_GUILDS, P.BotRef(bot_id=bot.id))
    assert err.value.code is ErrorCode.CONFLICT
    assert "not running" in err.value.message
