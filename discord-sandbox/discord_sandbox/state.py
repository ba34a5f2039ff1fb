"""The sandbox's world: users, applications (bots), guilds, channels, messages, commands.

Plain in-memory objects, no I/O; `snapshot()`/`restore()` turn them into JSON so a sandbox
started with `--state FILE` keeps its entities across restarts. Gateway sessions, interactions
and counters are runtime-only and live elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from .snowflake import SnowflakeGenerator, shard_of

# Gateway intents that Discord calls privileged, by the names the control API accepts.
PRIVILEGED_INTENTS: dict[str, int] = {
    "GUILD_MEMBERS": 1 << 1,
    "GUILD_PRESENCES": 1 << 8,
    "MESSAGE_CONTENT": 1 << 15,
}
PRIVILEGED_ALIASES = {
    "members": "GUILD_MEMBERS",
    "guild_members": "GUILD_MEMBERS",
    "presences": "GUILD_PRESENCES",
    "guild_presences": "GUILD_PRESENCES",
    "message_content": "MESSAGE_CONTENT",
}
# Application flags that tell a bot its privileged intents are enabled.
INTENT_APP_FLAGS = {
    "GUILD_PRESENCES": 1 << 12,
    "GUILD_MEMBERS": 1 << 14,
    "MESSAGE_CONTENT": 1 << 18,
}
MESSAGES_KEPT_PER_CHANNEL = 500
# Permissions of @everyone in a new guild: the value Discord gives it (invite, view, send,
# react, embed, attach, history, external emoji, voice, change own nickname, ...; no
# moderation bits, so a bot's moderation rights come from its own role).
DEFAULT_EVERYONE_PERMISSIONS = 1_071_698_660_929
ADMINISTRATOR = 1 << 3


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "+00:00")


def normalize_privileged(value: Any) -> set[str]:
    """Accept a list of names (any case, with aliases) or an intents bitmask."""
    if value is None:
        return set()
    if isinstance(value, bool):
        raise ValueError("privileged_intents must be a list of names or an integer")
    if isinstance(value, int):
        return {name for name, bit in PRIVILEGED_INTENTS.items() if value & bit}
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("privileged_intents must be a list of names or an integer")
    names: set[str] = set()
    for item in value:
        key = str(item).strip()
        upper = key.upper()
        if upper in PRIVILEGED_INTENTS:
            names.add(upper)
        elif key.lower() in PRIVILEGED_ALIASES:
            names.add(PRIVILEGED_ALIASES[key.lower()])
        else:
            raise ValueError(f"unknown privileged intent {item!r}")
    return names


def make_bot_token(user_id: int) -> str:
    """Discord's token shape: base64(user id) . base64(timestamp) . hmac."""
    first = base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    stamp = base64.urlsafe_b64encode(int(time.time()).to_bytes(4, "big")).decode().rstrip("=")
    return f"{first}.{stamp}.{secrets.token_urlsafe(27)}"


@dataclass(slots=True)
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    email: str | None = None
    avatar: str | None = None  # Discord's avatar hash
    avatar_bytes: bytes | None = None
    avatar_mime: str | None = None
    application_id: int | None = None

    def set_avatar(self, data: bytes | None, mime: str | None) -> None:
        if data is None:
            self.avatar = self.avatar_bytes = self.avatar_mime = None
            return
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self.avatar = f"a_{digest}" if mime == "image/gif" else digest
        self.avatar_bytes = data
        self.avatar_mime = mime


@dataclass(slots=True)
class Command:
    id: int
    application_id: int
    guild_id: int | None
    name: str
    type: int
    description: str
    options: list[dict[str, Any]] = field(default_factory=list)
    default_member_permissions: str | None = None
    dm_permission: bool = True
    nsfw: bool = False
    contexts: list[int] | None = None
    integration_types: list[int] = field(default_factory=lambda: [0])
    name_localizations: dict[str, str] | None = None
    description_localizations: dict[str, str] | None = None
    version: int = 0


@dataclass(slots=True)
class Application:
    id: int
    name: str
    bot_user_id: int
    token: str
    client_secret: str
    owner_id: int
    verify_key: str
    privileged_intents: set[str] = field(default_factory=set)
    max_concurrency: int = 1
    description: str = ""
    guild_ids: list[int] = field(default_factory=list)
    commands: dict[int, Command] = field(default_factory=dict)
    session_start_total: int = 1000
    session_start_remaining: int = 1000
    session_start_reset_at: float = 0.0  # unix seconds; 0 = no window running

    @property
    def flags(self) -> int:
        value = 1 << 23  # APPLICATION_COMMAND_BADGE, as any bot with commands has
        for name in self.privileged_intents:
            value |= INTENT_APP_FLAGS[name]
        return value

    @property
    def privileged_mask(self) -> int:
        mask = 0
        for name in self.privileged_intents:
            mask |= PRIVILEGED_INTENTS[name]
        return mask

    def refresh_session_budget(self, reset_after_s: float) -> None:
        now = time.time()
        if self.session_start_reset_at and now >= self.session_start_reset_at:
            self.session_start_remaining = self.session_start_total
            self.session_start_reset_at = 0.0
        if (
            not self.session_start_reset_at
            and self.session_start_remaining < self.session_start_total
        ):
            self.session_start_reset_at = now + reset_after_s

    def session_reset_after_ms(self, reset_after_s: float) -> int:
        if not self.session_start_reset_at:
            return int(reset_after_s * 1000)
        return max(0, int((self.session_start_reset_at - time.time()) * 1000))

    def commands_for(self, guild_id: int | None) -> list[Command]:
        return [c for c in self.commands.values() if c.guild_id == guild_id]


@dataclass(slots=True)
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None


@dataclass(slots=True)
class Channel:
    id: int
    guild_id: int | None
    name: str
    type: int = 0
    position: int = 0
    topic: str | None = None
    last_message_id: int | None = None
    recipient_ids: list[int] = field(default_factory=list)  # a DM (type 1): bot and person


@dataclass(slots=True)
class Member:
    user_id: int
    joined_at: str
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    communication_disabled_until: str | None = None  # a timeout's end (ISO 8601)


@dataclass(slots=True)
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    application_ids: list[int] = field(default_factory=list)  # installed bots


@dataclass(slots=True)
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    timestamp: str
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    edited_timestamp: str | None = None
    application_id: int | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    tts: bool = False
    nonce: str | int | None = None
    mentions: list[int] = field(default_factory=list)
    message_reference: dict[str, Any] | None = None
    # Emoji key ("👍" or "name:id") -> ids of the users who reacted, in reaction order.
    reactions: dict[str, list[int]] = field(default_factory=dict)


V = TypeVar("V")


class StateError(Exception):
    """A control-API request that names something that does not exist or is invalid."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _known(table: dict[int, V], key: int, what: str) -> V:
    """The control API's lookup: a missing id is a 404 that names what was asked for."""
    try:
        return table[key]
    except KeyError:
        raise StateError(404, f"unknown {what} {key}") from None


class SandboxState:
    def __init__(self) -> None:
        self.snowflakes = SnowflakeGenerator()
        self.users: dict[int, User] = {}
        self.applications: dict[int, Application] = {}
        self.apps_by_token: dict[str, Application] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, deque[Message]] = {}
        self.message_index: dict[int, Message] = {}
        self.system_user = self._new_user("Sandbox Owner", email="owner@sandbox.invalid")
        self.revision = 0  # bumped on every change, drives the debounced snapshot

    # ------------------------------------------------------------------ users
    def _new_user(self, username: str, *, bot: bool = False, email: str | None = None) -> User:
        user = User(id=self.snowflakes.next(), username=username, bot=bot, email=email)
        self.users[user.id] = user
        return user

    def create_user(self, username: str, email: str | None = None) -> User:
        username = username.strip()
        if not 2 <= len(username) <= 32:
            raise StateError(400, "username must be 2-32 characters")
        if email is None:
            email = f"{username.lower().replace(' ', '.')}@sandbox.invalid"
        user = self._new_user(username, email=email)
        user.global_name = username
        self.touch()
        return user

    def get_user(self, user_id: int) -> User:
        return _known(self.users, user_id, "user")

    def human_users(self) -> list[User]:
        return [u for u in self.users.values() if not u.bot and u is not self.system_user]

    # ----------------------------------------------------------- applications
    def create_application(
        self,
        name: str,
        *,
        privileged_intents: set[str] | None = None,
        max_concurrency: int = 1,
        session_start_total: int = 1000,
    ) -> Application:
        name = name.strip()
        if not 1 <= len(name) <= 32:
            raise StateError(400, "name must be 1-32 characters")
        if max_concurrency < 1:
            raise StateError(400, "max_concurrency must be >= 1")
        app_id = self.snowflakes.next()
        bot = self._new_user(name, bot=True)
        bot.application_id = app_id
        app = Application(
            id=app_id,
            name=name,
            bot_user_id=bot.id,
            token=make_bot_token(bot.id),
            client_secret=secrets.token_urlsafe(24),
            owner_id=self.system_user.id,
            verify_key=secrets.token_hex(32),
            privileged_intents=set(privileged_intents or ()),
            max_concurrency=max_concurrency,
            session_start_total=session_start_total,
            session_start_remaining=session_start_total,
        )
        self.applications[app.id] = app
        self.apps_by_token[app.token] = app
        self.touch()
        return app

    def get_application(self, app_id: int) -> Application:
        return _known(self.applications, app_id, "application")

    def reset_token(self, app: Application) -> str:
        self.apps_by_token.pop(app.token, None)
        app.token = make_bot_token(app.bot_user_id)
        self.apps_by_token[app.token] = app
        self.touch()
        return app.token

    def app_by_token(self, token: str) -> Application | None:
        return self.apps_by_token.get(token)

    def app_guilds(self, app: Application, shard_id: int, shard_count: int) -> list[Guild]:
        return [
            self.guilds[g]
            for g in app.guild_ids
            if g in self.guilds and shard_of(g, shard_count) == shard_id
        ]

    def set_guild_count(self, app: Application, count: int) -> tuple[list[Guild], list[Guild]]:
        """Grow or shrink the bot's generated guilds; returns (added, removed)."""
        if count < 0:
            raise StateError(400, "guild_count must be >= 0")
        added: list[Guild] = []
        removed: list[Guild] = []
        while len(app.guild_ids) < count:
            guild = self.create_guild(f"{app.name} server {len(app.guild_ids) + 1}", [])
            self.install(guild, app)
            added.append(guild)
        while len(app.guild_ids) > count:
            guild = self.guilds[app.guild_ids[-1]]
            self.uninstall(guild, app)
            removed.append(guild)
        return added, removed

    # ----------------------------------------------------------------- guilds
    def create_guild(
        self, name: str, member_ids: list[int], channel_names: list[str] | None = None
    ) -> Guild:
        name = name.strip()
        if not 2 <= len(name) <= 100:
            raise StateError(400, "guild name must be 2-100 characters")
        for user_id in member_ids:
            self.get_user(user_id)
        owner_id = member_ids[0] if member_ids else self.system_user.id
        guild = Guild(id=self.snowflakes.next(spread=True), name=name, owner_id=owner_id)
        guild.roles[guild.id] = Role(
            id=guild.id, name="@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS
        )
        for position, channel_name in enumerate(channel_names or ["general"]):
            channel = Channel(
                id=self.snowflakes.next(), guild_id=guild.id, name=channel_name, position=position
            )
            self.channels[channel.id] = channel
            guild.channel_ids.append(channel.id)
        now = iso_now()
        for user_id in [owner_id, *member_ids]:
            guild.members.setdefault(user_id, Member(user_id=user_id, joined_at=now))
        self.guilds[guild.id] = guild
        self.touch()
        return guild

    def get_guild(self, guild_id: int) -> Guild:
        return _known(self.guilds, guild_id, "guild")

    def add_member(self, guild: Guild, user: User) -> Member:
        member = guild.members.get(user.id)
        if member is None:
            member = Member(user_id=user.id, joined_at=iso_now())
            guild.members[user.id] = member
            self.touch()
        return member

    def install(self, guild: Guild, app: Application, permissions: int = ADMINISTRATOR) -> bool:
        """Add the bot to the guild (with its managed role, granted `permissions`, as the
        authorization asked); False if already there."""
        if app.id in guild.application_ids:
            return False
        role = Role(
            id=self.snowflakes.next(),
            name=app.name,
            permissions=permissions,
            position=1,
            managed=True,
            bot_id=app.bot_user_id,
        )
        guild.roles[role.id] = role
        guild.members[app.bot_user_id] = Member(
            user_id=app.bot_user_id, joined_at=iso_now(), roles=[role.id]
        )
        guild.application_ids.append(app.id)
        app.guild_ids.append(guild.id)
        self.touch()
        return True

    def uninstall(self, guild: Guild, app: Application) -> bool:
        if app.id not in guild.application_ids:
            return False
        guild.application_ids.remove(app.id)
        app.guild_ids.remove(guild.id)
        guild.members.pop(app.bot_user_id, None)
        for role_id in [r.id for r in guild.roles.values() if r.bot_id == app.bot_user_id]:
            del guild.roles[role_id]
        for command_id in [c.id for c in app.commands.values() if c.guild_id == guild.id]:
            del app.commands[command_id]
        self.touch()
        return True

    def get_channel(self, channel_id: int) -> Channel:
        return _known(self.channels, channel_id, "channel")

    def bot_in_guild(self, app: Application, guild_id: int | None) -> bool:
        return guild_id is not None and guild_id in app.guild_ids

    def member_permissions(self, guild: Guild, member: Member) -> int:
        if member.user_id == guild.owner_id:
            return (1 << 53) - 1  # owners hold every permission
        value = guild.roles[guild.id].permissions
        for role_id in member.roles:
            role = guild.roles.get(role_id)
            if role is not None:
                value |= role.permissions
        if value & ADMINISTRATOR:
            return (1 << 53) - 1
        return value

    # --------------------------------------------------------------- messages
    def add_message(self, message: Message) -> Message:
        channel = self.get_channel(message.channel_id)
        log = self.messages.setdefault(channel.id, deque(maxlen=MESSAGES_KEPT_PER_CHANNEL))
        if len(log) == log.maxlen:
            self.message_index.pop(log[0].id, None)
        log.append(message)
        self.message_index[message.id] = message
        channel.last_message_id = message.id
        return message

    def channel_messages(self, channel_id: int) -> list[Message]:
        return list(self.messages.get(channel_id, ()))

    def delete_message(self, message: Message) -> None:
        self.message_index.pop(message.id, None)
        log = self.messages.get(message.channel_id)
        if log is not None and message in log:
            log.remove(message)

    def touch(self) -> None:
        self.revision += 1
