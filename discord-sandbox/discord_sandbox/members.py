"""Members, roles and reactions: what joins, leaves, moderation and reaction roles need.

The rules are Discord's: permission bits, the role hierarchy (a bot manages only roles below
its highest role, and moderates only members whose highest role is below it, never the
owner), and the gateway event each change sends, to the sessions with the right intent. The
REST routes (`routes_members`) and the control API (`control_members`) both come here, so a
change made by a bot and one made "by a person" look the same on the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .context import SandboxContext
from .dms import dispatch_to_recipients
from .errors import (
    CANNOT_EXECUTE_ON_DM,
    MAX_REACTIONS,
    UNKNOWN_EMOJI,
    DiscordError,
    field_error,
    invalid_form,
    missing_permissions,
)
from .payloads import emoji_payload, member_payload, role_payload, user_payload
from .sessions import (
    DIRECT_MESSAGE_REACTIONS,
    GUILD_MEMBERS,
    GUILD_MESSAGE_REACTIONS,
    GUILDS,
    Session,
)
from .state import (
    ADMINISTRATOR,
    Application,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    SandboxState,
    StateError,
    User,
)

# Discord's permission bits the member routes check.
KICK_MEMBERS = 1 << 1
ADD_REACTIONS = 1 << 6
MANAGE_MESSAGES = 1 << 13
MANAGE_NICKNAMES = 1 << 27
MANAGE_ROLES = 1 << 28
MODERATE_MEMBERS = 1 << 40
MAX_TIMEOUT = timedelta(days=28)
MAX_REACTION_KINDS = 20  # distinct emoji on one message
MAX_NICK = 32


# ------------------------------------------------------------------ checks
def top_position(guild: Guild, member: Member) -> int:
    """The member's highest role position (@everyone is 0)."""
    return max((guild.roles[r].position for r in member.roles if r in guild.roles), default=0)


def require_permission(state: SandboxState, guild: Guild, actor: Member, bit: int) -> None:
    if not state.member_permissions(guild, actor) & bit:
        raise missing_permissions()


def require_role_below(guild: Guild, actor: Member, role: Role) -> None:
    """Roles at or above the actor's highest role, managed (bot) roles and @everyone are out
    of reach, as on Discord."""
    if actor.user_id == guild.owner_id:
        return
    if role.managed or role.id == guild.id or role.position >= top_position(guild, actor):
        raise missing_permissions()


def require_above(guild: Guild, actor: Member, target: Member) -> None:
    """Moderating `target` (kick, timeout, nickname): never the owner, and only a member whose
    highest role is below the actor's."""
    if actor.user_id == guild.owner_id:
        return
    if target.user_id == guild.owner_id or top_position(guild, target) >= top_position(
        guild, actor
    ):
        raise missing_permissions()


def require_can_delete(
    state: SandboxState, app: Application, channel: Channel, message: Message
) -> None:
    """A bot deletes its own messages anywhere; others' only in a guild with MANAGE_MESSAGES
    (in a DM: 50003 Cannot execute action on a DM channel)."""
    if message.author_id == app.bot_user_id:
        return
    if channel.guild_id is None:
        raise DiscordError(403, CANNOT_EXECUTE_ON_DM, "Cannot execute action on a DM channel")
    guild = state.get_guild(channel.guild_id)
    require_permission(state, guild, guild.members[app.bot_user_id], MANAGE_MESSAGES)


# ------------------------------------------------------------ dispatching
def _with_members_intent(data: Any) -> Callable[[Session], Any | None]:
    def build(session: Session) -> Any | None:
        return data if session.has(GUILD_MEMBERS) else None

    return build


def _dispatch_members_event(ctx: SandboxContext, guild: Guild, event: str, data: Any) -> int:
    return ctx.hub.dispatch_to_guild(guild.id, event, _with_members_intent(data))


def member_event(state: SandboxState, guild: Guild, member: Member) -> dict[str, Any]:
    """GUILD_MEMBER_ADD/UPDATE: the member with its guild id."""
    return {**member_payload(state, guild, member), "guild_id": str(guild.id)}


def member_updated(ctx: SandboxContext, guild: Guild, member: Member) -> None:
    ctx.state.touch()
    _dispatch_members_event(
        ctx, guild, "GUILD_MEMBER_UPDATE", member_event(ctx.state, guild, member)
    )


# ---------------------------------------------------------- join / leave
def join(
    ctx: SandboxContext, guild: Guild, user: User, roles: list[int] | None = None
) -> tuple[Member, bool]:
    """Add `user` to the guild, holding `roles` (GUILD_MEMBER_ADD); (member, False) if
    already a member, unchanged."""
    existing = guild.members.get(user.id)
    if existing is not None:
        return existing, False
    for role_id in roles or ():
        if role_id not in guild.roles or role_id == guild.id:
            raise StateError(404, f"unknown role {role_id} in guild {guild.id}")
    member = ctx.state.add_member(guild, user)
    member.roles = list(dict.fromkeys(roles or ()))
    _dispatch_members_event(ctx, guild, "GUILD_MEMBER_ADD", member_event(ctx.state, guild, member))
    return member, True


def leave(ctx: SandboxContext, guild: Guild, user_id: int) -> Member:
    """Remove a member (they left or were kicked): GUILD_MEMBER_REMOVE. A bot removed this way
    is uninstalled, as on Discord: its own sessions get GUILD_DELETE instead."""
    member = guild.members.get(user_id)
    if member is None:
        raise StateError(404, f"user {user_id} is not a member of guild {guild.id}")
    if user_id == guild.owner_id:
        raise StateError(400, "the guild owner cannot leave their guild")
    user = ctx.state.get_user(user_id)
    data = {"guild_id": str(guild.id), "user": user_payload(user)}
    app = ctx.state.applications.get(user.application_id or 0)
    if app is not None and app.id in guild.application_ids:
        others = [a for a in guild.application_ids if a != app.id]
        ctx.hub.dispatch_to_guild(
            guild.id, "GUILD_MEMBER_REMOVE", _with_members_intent(data), app_ids=others
        )
        ctx.hub.dispatch_to_guild_removed(app, guild.id)
        ctx.state.uninstall(guild, app)
        return member
    _dispatch_members_event(ctx, guild, "GUILD_MEMBER_REMOVE", data)
    del guild.members[user_id]
    ctx.state.touch()
    return member


# ------------------------------------------------------------------ roles
def create_role(
    ctx: SandboxContext,
    guild: Guild,
    name: str,
    *,
    permissions: int = 0,
    color: int = 0,
    hoist: bool = False,
    mentionable: bool = False,
    position: int | None = None,
) -> Role:
    """A new role at `position` (default 1, just above @everyone, where Discord puts new
    roles); the roles from there up move one place up (GUILD_ROLE_UPDATE each)."""
    top = max((r.position for r in guild.roles.values()), default=0)
    position = 1 if position is None else max(1, min(position, top + 1))
    shifted = [r for r in guild.roles.values() if r.id != guild.id and r.position >= position]
    for other in shifted:
        other.position += 1
    role = Role(
        id=ctx.state.snowflakes.next(),
        name=name,
        permissions=permissions,
        position=position,
        color=color,
        hoist=hoist,
        mentionable=mentionable,
    )
    guild.roles[role.id] = role
    ctx.state.touch()
    _dispatch_guilds_event(ctx, guild, "GUILD_ROLE_CREATE", {"role": role_payload(role)})
    for other in shifted:
        _dispatch_guilds_event(ctx, guild, "GUILD_ROLE_UPDATE", {"role": role_payload(other)})
    return role


def _dispatch_guilds_event(ctx: SandboxContext, guild: Guild, event: str, data: Any) -> None:
    payload = {"guild_id": str(guild.id), **data}

    def build(session: Session) -> Any | None:
        return payload if session.has(GUILDS) else None

    ctx.hub.dispatch_to_guild(guild.id, event, build)


def set_role(ctx: SandboxContext, guild: Guild, member: Member, role: Role, on: bool) -> None:
    """Give (`on`) or take a role; GUILD_MEMBER_UPDATE only when something changed."""
    if on == (role.id in member.roles):
        return
    if on:
        member.roles.append(role.id)
    else:
        member.roles.remove(role.id)
    member_updated(ctx, guild, member)


# ------------------------------------------------------ member edits (PATCH)
def parse_timeout(value: Any) -> str | None:
    """`communication_disabled_until`: null ends a timeout; else an ISO time at most 28 days
    ahead (Discord's limit). Returned normalised to UTC."""
    if value is None:
        return None
    error = field_error(
        ["communication_disabled_until"], "DATE_TYPE_INVALID", "Could not parse date."
    )
    if not isinstance(value, str):
        raise invalid_form(error)
    try:
        until = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_form(error) from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until - datetime.now(UTC) > MAX_TIMEOUT + timedelta(seconds=5):
        raise invalid_form(
            field_error(
                ["communication_disabled_until"],
                "BASE_TYPE_BAD_TIME",
                "Cannot time out members for more than 28 days.",
            )
        )
    return until.astimezone(UTC).isoformat()


def parse_nick(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NICK:
        raise invalid_form(
            field_error(["nick"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NICK} or fewer in length.")
        )
    return value


def edit_member(
    ctx: SandboxContext, guild: Guild, actor: Member, member: Member, body: dict[str, Any]
) -> None:
    """`PATCH /guilds/{id}/members/{user_id}`: nick, timeout and the role list, each with the
    permission and hierarchy Discord asks for. All or nothing: every check runs before any
    change; one GUILD_MEMBER_UPDATE for the whole edit."""
    state = ctx.state
    nick, until, roles = member.nick, member.communication_disabled_until, member.roles
    if "nick" in body:
        nick = parse_nick(body["nick"])
        if nick != member.nick:
            require_permission(state, guild, actor, MANAGE_NICKNAMES)
            if member.user_id != actor.user_id:
                require_above(guild, actor, member)
    if "communication_disabled_until" in body:
        until = parse_timeout(body["communication_disabled_until"])
        require_permission(state, guild, actor, MODERATE_MEMBERS)
        require_above(guild, actor, member)
        if until is not None and state.member_permissions(guild, member) & ADMINISTRATOR:
            raise missing_permissions()  # administrators cannot be timed out
    if body.get("roles") is not None:
        wanted = _role_list(guild, body["roles"])
        current = set(member.roles)
        if wanted != current:
            require_permission(state, guild, actor, MANAGE_ROLES)
            for role_id in wanted ^ current:
                require_role_below(guild, actor, guild.roles[role_id])
            roles = [r for r in member.roles if r in wanted] + [
                r for r in wanted if r not in current
            ]
    if (nick, until, roles) != (member.nick, member.communication_disabled_until, member.roles):
        member.nick, member.communication_disabled_until, member.roles = nick, until, roles
        member_updated(ctx, guild, member)


def _role_list(guild: Guild, value: Any) -> set[int]:
    if not isinstance(value, list):
        raise invalid_form(field_error(["roles"], "BASE_TYPE_ARRAY", "Must be an array."))
    wanted: set[int] = set()
    for index, item in enumerate(value):
        try:
            role_id = int(item)
        except (TypeError, ValueError):
            raise invalid_form(
                field_error(["roles", index], "NUMBER_TYPE_COERCE", "Value is not snowflake.")
            ) from None
        if role_id not in guild.roles or role_id == guild.id:
            raise invalid_form(
                field_error(["roles", index], "ROLE_INVALID", f"Role {role_id} is not valid.")
            )
        wanted.add(role_id)
    return wanted


# -------------------------------------------------------------- reactions
def emoji_key(raw: str, *, custom_allowed: bool) -> str:
    """The reaction key of a path or body emoji: a unicode emoji, or `name:id` (also
    `a:name:id`) for a custom one. Plain text is not an emoji (10014, as Discord answers)."""
    raw = raw.strip()
    parts = raw.split(":")
    if len(parts) in (2, 3) and parts[-1].isdigit() and parts[-2]:
        if not custom_allowed:
            # The sandbox's guilds have no custom emoji, so a bot can't use one.
            raise DiscordError(400, UNKNOWN_EMOJI, "Unknown Emoji")
        return f"{parts[-2]}:{parts[-1]}"
    if not raw or raw.isascii() or len(raw) > 32:
        raise DiscordError(400, UNKNOWN_EMOJI, "Unknown Emoji")
    return raw


def react(ctx: SandboxContext, message: Message, user_id: int, key: str) -> bool:
    """`user_id` reacts with `key` (MESSAGE_REACTION_ADD); False if it already had."""
    users = message.reactions.get(key)
    if users is not None and user_id in users:
        return False
    if users is None and len(message.reactions) >= MAX_REACTION_KINDS:
        raise DiscordError(400, MAX_REACTIONS, "Maximum number of reactions reached (20)")
    message.reactions.setdefault(key, []).append(user_id)
    ctx.state.touch()
    data = _reaction_data(ctx.state, message, user_id, key)
    data["message_author_id"] = str(message.author_id)
    data["burst_colors"] = []
    guild = ctx.state.guilds.get(message.guild_id) if message.guild_id is not None else None
    member = guild.members.get(user_id) if guild is not None else None
    if guild is not None and member is not None:
        data["member"] = member_payload(ctx.state, guild, member)
    _dispatch_reaction(ctx, message, "MESSAGE_REACTION_ADD", data)
    return True


def unreact(ctx: SandboxContext, message: Message, user_id: int, key: str) -> bool:
    """Take `user_id`'s `key` reaction back (MESSAGE_REACTION_REMOVE); False if there was none."""
    users = message.reactions.get(key)
    if users is None or user_id not in users:
        return False
    users.remove(user_id)
    if not users:
        del message.reactions[key]
    ctx.state.touch()
    _dispatch_reaction(
        ctx, message, "MESSAGE_REACTION_REMOVE", _reaction_data(ctx.state, message, user_id, key)
    )
    return True


def _reaction_data(state: SandboxState, message: Message, user_id: int, key: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user_id": str(user_id),
        "channel_id": str(message.channel_id),
        "message_id": str(message.id),
        "emoji": emoji_payload(key),
        "burst": False,
        "type": 0,
    }
    if message.guild_id is not None:
        data["guild_id"] = str(message.guild_id)
    return data


def _dispatch_reaction(ctx: SandboxContext, message: Message, event: str, data: Any) -> None:
    if message.guild_id is not None:

        def build(session: Session) -> Any | None:
            return data if session.has(GUILD_MESSAGE_REACTIONS) else None

        ctx.hub.dispatch_to_guild(message.guild_id, event, build)
        return
    dispatch_to_recipients(ctx, message.channel_id, event, DIRECT_MESSAGE_REACTIONS, data)
