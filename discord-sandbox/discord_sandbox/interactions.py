"""Interactions: building INTERACTION_CREATE like Discord does, and recording the bot's answer.

An `InteractionRecord` follows one interaction from dispatch through its callback, original
response edits and follow-ups, and knows when the answer is final (what
`GET /_sandbox/interactions/{id}?wait=S` waits for).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import commands as command_rules
from .payloads import (
    channel_payload,
    interaction_member_payload,
    message_payload,
    role_payload,
    user_payload,
)
from .state import Application, Channel, Guild, Member, Message, SandboxState, StateError, User

# Interaction types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Callback types.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE = 1, 4, 5, 6
UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 7, 8, 9
FINAL_CALLBACKS = frozenset({PONG, CHANNEL_MESSAGE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL})
DEFERRED_CALLBACKS = frozenset({DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE})
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    PING: frozenset({PONG}),
    APPLICATION_COMMAND: frozenset({4, 5, 9, 10, 12}),
    MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9, 10, 12}),
    AUTOCOMPLETE: frozenset({8}),
    MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}
EPHEMERAL = 1 << 6
LOADING = 1 << 7
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass(slots=True)
class InteractionRecord:
    id: int
    token: str
    application_id: int
    guild_id: int
    channel_id: int
    user_id: int
    type: int
    name: str | None
    data: dict[str, Any]
    message_id: int | None = None  # the message a component lives on
    created_mono: float = field(default_factory=time.monotonic)
    created_wall: float = field(default_factory=time.time)
    callback_type: int | None = None
    callback_mono: float | None = None
    callback_data: dict[str, Any] | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    answered_at: float | None = None
    final: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def deferred(self) -> bool:
        return self.callback_type in DEFERRED_CALLBACKS

    def mark_final(self) -> None:
        if not self.final.is_set():
            self.answered_at = time.time()
            self.final.set()

    def result(self, state: SandboxState) -> dict[str, Any]:
        original = self.original
        shown = original
        if shown is None and self.followups:
            shown = self.followups[0]
        data = self.callback_data or {}
        content = shown.content if shown is not None else data.get("content")
        embeds = shown.embeds if shown is not None else data.get("embeds", [])
        flags = shown.flags if shown is not None else int(data.get("flags") or 0)
        result: dict[str, Any] = {
            "interaction_id": str(self.id),
            "type": self.type,
            "name": self.name,
            "callback_type": self.callback_type,
            "content": content,
            "embeds": embeds or [],
            "components": (shown.components if shown is not None else data.get("components")) or [],
            "flags": flags,
            "ephemeral": bool(flags & EPHEMERAL),
            "deferred": self.deferred,
            "followups": [message_payload(state, m) for m in self.followups],
            "edits": self.edits,
            "latency_ms": (
                None
                if self.callback_mono is None
                else round((self.callback_mono - self.created_mono) * 1000, 3)
            ),
            "answered_at": None if self.answered_at is None else iso(self.answered_at),
            "message_id": None if original is None else str(original.id),
        }
        if self.callback_type == AUTOCOMPLETE_RESULT:
            result["choices"] = data.get("choices", [])
        if self.callback_type == MODAL:
            result["modal"] = data
        return result


class InteractionStore:
    def __init__(self) -> None:
        self.by_id: dict[int, InteractionRecord] = {}
        self.by_token: dict[str, InteractionRecord] = {}

    def add(self, record: InteractionRecord) -> None:
        self.by_id[record.id] = record
        self.by_token[record.token] = record
        if len(self.by_id) > 20_000:  # bounded: drop the oldest half
            for key in list(self.by_id)[:10_000]:
                old = self.by_id.pop(key)
                self.by_token.pop(old.token, None)


def _coerce(value: Any, kind: int) -> Any:
    if kind == 4:
        return int(value)
    if kind == 10:
        return float(value)
    if kind == 5:
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if kind in (6, 7, 8, 9, 11):
        return str(value)
    return str(value)


def build_options(definitions: list[dict[str, Any]], given: Any) -> list[dict[str, Any]]:
    """Accept Discord's option list as is, or `{name: value}` (nested dicts for
    sub-commands) typed from the registered command's option definitions."""
    if given is None:
        return []
    if isinstance(given, list):
        return given
    if not isinstance(given, dict):
        raise StateError(400, "options must be an object {name: value} or Discord's option list")
    out: list[dict[str, Any]] = []
    by_name = {d.get("name"): d for d in definitions}
    for name, value in given.items():
        definition = by_name.get(name)
        if definition is None:
            raise StateError(400, f"the command has no option {name!r}")
        kind = int(definition.get("type", 3))
        if kind in (1, 2):
            out.append(
                {
                    "name": name,
                    "type": kind,
                    "options": build_options(definition.get("options", []), value or {}),
                }
            )
        else:
            try:
                out.append({"name": name, "type": kind, "value": _coerce(value, kind)})
            except (TypeError, ValueError):
                raise StateError(400, f"option {name!r} has a value of the wrong type") from None
    return out


def _leaf_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for option in options:
        if option.get("type") in (1, 2):
            return _leaf_options(option.get("options", []))
    return options


def mark_focused(options: list[dict[str, Any]], focused: str | None) -> None:
    leaves = _leaf_options(options)
    if not leaves:
        return
    target = next((o for o in leaves if o.get("name") == focused), leaves[-1])
    target["focused"] = True
    target["value"] = str(target.get("value", ""))


def _resolve_ids(
    state: SandboxState,
    guild: Guild,
    options: list[dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
) -> None:
    for option in _leaf_options(options):
        kind, value = option.get("type"), option.get("value")
        if value is None:
            continue
        try:
            target = int(value)
        except (TypeError, ValueError):
            continue
        if kind in (6, 9) and target in state.users:
            _resolve_user(state, guild, state.users[target], resolved)
        if kind in (8, 9) and target in guild.roles:
            resolved.setdefault("roles", {})[str(target)] = role_payload(guild.roles[target])
        if kind == 7 and target in state.channels:
            channel = channel_payload(state.channels[target])
            channel["permissions"] = str((1 << 53) - 1)
            resolved.setdefault("channels", {})[str(target)] = channel


def _resolve_user(
    state: SandboxState, guild: Guild, user: User, resolved: dict[str, dict[str, Any]]
) -> None:
    resolved.setdefault("users", {})[str(user.id)] = user_payload(user)
    member = guild.members.get(user.id)
    if member is not None:
        data = interaction_member_payload(state, guild, member)
        data.pop("user", None)
        resolved.setdefault("members", {})[str(user.id)] = data


def create_interaction(
    state: SandboxState,
    store: InteractionStore,
    app: Application,
    body: dict[str, Any],
) -> tuple[InteractionRecord, dict[str, Any]]:
    """Build the record and the INTERACTION_CREATE payload from a control-API request."""
    guild = state.get_guild(int(body["guild_id"]))
    if app.id not in guild.application_ids:
        raise StateError(409, "the application is not installed in this guild")
    channel = _interaction_channel(state, guild, body)
    user = state.get_user(int(body["user_id"]))
    member = state.add_member(guild, user)
    kind = int(body.get("type", APPLICATION_COMMAND))
    name = body.get("name")
    data, message = _interaction_data(state, app, guild, kind, body)
    record = InteractionRecord(
        id=state.snowflakes.next(),
        token=f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(48)}",
        application_id=app.id,
        guild_id=guild.id,
        channel_id=channel.id,
        user_id=user.id,
        type=kind,
        name=str(name) if name else data.get("custom_id"),
        data=data,
        message_id=None if message is None else message.id,
    )
    payload = _interaction_payload(state, app, guild, channel, member, record, message)
    store.add(record)
    return record, payload


def _interaction_channel(state: SandboxState, guild: Guild, body: dict[str, Any]) -> Channel:
    """The channel named in the request, else the guild's first one."""
    if body.get("channel_id") is not None:
        channel = state.get_channel(int(body["channel_id"]))
        if channel.guild_id != guild.id:
            raise StateError(400, "the channel is not in this guild")
        return channel
    if guild.channel_ids:
        return state.channels[guild.channel_ids[0]]
    raise StateError(400, "the guild has no channel")


def _interaction_data(
    state: SandboxState, app: Application, guild: Guild, kind: int, body: dict[str, Any]
) -> tuple[dict[str, Any], Message | None]:
    """The interaction's `data` object, and the message it came from (components, modals)."""
    if kind in (APPLICATION_COMMAND, AUTOCOMPLETE):
        return _command_data(state, app, guild, kind, body), None
    if kind == MESSAGE_COMPONENT:
        return _component_data(state, body)
    if kind == MODAL_SUBMIT:
        return _modal_data(state, body)
    if kind == PING:
        # Discord pings only HTTP interaction endpoints; the sandbox can send one over the
        # gateway so a client's PONG (callback type 1) can be exercised too.
        return {}, None
    raise StateError(
        400,
        "type must be 1 (ping), 2 (command), 3 (component), 4 (autocomplete) or 5 (modal)",
    )


def _command_data(
    state: SandboxState, app: Application, guild: Guild, kind: int, body: dict[str, Any]
) -> dict[str, Any]:
    name = body.get("name")
    if not name:
        raise StateError(400, "name is required for application commands")
    command_type = body.get("command_type")
    command = command_rules.find(
        app, str(name), guild.id, int(command_type) if command_type else None
    )
    if command is None:
        raise StateError(404, f"the application has no command named {name!r} here")
    data: dict[str, Any] = {"id": str(command.id), "name": command.name, "type": command.type}
    if command.guild_id is not None:
        data["guild_id"] = str(command.guild_id)
    resolved: dict[str, dict[str, Any]] = {}
    if command.type == 1:
        options = build_options(command.options, body.get("options"))
        if kind == AUTOCOMPLETE:
            mark_focused(options, body.get("focused"))
        if options:
            data["options"] = options
        _resolve_ids(state, guild, options, resolved)
    else:
        data["target_id"] = _resolve_target(
            state, guild, command.type, body.get("target_id"), resolved
        )
    if resolved:
        data["resolved"] = resolved
    return data


def _resolve_target(
    state: SandboxState,
    guild: Guild,
    command_type: int,
    target: Any,
    resolved: dict[str, dict[str, Any]],
) -> str:
    """A context-menu command's target (a user for type 2, else a message), resolved."""
    if target is None:
        raise StateError(400, "target_id is required for context-menu commands")
    if command_type == 2:
        _resolve_user(state, guild, state.get_user(int(target)), resolved)
    else:
        target_message = state.message_index.get(int(target))
        if target_message is None:
            raise StateError(404, f"unknown message {target}")
        resolved["messages"] = {str(target): message_payload(state, target_message)}
    return str(target)


def _component_data(
    state: SandboxState, body: dict[str, Any]
) -> tuple[dict[str, Any], Message | None]:
    message = state.message_index.get(int(body.get("message_id") or 0))
    if message is None:
        raise StateError(404, "message_id must name a message the component is on")
    data = {
        "custom_id": str(body.get("custom_id", "")),
        "component_type": int(body.get("component_type", 2)),
    }
    if body.get("values") is not None:
        data["values"] = list(body["values"])
    return data, message


def _modal_data(state: SandboxState, body: dict[str, Any]) -> tuple[dict[str, Any], Message | None]:
    data = {
        "custom_id": str(body.get("custom_id", "")),
        "components": body.get("components", []),
    }
    message = None
    if body.get("message_id") is not None:  # a modal opened from a component
        message = state.message_index.get(int(body["message_id"]))
        if message is None:
            raise StateError(404, "message_id must name the message the modal came from")
    return data, message


def _interaction_payload(
    state: SandboxState,
    app: Application,
    guild: Guild,
    channel: Channel,
    member: Member,
    record: InteractionRecord,
    message: Message | None,
) -> dict[str, Any]:
    bot_member = guild.members.get(app.bot_user_id)
    channel_data = channel_payload(channel)
    app_permissions = state.member_permissions(guild, bot_member) if bot_member is not None else 0
    payload: dict[str, Any] = {
        "id": str(record.id),
        "application_id": str(app.id),
        "type": record.type,
        "data": record.data,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "channel_id": str(channel.id),
        "channel": channel_data,
        "member": interaction_member_payload(state, guild, member),
        "token": record.token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if record.type == PING:
        del payload["data"]
    if message is not None:
        payload["message"] = message_payload(state, message)
    return payload
