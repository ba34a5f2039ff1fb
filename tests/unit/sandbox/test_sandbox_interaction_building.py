"""Building INTERACTION_CREATE from the control API's request the way Discord shapes it."""

from __future__ import annotations

from typing import Any

import pytest

from discord_sandbox import commands
from discord_sandbox.interactions import InteractionStore, build_options, create_interaction
from discord_sandbox.state import SandboxState, StateError

ROLL: dict[str, Any] = {
    "name": "roll",
    "description": "Roll",
    "options": [
        {"type": 4, "name": "sides", "description": "Sides", "required": True},
        {"type": 6, "name": "for", "description": "For whom"},
        {"type": 5, "name": "secret", "description": "Hidden"},
    ],
}


@pytest.fixture
def world() -> dict[str, Any]:
    state = SandboxState()
    app = state.create_application("Builder Bot")
    person = state.create_user("builder")
    guild = state.create_guild("Builder guild", [person.id])
    state.install(guild, app)
    commands.upsert(state, app, None, ROLL)
    commands.upsert(state, app, None, {"name": "Profile", "type": 2, "description": ""})
    return {
        "state": state,
        "app": app,
        "person": person,
        "guild": guild,
        "store": InteractionStore(),
    }


def test_dict_options_are_typed_from_the_registered_command(world: dict[str, Any]) -> None:
    body = {
        "guild_id": world["guild"].id,
        "user_id": world["person"].id,
        "name": "roll",
        "options": {"sides": "20", "for": world["person"].id, "secret": "true"},
    }
    record, payload = create_interaction(world["state"], world["store"], world["app"], body)
    data = payload["data"]
    assert data["name"] == "roll"
    assert data["type"] == 1
    assert data["options"] == [
        {"name": "sides", "type": 4, "value": 20},
        {"name": "for", "type": 6, "value": str(world["person"].id)},
        {"name": "secret", "type": 5, "value": True},
    ]
    assert str(world["person"].id) in data["resolved"]["users"]
    assert str(world["person"].id) in data["resolved"]["members"]
    assert payload["token"] == record.token
    assert payload["member"]["user"]["id"] == str(world["person"].id)
    assert int(payload["member"]["permissions"]) > 0
    assert payload["channel"]["id"] == str(world["guild"].channel_ids[0])
    assert payload["attachment_size_limit"] > 0


def test_autocomplete_marks_the_focused_option(world: dict[str, Any]) -> None:
    body = {
        "guild_id": world["guild"].id,
        "user_id": world["person"].id,
        "name": "roll",
        "type": 4,
        "options": {"sides": 6},
        "focused": "sides",
    }
    _, payload = create_interaction(world["state"], world["store"], world["app"], body)
    assert payload["type"] == 4
    assert payload["data"]["options"] == [
        {"name": "sides", "type": 4, "value": "6", "focused": True}
    ]


def test_user_context_menu_resolves_its_target(world: dict[str, Any]) -> None:
    body = {
        "guild_id": world["guild"].id,
        "user_id": world["person"].id,
        "name": "Profile",
        "target_id": world["person"].id,
    }
    _, payload = create_interaction(world["state"], world["store"], world["app"], body)
    assert payload["data"]["type"] == 2
    assert payload["data"]["target_id"] == str(world["person"].id)
    assert str(world["person"].id) in payload["data"]["resolved"]["users"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"nope": 1}, "no option"), ({"sides": "many"}, "wrong type")],
)
def test_bad_options_are_refused(
    world: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(StateError, match=message):
        build_options(ROLL["options"], options)


def test_unknown_command_and_uninstalled_app_are_refused(world: dict[str, Any]) -> None:
    state = world["state"]
    with pytest.raises(StateError) as unknown:
        create_interaction(
            state,
            world["store"],
            world["app"],
            {"guild_id": world["guild"].id, "user_id": world["person"].id, "name": "nope"},
        )
    assert unknown.value.status == 404
    other = state.create_guild("Other guild", [world["person"].id])
    with pytest.raises(StateError) as not_installed:
        create_interaction(
            state,
            world["store"],
            world["app"],
            {"guild_id": other.id, "user_id": world["person"].id, "name": "roll"},
        )
    assert not_installed.value.status == 409
