"""Does a forwarded event start an automation (#18)? The trigger's type and filters, and
for a `message` trigger whether the text matches.

Regular expressions run on RE2 (linear time, no backtracking): a pattern like `(a+)+$`
cannot hang a replica, whatever the message. What RE2 cannot run (back-references,
look-around) is refused when the automation is saved, with a field error saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import re2

from proto.automations import (
    ButtonTrigger,
    DiscordEvent,
    GuildJoinTrigger,
    MessageTrigger,
    ReactionAddTrigger,
    ReactionRemoveTrigger,
    ScheduleTrigger,
    Trigger,
)
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


def _ids(value: Any) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list | tuple | set) else set()


def _part(context: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = context.get(name)
    return found if isinstance(found, Mapping) else {}


def _emoji_matches(wanted: str, got: str) -> bool:
    """`<:name:id>`, `name:id` and a bare id all name the same custom emoji."""
    if wanted == got:
        return True
    return wanted.strip("<>").split(":")[-1] == got.strip("<>").split(":")[-1] != ""


def event_matches(trigger: Trigger, event: DiscordEvent) -> bool:
    """Does this forwarded event start an automation with this trigger (type, the server,
    channel and role filters, and the trigger's own conditions)?"""
    if trigger.type != event.type or isinstance(trigger, GuildJoinTrigger | ScheduleTrigger):
        return trigger.type == event.type
    ctx = event.context
    guild, channel = _part(ctx, "guild"), _part(ctx, "channel")
    if trigger.guild_ids and str(guild.get("id")) not in trigger.guild_ids:
        return False
    if trigger.channel_ids and str(channel.get("id")) not in trigger.channel_ids:
        return False
    if trigger.role_ids and not _ids(_part(ctx, "member").get("roles")) & set(trigger.role_ids):
        return False
    if isinstance(trigger, MessageTrigger):
        if trigger.ignore_bots and _part(ctx, "user").get("bot"):
            return False
        return message_matches(trigger, str(_part(ctx, "message").get("content") or ""))
    if isinstance(trigger, ReactionAddTrigger | ReactionRemoveTrigger):
        reaction, message = _part(ctx, "reaction"), _part(ctx, "message")
        if trigger.message_id and str(message.get("id")) != trigger.message_id:
            return False
        return trigger.emoji is None or _emoji_matches(trigger.emoji, str(reaction.get("emoji")))
    if isinstance(trigger, ButtonTrigger):
        custom_id = str(_part(ctx, "button").get("custom_id") or "")
        return custom_id.startswith(trigger.custom_id_prefix)
    return True
