"""Message triggers (#18): substring, prefix, equality and RE2 regular expressions; a
catastrophic pattern cannot hang matching, and what RE2 cannot run is refused at save."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from command_service.execution.matching import check_pattern, event_matches, message_matches
from proto.automations import DiscordEvent, MessageTrigger, Trigger


def trigger(**kw: Any) -> MessageTrigger:
    return MessageTrigger.model_validate({"type": "message", **kw})


@pytest.mark.parametrize(
    ("kw", "text", "matches"),
    [
        ({"pattern": "bad word"}, "that is a BAD WORD here", True),
        ({"pattern": "bad word", "case_sensitive": True}, "that is a BAD WORD here", False),
        ({"match": "starts_with", "pattern": "!hello"}, "!Hello there", True),
        ({"match": "starts_with", "pattern": "!hello"}, "say !hello", False),
        ({"match": "equals", "pattern": "ping"}, "PING", True),
        ({"match": "equals", "pattern": "ping"}, "ping!", False),
        ({"match": "regex", "pattern": r"\bfree\s+nitro\b"}, "Get FREE  nitro now", True),
        ({"match": "regex", "pattern": r"^\d{4}$"}, "12345", False),
    ],
)
def test_each_match_kind(kw: dict[str, Any], text: str, matches: bool) -> None:
    assert message_matches(trigger(**kw), text) is matches


def test_a_catastrophic_pattern_matches_a_long_message_at_once() -> None:
    evil = trigger(match="regex", pattern="(a+)+$", case_sensitive=True)
    assert check_pattern(evil) == []
    started = time.perf_counter()
    assert message_matches(evil, "a" * 3999 + "!") is False
    # Backtracking engines take longer than the age of the universe here; RE2 is linear.
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("pattern", [r"(a+)+\1", r"(?<=@)everyone", r"(?=x)y"])
def test_what_re2_cannot_run_is_a_field_error_that_says_why(pattern: str) -> None:
    errors = check_pattern(trigger(match="regex", pattern=pattern))
    assert [loc for loc, _ in errors] == [("trigger", "pattern")]
    assert "no back-references or look-around" in errors[0][1]


def test_plain_patterns_are_never_compiled() -> None:
    assert check_pattern(trigger(pattern=r"(a+)+\1")) == []


GUILD, OTHER, CHANNEL, ROLE = "1" * 18, "7" * 18, "2" * 18, "4" * 18
_TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)


def event(kind: str, **context: Any) -> DiscordEvent:
    base = {"guild": {"id": GUILD}, "channel": {"id": CHANNEL}, "user": {"id": "3" * 18},
            "member": {"roles": []}}  # fmt: skip
    return DiscordEvent(
        event_id="e", bot_id=uuid.uuid4(), workspace_id=uuid.uuid4(), type=kind,
        occurred_at=datetime.now(UTC), context={**base, **context},
    )  # fmt: skip


def starts(trigger: dict[str, Any], ev: DiscordEvent) -> bool:
    return event_matches(_TRIGGER.validate_python(trigger), ev)


def test_the_type_and_the_server_channel_and_role_filters() -> None:
    assert starts({"type": "member_join"}, event("member_join"))
    assert not starts({"type": "member_join"}, event("member_leave"))
    assert not starts({"type": "member_join", "guild_ids": [OTHER]}, event("member_join"))
    assert starts({"type": "member_join", "guild_ids": [OTHER, GUILD]}, event("member_join"))
    assert not starts({"type": "message", "pattern": "hi", "channel_ids": [OTHER]},
                      event("message", message={"content": "hi"}))  # fmt: skip
    ruled = {"type": "message", "pattern": "hi", "role_ids": [ROLE]}
    assert not starts(ruled, event("message", message={"content": "hi"}))
    assert starts(ruled, event("message", message={"content": "hi"}, member={"roles": [ROLE]}))


def test_other_bots_messages_are_ignored_unless_asked_for() -> None:
    from_bot = event("message", message={"content": "hi"}, user={"id": "8" * 18, "bot": True})
    assert not starts({"type": "message", "pattern": "hi"}, from_bot)
    assert starts({"type": "message", "pattern": "hi", "ignore_bots": False}, from_bot)


def test_reaction_roles_match_the_emoji_and_the_message() -> None:
    msg = "5" * 18
    react = event("reaction_add", reaction={"emoji": "<:party:123456789012345678>"},
                  message={"id": msg})  # fmt: skip
    assert starts({"type": "reaction_add", "emoji": "party:123456789012345678",
                   "message_id": msg}, react)  # fmt: skip
    assert not starts({"type": "reaction_add", "emoji": "👍"}, react)
    assert not starts({"type": "reaction_add", "message_id": "6" * 18}, react)
    assert not starts({"type": "reaction_remove"}, react)


def test_buttons_match_by_custom_id_prefix() -> None:
    click = event("button", button={"custom_id": "role:" + ROLE})
    assert starts({"type": "button", "custom_id_prefix": "role:"}, click)
    assert not starts({"type": "button", "custom_id_prefix": "poll:"}, click)
