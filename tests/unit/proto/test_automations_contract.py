"""The automations contract (#18): triggers, steps and their limits are refused at the
boundary with a field location, so the console can put each error at its field."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from proto import automations as A
from proto.catalog import REGISTRY

ROLE = "123456789012345678"


def welcome(**over: Any) -> dict[str, Any]:
    return {
        "name": "welcome",
        "trigger": {"type": "member_join"},
        "actions": [{"type": "send_message", "content": "Welcome {{ user.name }}!"}],
        **over,
    }


def locs(err: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [tuple(e["loc"]) for e in err.value.errors()]


def nested(levels: int) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "stop"}
    for _ in range(levels):
        step = {"type": "condition", "if": "true", "then": [step]}
    return step


def test_a_welcome_with_a_condition_keeps_the_wire_names_if_and_else() -> None:
    body = welcome(
        actions=[
            {"type": "send_message", "name": "hello", "content": "Hi"},
            {"type": "condition", "if": "member.roles | length == 0",
             "then": [{"type": "add_role", "role_id": ROLE}],
             "else": [{"type": "stop"}]},
        ]
    )  # fmt: skip
    made = A.AutomationIn.model_validate(body)
    wire = made.model_dump(mode="json")
    condition = wire["actions"][1]
    assert condition["if"] == "member.roles | length == 0"
    assert condition["else"] == [{"name": None, "type": "stop"}]
    assert not {"if_", "else_"} & set(condition)
    assert A.AutomationIn.model_validate_json(made.model_dump_json()) == made


def test_twenty_six_steps_counting_nested_ones_are_refused() -> None:
    flat = [{"type": "stop"}] * 25
    A.AutomationIn.model_validate(welcome(actions=flat))
    # 24 at the top and a condition holding one more: 26 in all.
    over = [{"type": "stop"}] * 24 + [{"type": "condition", "if": "1", "then": [{"type": "stop"}]}]
    with pytest.raises(ValidationError) as err:
        A.AutomationIn.model_validate(welcome(actions=over))
    assert ("actions",) in locs(err)
    assert "at most 25 steps" in str(err.value)


def test_a_condition_nested_six_deep_is_refused_five_is_fine() -> None:
    A.AutomationIn.model_validate(welcome(actions=[nested(5)]))
    with pytest.raises(ValidationError) as err:
        A.AutomationIn.model_validate(welcome(actions=[nested(6)]))
    assert "nested at most 5 deep" in str(err.value)
    where = locs(err)[0]
    assert (where[:2], where.count("then")) == (("actions", 0), 5)


def test_a_step_name_used_twice_points_at_the_second() -> None:
    steps = [
        {"type": "http", "name": "weather",
         "connection_id": "00000000-0000-0000-0000-000000000001"},
        {"type": "condition", "if": "true",
         "then": [{"type": "send_message", "name": "weather", "content": "x"}]},
    ]  # fmt: skip
    with pytest.raises(ValidationError) as err:
        A.AutomationIn.model_validate(welcome(actions=steps))
    assert ("actions", 1, "then", 0, "name") in locs(err)


@pytest.mark.parametrize(
    ("trigger", "where", "words"),
    [
        ({"type": "schedule", "timezone": "UTC"}, "cron", "exactly one of"),
        ({"type": "schedule", "cron": "0 9 * * 1-5", "every_minutes": 5}, "cron", "exactly one"),
        ({"type": "schedule", "cron": "0 9 * *"}, "cron", "five fields"),
        ({"type": "schedule", "every_minutes": 0}, "every_minutes", "greater than or equal"),
        ({"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone",
         "is not a time zone"),
        ({"type": "message", "pattern": ""}, "pattern", "at least 1"),
        ({"type": "message", "pattern": "x" * 501}, "pattern", "at most 500"),
        ({"type": "button", "custom_id_prefix": ""}, "custom_id_prefix", "at least 1"),
        ({"type": "member_join", "guild_ids": ["general"]}, "guild_ids", "pattern"),
    ],
)
def test_bad_triggers_are_field_errors(trigger: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        A.AutomationIn.model_validate(welcome(trigger=trigger))
    assert any(where in loc for loc in locs(err)), locs(err)
    assert words in str(err.value)


def test_a_schedule_in_berlin_on_weekdays_is_accepted() -> None:
    made = A.AutomationIn.model_validate(
        welcome(trigger={"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin",
                         "missed": "run_once", "channel_id": ROLE})
    )  # fmt: skip
    assert isinstance(made.trigger, A.ScheduleTrigger)
    assert made.trigger.missed == "run_once"


@pytest.mark.parametrize(
    ("step", "where", "words"),
    [
        ({"type": "send_message"}, "content", "content or at least one embed"),
        ({"type": "send_message", "content": "x", "channel_id": ROLE, "user_id": ROLE}, "user_id",
         "not both"),
        ({"type": "add_role", "role_id": "moderators"}, "role_id", "a Discord id"),
        ({"type": "timeout_member", "duration_s": 28 * 86_400 + 1}, "duration_s", "less than"),
        ({"type": "set_variable", "key": "Bad-Key", "value": "1"}, "key", "pattern"),
        ({"type": "set_variable", "key": "k", "value": "x" * 4097}, "value", "at most 4096"),
        ({"type": "send_message", "content": "x",
          "components": [{"buttons": [{"label": "Go", "style": "link"}]}]}, "url", "link button"),
        ({"type": "send_message", "content": "x",
          "components": [{"buttons": [{"label": "Go"}]}]}, "custom_id", "needs a custom_id"),
        ({"type": "explode"}, "actions", "does not match any of the expected tags"),
    ],
)
def test_bad_steps_are_field_errors(step: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        A.AutomationIn.model_validate(welcome(actions=[step]))
    assert any(where in loc for loc in locs(err)), locs(err)
    assert words in str(err.value)


def test_ids_may_be_templates() -> None:
    made = A.AutomationIn.model_validate(
        welcome(actions=[
            {"type": "add_role", "role_id": "{{ vars.member_role }}", "user_id": "{{ user.id }}"},
            {"type": "send_message", "content": "psst", "user_id": "{{ user.id }}"},
        ])
    )  # fmt: skip
    assert isinstance(made.actions[0], A.AddRoleStep)
    assert made.actions[0].role_id == "{{ vars.member_role }}"


def test_every_trigger_type_says_which_intents_it_needs() -> None:
    assert set(A.TRIGGER_INTENTS) == set(get_args(A.TriggerType))
    assert A.TRIGGER_INTENTS["member_join"] == 1 << 1  # GUILD_MEMBERS
    assert A.TRIGGER_INTENTS["message"] & (1 << 15)  # MESSAGE_CONTENT


def test_the_subjects_are_declared_ahead_of_their_handlers() -> None:
    planned = set(REGISTRY.planned)
    assert {"rpc.command.automation.test", "rpc.command.triggers.manifest"} <= planned
    # Served by command-service since slice V, the act by bot-service since slice F.
    assert {"rpc.command.automation.create", "rpc.command.variable.put",
            "rpc.bot.runtime.act"} <= set(REGISTRY.rpcs)  # fmt: skip
    assert not planned & set(REGISTRY.rpcs)
    assert "evt.automation.*.*.run" in REGISTRY.events
