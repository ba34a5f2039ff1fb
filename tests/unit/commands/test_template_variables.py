"""Template variables: what the contract advertises (TEMPLATE_VARIABLES) is what a render
gets, and a template using anything else is flagged (a warning, not a refusal)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from command_service.bot_setup import BotSetup
from command_service.execution.executor import Executor
from command_service.execution.templates import Renderer
from command_service.execution.variables import prompt_warnings, undefined_in, warnings_of
from proto.commands import (
    TEMPLATE_VARIABLES,
    BotInfo,
    ChannelInfo,
    CommandIn,
    CommandManifest,
    GuildInfo,
    Invocation,
    Invoker,
    PromptIn,
)

INVOCATION = Invocation(
    kind="prefix",
    name="greet",
    options={"who": "Ada"},
    user=Invoker(
        id="11",
        username="grace",
        display_name="Grace H.",
        avatar_url="https://cdn.example/a.png",
        roles=["21"],
        role_names=["Moderators"],
    ),
    guild_id="31",
    channel_id="41",
    target_id="51",
    content="!greet Ada",
    locale="en-US",
    guild=GuildInfo(id="31", name="Sandbox Server", member_count=7),
    channel=ChannelInfo(id="41", name="general"),
    bot=BotInfo(id="61", name="Helper"),
)


def _cmd(content: str, **extra: Any) -> CommandIn:
    body: dict[str, Any] = {
        "kind": "slash",
        "name": "greet",
        "description": "says hi",
        "response": {"type": "template", "content": content},
        **extra,
    }
    return CommandIn.model_validate(body)


def _setup() -> BotSetup:
    bot_id = uuid.uuid4()
    return BotSetup(
        bot_id=bot_id,
        workspace_id=None,
        prefix="!",
        commands=[],
        prompts={},
        connections={},
        manifest=CommandManifest(bot_id=bot_id, hash="h"),
    )


@pytest.fixture
async def renderer() -> AsyncIterator[Renderer]:
    r = Renderer(timeout_s=0.5, max_output=5000, workers=1)
    yield r
    r.close()


async def test_every_advertised_variable_renders_a_value(renderer: Renderer) -> None:
    """The editor's list comes from TEMPLATE_VARIABLES: each path exists in a render."""
    spec = _cmd("x", options=[{"name": "who", "description": "who", "type": "string"}])
    variables = Executor._variables(_setup(), spec, INVOCATION, {"who": "Ada"}, ["Ada"])
    variables |= {"data": {"a": 1}, "status": 200, "text": "{}", "vars": {"NAME": "v"}}
    for var in TEMPLATE_VARIABLES:
        path = var.path.replace("options.NAME", "options.who")
        out = await renderer.render("{{ " + path + " }}", variables)
        assert out not in ("", "None"), var.path


async def test_guild_channel_bot_and_user_render_the_invocations_names(
    renderer: Renderer,
) -> None:
    variables = Executor._variables(_setup(), _cmd("x"), INVOCATION, {}, [])
    text = (
        "Hi {{ user.display_name }}! Welcome to {{ guild.name }} ({{ guild.member_count }}) "
        "#{{ channel.name }}, from {{ bot.name }} {{ user.role_names|join(',') }}"
    )
    assert await renderer.render(text, variables) == (
        "Hi Grace H.! Welcome to Sandbox Server (7) #general, from Helper Moderators"
    )


def test_undefined_variables_are_found_with_their_attribute() -> None:
    spec = _cmd(
        "{{ guild.nmae }} {{ guild.name }} {{ nope }} {{ user['avatar'] }} {{ options.x }} "
        "{% for r in user.roles %}{{ r }}{% endfor %}{% set y = 1 %}{{ y }} {{ range(2)|list }}"
    )
    warnings = warnings_of(spec)
    assert [w.split("{{ ")[1].split(" }}")[0] for w in warnings] == [
        "nope",
        "guild.nmae",
        "user.avatar",
        "options.x",
    ]
    assert warnings[0].startswith("the reply template uses {{ nope }}")
    assert "renders empty" in warnings[0]
    assert "no such option" in warnings[3]


def test_known_variables_and_http_data_are_not_flagged() -> None:
    assert warnings_of(_cmd("{{ guild.name }} {{ channel.name }} {{ bot.name }} {{ now }}")) == []
    http = CommandIn.model_validate(
        {
            "kind": "slash",
            "name": "weather",
            "description": "d",
            "response": {
                "type": "http",
                "connection_id": str(uuid.uuid4()),
                "path": "/w/{{ user.id }}",
                "content": "{{ data.temp.value }} {{ status }} {{ result }}",
            },
        }
    )
    assert [w.split("{{ ")[1].split(" }}")[0] for w in warnings_of(http)] == ["result"]
    # a context-menu command has a target; a slash command does not
    assert undefined_in("{{ target.id }}", {"user": set()}) == ["target"]
    assert warnings_of(_cmd("{{ target.id }}")) != []


def _paths(warnings: list[str]) -> list[str]:
    return [w.split("{{ ")[1].split(" }}")[0] for w in warnings]


def test_prompt_templates_are_checked_alone() -> None:
    """A prompt's system/user templates are flagged like a command's (issue 16): at save the
    prompt may serve any command, so options and prefix words pass; `vars.NAME` must be one
    of its variables."""
    prompt = PromptIn(
        name="ask",
        model="m",
        system="You help in {{ guild.nmae }} for {{ bot.name }}; tone: {{ vars.tone }}",
        user="{{ options.question }} {{ args }} {{ vars.topic }} {{ usr.name }} {{ data }}",
        variables={"tone": "kind"},
    )
    warnings = prompt_warnings(prompt)
    assert _paths(warnings) == ["guild.nmae", "usr", "data", "vars.topic"]
    assert warnings[0].startswith("the prompt's system message uses {{ guild.nmae }}")
    assert "renders empty" in warnings[0]
    assert warnings[3].endswith("(add it to the prompt's variables)")
    clean = PromptIn(name="ok", model="m", user="{{ user.display_name }}: {{ options.q }}")
    assert prompt_warnings(clean) == []


def test_prompt_templates_are_checked_with_the_command_using_them() -> None:
    """In a command's preview and save, the prompt sees that command's options and the
    `vars` the command sets."""
    prompt = PromptIn(
        name="ask",
        model="m",
        user="{{ options.question }} {{ options.q }} {{ vars.v }} {{ vars.w }}",
    )
    cmd = CommandIn.model_validate(
        {
            "kind": "slash",
            "name": "ask",
            "description": "d",
            "options": [{"name": "question", "description": "q", "type": "string"}],
            "response": {
                "type": "ai",
                "connection_id": str(uuid.uuid4()),
                "prompt_id": str(uuid.uuid4()),
                "variables": {"v": "{{ user.name }}"},
            },
        }
    )
    warnings = prompt_warnings(prompt, cmd)
    assert _paths(warnings) == ["options.q", "vars.w"]
    assert warnings[0].startswith("the prompt ask's user message uses {{ options.q }}")
    assert "no such option" in warnings[0]
    assert "neither the prompt nor the command sets it" in warnings[1]
