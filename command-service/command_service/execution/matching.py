"""Does a message match a `message` trigger (#18)?

Regular expressions run on RE2 (linear time, no backtracking): a pattern like `(a+)+$`
cannot hang a replica, whatever the message. What RE2 cannot run (back-references,
look-around) is refused when the automation is saved, with a field error saying so.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from proto.automations import MessageTrigger
from proto.commands import Loc

# Memory RE2 may use to compile one pattern (its default is 8 MiB); a pattern needing more
# is refused at save.
_MAX_MEM = 1 << 20
# A Discord message is at most 4,000 characters; anything longer is cut before matching.
_MAX_INPUT = 4000


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.max_mem = _MAX_MEM
    options.log_errors = False
    return options


@lru_cache(maxsize=4096)
def _compiled(pattern: str, case_sensitive: bool) -> Any:
    return re2.compile(pattern, _options(case_sensitive))


def check_pattern(trigger: MessageTrigger) -> list[tuple[Loc, str]]:
    """A field error when RE2 cannot compile a `regex` trigger's pattern."""
    if trigger.match != "regex":
        return []
    try:
        _compiled(trigger.pattern, trigger.case_sensitive)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        return [
            (
                ("trigger", "pattern"),
                f"cannot be used: {reason} (patterns run on RE2, which has no back-references "
                "or look-around, so that no message can make matching slow)",
            )
        ]
    return []


def message_matches(trigger: MessageTrigger, content: str) -> bool:
    text = content[:_MAX_INPUT]
    if trigger.match == "regex":
        return _compiled(trigger.pattern, trigger.case_sensitive).search(text) is not None
    pattern = trigger.pattern
    if not trigger.case_sensitive:
        text, pattern = text.casefold(), pattern.casefold()
    if trigger.match == "contains":
        return pattern in text
    if trigger.match == "starts_with":
        return text.startswith(pattern)
    return text == pattern
