"""Message triggers (#18): substring, prefix, equality and RE2 regular expressions; a
catastrophic pattern cannot hang matching, and what RE2 cannot run is refused at save."""

from __future__ import annotations

import time
from typing import Any

import pytest

from command_service.execution.matching import check_pattern, message_matches
from proto.automations import MessageTrigger


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
