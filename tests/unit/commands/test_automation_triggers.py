"""The trigger manifest (#18): which events bot-service forwards for a bot and the intents
they need, from the bot's enabled automations only."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import TypeAdapter

from command_service.execution.triggers import trigger_manifest
from proto.automations import Trigger

BOT = uuid.uuid4()
_TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)


def triggers(*items: dict[str, Any]) -> list[Trigger]:
    return [_TRIGGER.validate_python(t) for t in items]


def test_no_automation_forwards_nothing_and_needs_no_intent() -> None:
    empty = trigger_manifest(BOT, [])
    assert (empty.events, empty.intents, empty.button_prefixes) == ([], 0, [])


def test_events_intents_and_button_prefixes_of_the_enabled_triggers() -> None:
    made = trigger_manifest(
        BOT,
        triggers(
            {"type": "member_join"},
            {"type": "message", "pattern": "hi"},
            {"type": "button", "custom_id_prefix": "role:"},
            {"type": "button", "custom_id_prefix": "poll:"},
            {"type": "schedule", "every_minutes": 5},
        ),
    )
    assert made.events == ["button", "member_join", "message"]
    members, messages, content = 1 << 1, 1 << 9, 1 << 15
    assert made.intents == members | messages | content
    assert made.button_prefixes == ["poll:", "role:"]


def test_the_hash_changes_only_when_what_is_forwarded_changes() -> None:
    one = trigger_manifest(BOT, triggers({"type": "member_join", "guild_ids": ["1" * 18]}))
    same = trigger_manifest(BOT, triggers({"type": "member_join"}, {"type": "member_join"}))
    other = trigger_manifest(BOT, triggers({"type": "member_leave"}))
    assert one.hash == same.hash
    assert other.hash != one.hash
