"""End to end: a Discord user's command in the sandbox reaches the bot running in
bot-service (real discord.py), which asks command-service and answers in Discord: a slash
command with options, a slow `http` command (deferred, then followed up), a prefix command
in a channel (MESSAGE_CONTENT intent) and a user context-menu command."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from proto import bots as B
from proto import commands as C
from proto import fleet as F
from proto.errors import ErrorCode
from services.errors import RpcError
from tests.fixtures.infra import apoll, connect_admin
from tests.fixtures.sandbox import SandboxApp, SandboxGuild, SandboxUser


async def test_slash_command_answered_through_the_sandbox(call, sandbox, sandbox_control) -> None:
    app = await sandbox_control.create_application(f"E2E Bot {uuid.uuid4().hex[:6]}")
    owner = uuid.uuid4()
    bot = await call(B.CREATE_BOT, B.CreateBot(token=SecretStr(app.token)), owner)
    guild = await sandbox_control.create_guild("e2e guild")
    await sandbox_control.install(guild.guild_id, app.application_id)
    member = await sandbox_control.create_user("e2e-user")
    await sandbox_control.add_member(guild.guild_id, member.id)
    await call(
        C.CREATE,
        C.CreateCommand(
            bot_id=bot.id,
            command=C.CommandIn.model_validate(
                {
                    "name": "greet",
                    "description": "greets",
                    "options": [
                        {"type": "string", "name": "who", "description": "w", "required": True}
                    ],
                    "response": {
                        "type": "template",
                        "content": "Hi {{ options.who }}, {{ user.mention }}!",
                    },
                }
            ),
        ),
        owner,
    )
    await call(B.START_BOT, B.BotRef(bot_id=bot.id), owner)

    async def online() -> bool:
        status = await call(F.GET_STATUS, B.BotRef(bot_id=bot.id), owner)
        return status.state == "online"

    await apoll(online, timeout_s=30, what="bot online")

    async def synced() -> bool:
        async with httpx.AsyncClient(base_url=sandbox.api_url) as http:
            r = await http.get(
                f"/applications/{app.application_id}/commands",
                headers={"Authorization": f"Bot {app.token}"},
            )
        return r.status_code == 200 and any(c["name"] == "greet" for c in r.json())

    await apoll(synced, timeout_s=20, what="commands synced to Discord")
    interaction = await sandbox_control.inject_interaction(
        app.application_id, guild.guild_id, member.id, name="greet", options={"who": "there"}
    )
    answer = await sandbox_control.wait_for_answer(interaction, wait=10)
    assert answer["content"] == f"Hi there, <@{member.id}>!"
    await call(B.STOP_BOT, B.BotRef(bot_id=bot.id), owner)


@dataclass
class LiveBot:
    owner: uuid.UUID
    bot_id: uuid.UUID
    app: SandboxApp
    guild: SandboxGuild
    member: SandboxUser
    friend: SandboxUser


WELCOME = (
    "Hi {{ user.display_name }} ({{ user.name }})! Welcome to {{ guild.name }} "
    "({{ guild.member_count }} members) in #{{ channel.name }}, from {{ bot.name }} "
    "[{{ bot.id }}]"
)


def _command(**data: Any) -> C.CommandIn:
    return C.CommandIn.model_validate({"description": "", **data})


@pytest.fixture(scope="module")
async def live_bot(infra, command_service, peer, sandbox) -> AsyncIterator[LiveBot]:
    """One online bot (GUILDS, GUILD_MESSAGES, MESSAGE_CONTENT) with a slow `http` command,
    a prefix command (default prefix) and a user context-menu command, synced to the
    sandbox."""
    from tests.integration.commands.conftest import Caller

    nc = await connect_admin(infra)
    call = Caller(nc)
    control = sandbox.control
    app = await control.create_application(
        f"Live Bot {uuid.uuid4().hex[:6]}", privileged_intents=["MESSAGE_CONTENT"]
    )
    owner = uuid.uuid4()
    bot = await call(
        B.CREATE_BOT,
        B.CreateBot(
            token=SecretStr(app.token),
            intents=["GUILDS", "GUILD_MESSAGES", "MESSAGE_CONTENT"],
        ),
        owner,
    )
    guild = await control.create_guild("live guild")
    await control.install(guild.guild_id, app.application_id)
    member = await control.create_user("live-user")
    friend = await control.create_user("live-friend")
    for person in (member, friend):
        await control.add_member(guild.guild_id, person.id)
    conn = await call(
        C.CONNECTION_CREATE,
        C.ConnectionIn(name=f"slow-{uuid.uuid4().hex[:6]}", base_url=peer.url + "/v1"),
        owner,
    )
    # No prefix set: prefix commands follow the default `!`.
    ai = await call(
        C.CONNECTION_CREATE,
        C.ConnectionIn(
            name=f"llm-{uuid.uuid4().hex[:6]}",
            base_url=peer.url + "/v1",
            auth_type="bearer",
            secret="sk-test-1234567890",
        ),
        owner,
    )
    prompt = await call(
        C.PROMPT_CREATE,
        C.PromptIn(
            name=f"e2e-{uuid.uuid4().hex[:6]}",
            system="terse",
            user="{{ user.username }}: {{ options.q }}",
            model="m1",
        ),
        owner,
    )
    for spec in (
        _command(
            name="forecast",
            description="slow weather",
            response={
                "type": "http",
                "connection_id": str(conn.id),
                "path": "/slow",
                "query": {"s": "2"},
                "content": "late={{ data.late }}",
            },
        ),
        _command(
            name="ask",
            description="ask the model",
            options=[{"type": "string", "name": "q", "description": "q", "required": True}],
            response={"type": "ai", "connection_id": str(ai.id), "prompt_id": str(prompt.id)},
        ),
        _command(
            kind="prefix",
            name="say",
            options=[{"type": "string", "name": "text", "description": "t", "required": True}],
            response={"type": "template", "content": "{{ user.username }} says {{ options.text }}"},
        ),
        _command(
            name="welcome",
            description="welcomes",
            response={"type": "template", "content": WELCOME},
        ),
        _command(
            kind="prefix",
            name="where",
            response={"type": "template", "content": WELCOME},
        ),
        _command(
            kind="user",
            name="High Five",
            response={
                "type": "template",
                "content": "{{ user.mention }} high-fives {{ target.mention }}",
            },
        ),
    ):
        await call(C.CREATE, C.CreateCommand(bot_id=bot.id, command=spec), owner)
    await call(B.START_BOT, B.BotRef(bot_id=bot.id), owner)

    async def synced() -> bool:
        status = await call(C.SYNC_STATUS, C.BotCommandRef(bot_id=bot.id), owner)
        return bool(status.in_sync and status.ok)

    await apoll(synced, timeout_s=40, what="bot online and commands synced")
    try:
        yield LiveBot(owner, bot.id, app, guild, member, friend)
    finally:
        await call(B.STOP_BOT, B.BotRef(bot_id=bot.id), owner)
        await nc.close()


async def test_slow_http_command_is_deferred_then_followed_up(live_bot, sandbox_control) -> None:
    bot = live_bot
    started = time.monotonic()
    interaction = await sandbox_control.inject_interaction(
        bot.app.application_id, bot.guild.guild_id, bot.member.id, name="forecast"
    )
    answer = await sandbox_control.wait_for_answer(interaction, wait=15)
    # Discord's 3-second limit was met with a deferral (type 5: "thinking"), and the answer
    # came later, once the peer had answered (~2 s).
    assert answer["deferred"] is True
    assert answer["callback_type"] == 5
    assert answer["latency_ms"] < 3000
    assert answer["content"] == "late=True"
    assert time.monotonic() - started >= 2.0


async def test_prefix_command_answered_in_the_channel(live_bot, sandbox_control) -> None:
    bot = live_bot
    channel = bot.guild.channel_ids[0]
    posted = await sandbox_control.post_message(channel, bot.member.id, "!say hello world")
    replies = await sandbox_control.channel_messages(
        channel, after=posted["id"], author_id=bot.app.bot_user_id, wait=10
    )
    assert replies[0]["content"] == "live-user says hello world"
    # Not the prefix, or an unknown command: the bot stays quiet.
    quiet = await sandbox_control.post_message(channel, bot.member.id, "say hello")
    await sandbox_control.post_message(channel, bot.member.id, "!nope")
    await sandbox_control.post_message(channel, bot.member.id, "!say done")
    replies = await sandbox_control.channel_messages(
        channel, after=quiet["id"], author_id=bot.app.bot_user_id, wait=10
    )
    assert [r["content"] for r in replies] == ["live-user says done"]


async def test_user_context_menu_command(live_bot, sandbox_control) -> None:
    bot = live_bot
    interaction = await sandbox_control.inject_interaction(
        bot.app.application_id,
        bot.guild.guild_id,
        bot.member.id,
        name="High Five",
        command_type=2,
        target_id=bot.friend.id,
    )
    answer = await sandbox_control.wait_for_answer(interaction, wait=10)
    assert answer["deferred"] is False
    assert answer["content"] == f"<@{bot.member.id}> high-fives <@{bot.friend.id}>"


async def test_ai_command_answered_from_the_local_model(live_bot, sandbox_control) -> None:
    bot = live_bot
    interaction = await sandbox_control.inject_interaction(
        bot.app.application_id, bot.guild.guild_id, bot.member.id, name="ask", options={"q": "hi?"}
    )
    answer = await sandbox_control.wait_for_answer(interaction, wait=10)
    assert answer["content"] == "[m1|terse] live-user: hi?"


async def test_the_prefix_setting_decides_which_messages_trigger(
    live_bot, call, sandbox_control
) -> None:
    bot = live_bot
    channel = bot.guild.channel_ids[0]

    async def put_prefix(prefix: str) -> None:
        settings = C.BotCommandSettings(
            bot_id=bot.bot_id, settings=C.CommandSettings(prefix=prefix)
        )
        assert (await call(C.SETTINGS_PUT, settings, bot.owner)).prefix == prefix

    async def post(text: str) -> str:
        return str((await sandbox_control.post_message(channel, bot.member.id, text))["id"])

    await put_prefix("?")
    try:
        # The running bot picks the new prefix up without a restart.
        async def answered() -> bool:
            after = await post("?say switched")
            replies = await sandbox_control.channel_messages(
                channel, after=after, author_id=bot.app.bot_user_id, wait=1
            )
            return any(r["content"] == "live-user says switched" for r in replies)

        await apoll(answered, timeout_s=20, interval_s=0.2, what="an answer to the new prefix")
        # The old prefix no longer triggers anything; the new one does.
        quiet = await post("!say old")
        await post("?say new")
        replies = await sandbox_control.channel_messages(
            channel, after=quiet, author_id=bot.app.bot_user_id, wait=10
        )
        assert [r["content"] for r in replies] == ["live-user says new"]
    finally:
        await put_prefix("!")


async def test_sync_now_registers_the_commands_with_discord_again(
    live_bot, call, sandbox, sandbox_control
) -> None:
    bot = live_bot
    commands_url = f"/applications/{bot.app.application_id}/commands"
    auth = {"Authorization": f"Bot {bot.app.token}"}
    async with httpx.AsyncClient(base_url=sandbox.api_url, headers=auth) as http:
        before = sorted(c["name"] for c in (await http.get(commands_url)).json())
        assert {"High Five", "ask", "forecast"} <= set(before)
        # Someone (another tool, a script) wiped them on Discord: the hash still matches, so
        # only Sync now puts them back.
        assert (await http.put(commands_url, json=[])).status_code == 200
        assert (await http.get(commands_url)).json() == []
        synced = await call(F.SYNC_COMMANDS, B.BotRef(bot_id=bot.bot_id), bot.owner)
        assert (synced.ok, synced.error, synced.commands) == (True, None, len(before))
        after = (await http.get(commands_url)).json()
        assert sorted(c["name"] for c in after) == before
    status = await call(C.SYNC_STATUS, C.BotCommandRef(bot_id=bot.bot_id), bot.owner)
    assert status.in_sync
    assert status.ok

    # Someone else cannot sync your bot; a stopped bot cannot sync (a plain 409).
    with pytest.raises(RpcError) as err:
        await call(F.SYNC_COMMANDS, B.BotRef(bot_id=bot.bot_id), uuid.uuid4())
    assert err.value.code is ErrorCode.NOT_FOUND
    app = await sandbox_control.create_application(f"Stopped {uuid.uuid4().hex[:6]}")
    stopped = await call(B.CREATE_BOT, B.CreateBot(token=SecretStr(app.token)), bot.owner)
    with pytest.raises(RpcError) as err:
        await call(F.SYNC_COMMANDS, B.BotRef(bot_id=stopped.id), bot.owner)
    assert err.value.code is ErrorCode.CONFLICT
    assert "not running" in err.value.message


async def _discord_names(bot: LiveBot, api_url: str, channel_id: str) -> dict[str, Any]:
    """What Discord (the sandbox) itself says the guild, channel and bot are called."""
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bot {bot.app.token}"}
    ) as http:
        guild = (await http.get(f"/guilds/{bot.guild.guild_id}?with_counts=true")).json()
        channel = (await http.get(f"/channels/{channel_id}")).json()
        me = (await http.get("/users/@me")).json()
    return {"guild": guild, "channel": channel, "me": me}


def _welcome(user: str, names: dict[str, Any]) -> str:
    return (
        f"Hi {user} ({user})! Welcome to {names['guild']['name']} "
        f"({names['guild']['approximate_member_count']} members) in "
        f"#{names['channel']['name']}, from {names['me']['username']} [{names['me']['id']}]"
    )


async def test_templates_render_the_sandbox_guild_channel_and_bot_names(
    live_bot, sandbox, sandbox_control
) -> None:
    """A real interaction and a real prefix message: the invocation carries what the
    templates promise, filled by discord.py's cache from what the sandbox sent."""
    bot = live_bot
    channel = bot.guild.channel_ids[0]
    interaction = await sandbox_control.inject_interaction(
        bot.app.application_id,
        bot.guild.guild_id,
        bot.member.id,
        name="welcome",
        channel_id=channel,
    )
    answer = await sandbox_control.wait_for_answer(interaction, wait=10)
    names = await _discord_names(bot, sandbox.api_url, channel)
    assert names["guild"]["name"] == "live guild"
    assert answer["content"] == _welcome("live-user", names)

    posted = await sandbox_control.post_message(channel, bot.member.id, "!where")
    replies = await sandbox_control.channel_messages(
        channel, after=posted["id"], author_id=bot.app.bot_user_id, wait=10
    )
    names = await _discord_names(bot, sandbox.api_url, channel)
    assert replies[0]["content"] == _welcome("live-user", names)


async def test_dry_runs_of_a_running_bot_use_its_servers_names(live_bot, sandbox, call) -> None:
    """Preview and the dry run (Try it without the sandbox) take the server, channel and
    bot from the running bot's cache, so they show what a real interaction would."""
    bot = live_bot
    names = await _discord_names(bot, sandbox.api_url, bot.guild.channel_ids[0])
    listed = await call(C.LIST, C.BotCommandRef(bot_id=bot.bot_id), bot.owner)
    welcome = next(c for c in listed.items if c.name == "welcome")
    ran = await call(C.TEST, C.TestCommand(bot_id=bot.bot_id, command_id=welcome.id), bot.owner)
    assert ran.content == _welcome("tester", names).replace("Hi tester", "Hi Tester")
    spec = C.CommandIn.model_validate(welcome.model_dump(include=set(C.CommandIn.model_fields)))
    previewed = await call(
        C.PREVIEW,
        C.PreviewCommand(bot_id=bot.bot_id, command=spec, command_id=welcome.id),
        bot.owner,
    )
    assert previewed.content == ran.content
