"""Application-command validation and the create/upsert/bulk-overwrite rules."""

from __future__ import annotations

from typing import Any

import pytest

from discord_sandbox import commands
from discord_sandbox.errors import DiscordError
from discord_sandbox.state import SandboxState


def _command(name: str = "roll", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "Roll dice", **extra}


@pytest.fixture
def world() -> tuple[SandboxState, Any]:
    state = SandboxState()
    return state, state.create_application("Rules Bot")


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (_command("Roll"), ["name"]),
        (_command("has space"), ["name"]),
        (_command("x" * 33), ["name"]),
        ({"name": "roll", "description": ""}, ["description"]),
        ({"name": "Greet", "type": 2, "description": "menus have none"}, ["description"]),
        (
            _command(
                options=[
                    {"type": 3, "name": "a", "description": "a"},
                    {"type": 3, "name": "b", "description": "b", "required": True},
                ]
            ),
            ["options", "1", "required"],
        ),
        (
            _command(
                options=[
                    {"type": 1, "name": "sub", "description": "s"},
                    {"type": 3, "name": "plain", "description": "p"},
                ]
            ),
            ["options"],
        ),
        (
            _command(
                options=[
                    {
                        "type": 5,
                        "name": "flag",
                        "description": "f",
                        "choices": [{"name": "y", "value": 1}],
                    }
                ]
            ),
            ["options", "0", "choices"],
        ),
        (
            _command(
                options=[
                    {"type": 3, "name": "dup", "description": "d"},
                    {"type": 3, "name": "dup", "description": "d"},
                ]
            ),
            ["options", "1", "name"],
        ),
        ({"name": "roll", "description": "x", "type": 9}, ["type"]),
    ],
)
def test_invalid_commands_are_refused_with_discords_error_tree(
    payload: dict[str, Any], path: list[str]
) -> None:
    _, errors = commands.validate(payload)
    node: Any = errors
    for part in path:
        assert part in node, f"expected an error at {path}, got {errors}"
        node = node[part]
    assert node["_errors"][0]["code"]


def test_valid_command_with_subcommands() -> None:
    fields, errors = commands.validate(
        _command(
            options=[
                {
                    "type": 2,
                    "name": "group",
                    "description": "g",
                    "options": [
                        {
                            "type": 1,
                            "name": "sub",
                            "description": "s",
                            "options": [{"type": 4, "name": "n", "description": "n"}],
                        }
                    ],
                }
            ]
        )
    )
    assert errors == {}
    assert fields["options"][0]["options"][0]["name"] == "sub"


def test_upsert_creates_then_overwrites_same_name(world: tuple[SandboxState, Any]) -> None:
    state, app = world
    created, was_new = commands.upsert(state, app, None, _command())
    again, was_new_again = commands.upsert(state, app, None, _command(description="Roll better"))
    assert was_new is True
    assert was_new_again is False
    assert again.id == created.id
    assert again.description == "Roll better"
    assert int(again.version) > int(created.id) - 1


def test_bulk_overwrite_keeps_ids_of_kept_commands_and_drops_the_rest(
    world: tuple[SandboxState, Any],
) -> None:
    state, app = world
    first = commands.bulk_overwrite(state, app, None, [_command("a"), _command("b")])
    second = commands.bulk_overwrite(state, app, None, [_command("b"), _command("c")])
    ids = {c.name: c.id for c in first}
    assert {c.name for c in second} == {"b", "c"}
    assert next(c for c in second if c.name == "b").id == ids["b"]
    assert {c.name for c in app.commands.values()} == {"b", "c"}


def test_bulk_overwrite_refuses_duplicates_atomically(world: tuple[SandboxState, Any]) -> None:
    state, app = world
    commands.bulk_overwrite(state, app, None, [_command("keep")])
    with pytest.raises(DiscordError) as refused:
        commands.bulk_overwrite(state, app, None, [_command("x"), _command("x")])
    assert refused.value.status == 400
    assert refused.value.code == 50035
    assert [c.name for c in app.commands.values()] == ["keep"]


def test_guild_commands_shadow_global_ones(world: tuple[SandboxState, Any]) -> None:
    state, app = world
    guild = state.create_guild("Shadow guild", [])
    state.install(guild, app)
    global_cmd, _ = commands.upsert(state, app, None, _command("info"))
    guild_cmd, _ = commands.upsert(state, app, guild.id, _command("info"))
    assert commands.find(app, "info", guild.id) is guild_cmd
    assert commands.find(app, "info", None) is global_cmd
    assert commands.find(app, "missing", guild.id) is None


def test_command_count_limit(world: tuple[SandboxState, Any]) -> None:
    state, app = world
    with pytest.raises(DiscordError) as refused:
        commands.bulk_overwrite(state, app, None, [_command(f"c{i}") for i in range(101)])
    assert refused.value.code == 30032
