"""Smoke: a slash command is created for an owned bot and answered over rpc.command.execute."""

from __future__ import annotations

from proto import commands as C
from tests.fixtures.infra import apoll


async def test_create_and_execute_a_template_command(call, owned_bot, command_events) -> None:
    cmd = await call(
        C.CREATE,
        C.CreateCommand(
            bot_id=owned_bot.bot_id,
            command=C.CommandIn.model_validate(
                {
                    "name": "hello",
                    "description": "says hello",
                    "options": [
                        {"type": "string", "name": "who", "description": "who", "required": True}
                    ],
                    "response": {
                        "type": "template",
                        "content": "Hello {{ options.who }} from {{ user.mention }}",
                    },
                }
            ),
        ),
        owned_bot.owner,
    )
    assert cmd.name == "hello"
    reply = await call(
        C.EXECUTE,
        C.ExecuteCommand(
            bot_id=owned_bot.bot_id,
            invocation=C.Invocation(
                kind="slash",
                name="hello",
                options={"who": "world"},
                user=C.Invoker(id="42", username="ann"),
                guild_id="1" * 18,
            ),
        ),
        None,
    )
    assert reply.outcome == "ok"
    assert reply.content == "Hello world from <@42>"
    executed = await apoll(lambda: command_events.of("executed"), what="executed event")
    assert executed[0]["outcome"] == "ok"
