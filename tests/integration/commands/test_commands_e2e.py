"""End to end: a Discord user's slash command in the sandbox reaches the bot running in
bot-service (real discord.py), which asks command-service and answers in Discord."""

from __future__ import annotations

import uuid

import httpx
from pydantic import SecretStr

from proto import bots as B
from proto import commands as C
from proto import fleet as F
from tests.fixtures.infra import apoll


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
