"""REST routes a moderating bot uses: member roles, timeouts, nicknames, kicks, new roles, DM
channels and its own reactions. Each answers as Discord does (status, body, error code) and
sends the gateway event Discord would; the rules themselves are in `members` and `dms`.
`X-Audit-Log-Reason` is accepted and, as the sandbox keeps no audit log, not stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import SandboxContext, ctx_of
from .dms import open_dm
from .errors import (
    UNKNOWN_MEMBER,
    UNKNOWN_ROLE,
    UNKNOWN_USER,
    field_error,
    invalid_form,
    missing_permissions,
    not_found,
)
from .jsonresp import no_content
from .members import (
    ADD_REACTIONS,
    KICK_MEMBERS,
    MANAGE_ROLES,
    create_role,
    edit_member,
    emoji_key,
    leave,
    react,
    require_above,
    require_permission,
    require_role_below,
    set_role,
    unreact,
)
from .payloads import dm_channel_payload, member_payload, role_payload
from .rest import RestRouter, bot_app, json_body, ok
from .routes_guilds import _channel, _guild, _message, _named
from .state import Application, Guild, Member, Message, Role

router = RestRouter()
GUILD = ("guild_id",)
CHANNEL = ("channel_id",)
MAX_ROLE_NAME = 100
MAX_PERMISSIONS = (1 << 53) - 1


def _member(guild: Guild, request: web.Request) -> Member:
    return _named(guild.members, request, "user_id", UNKNOWN_MEMBER, "Member")


def _role(guild: Guild, request: web.Request) -> Role:
    return _named(guild.roles, request, "role_id", UNKNOWN_ROLE, "Role")


def _context(request: web.Request) -> tuple[SandboxContext, Application, Guild, Member]:
    """The sandbox, the calling bot, the guild and the bot's own member in it."""
    ctx = ctx_of(request)
    app = bot_app(request)
    guild = _guild(ctx, request, app)
    return ctx, app, guild, guild.members[app.bot_user_id]


# ------------------------------------------------------------------ members
@router.put("/guilds/{guild_id}/members/{user_id}/roles/{role_id}", major=GUILD)
async def add_member_role(request: web.Request) -> web.Response:
    return _member_role(request, on=True)


@router.delete("/guilds/{guild_id}/members/{user_id}/roles/{role_id}", major=GUILD)
async def remove_member_role(request: web.Request) -> web.Response:
    return _member_role(request, on=False)


def _member_role(request: web.Request, *, on: bool) -> web.Response:
    ctx, _app, guild, me = _context(request)
    member = _member(guild, request)
    role = _role(guild, request)
    require_permission(ctx.state, guild, me, MANAGE_ROLES)
    require_role_below(guild, me, role)
    set_role(ctx, guild, member, role, on)
    return no_content()


@router.patch("/guilds/{guild_id}/members/{user_id}", major=GUILD)
async def patch_member(request: web.Request) -> web.Response:
    ctx, _app, guild, me = _context(request)
    member = _member(guild, request)
    edit_member(ctx, guild, me, member, await json_body(request))
    return ok(member_payload(ctx.state, guild, member))


@router.delete("/guilds/{guild_id}/members/{user_id}", major=GUILD)
async def kick_member(request: web.Request) -> web.Response:
    ctx, _app, guild, me = _context(request)
    member = _member(guild, request)
    require_permission(ctx.state, guild, me, KICK_MEMBERS)
    require_above(guild, me, member)
    leave(ctx, guild, member.user_id)
    return no_content()


@router.post("/guilds/{guild_id}/roles", major=GUILD)
async def post_role(request: web.Request) -> web.Response:
    ctx, _app, guild, me = _context(request)
    require_permission(ctx.state, guild, me, MANAGE_ROLES)
    body = await json_body(request)
    name = body.get("name")
    name = "new role" if name is None else name
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_ROLE_NAME:
        raise invalid_form(
            field_error(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        )
    permissions = _int_field(body, "permissions", 0, MAX_PERMISSIONS)
    # A bot cannot hand out permissions it does not hold itself.
    if permissions & ~ctx.state.member_permissions(guild, me):
        raise missing_permissions()
    role = create_role(
        ctx,
        guild,
        name,
        permissions=permissions,
        color=_int_field(body, "color", 0, 0xFFFFFF),
        hoist=bool(body.get("hoist") or False),
        mentionable=bool(body.get("mentionable") or False),
    )
    return ok(role_payload(role))


def _int_field(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return low
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_form(
            field_error([name], "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
        ) from None
    if not low <= number <= high:
        raise invalid_form(
            field_error([name], "NUMBER_TYPE_MAX", f"Int value should be <= {high}.")
        )
    return number


# ---------------------------------------------------------------------- DMs
@router.post("/users/@me/channels")
async def create_dm(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    body = await json_body(request)
    raw = body.get("recipient_id")
    try:
        recipient_id = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise invalid_form(
            field_error(["recipient_id"], "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        ) from None
    user = ctx.state.users.get(recipient_id)
    if user is None:
        raise not_found(UNKNOWN_USER, "User")
    channel = open_dm(ctx.state, app.bot_user_id, user)
    return ok(dm_channel_payload(ctx.state, channel, app.bot_user_id))


# ---------------------------------------------------------------- reactions
def _reacted_message(request: web.Request) -> tuple[SandboxContext, Application, Message, str]:
    ctx = ctx_of(request)
    app = bot_app(request)
    message = _message(ctx, request, _channel(ctx, request, app))
    return ctx, app, message, emoji_key(request.match_info["emoji"], custom_allowed=False)


@router.put("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", major=CHANNEL)
async def add_my_reaction(request: web.Request) -> web.Response:
    ctx, app, message, key = _reacted_message(request)
    if message.guild_id is not None and key not in message.reactions:
        # Adding a new emoji (not joining an existing one) needs ADD_REACTIONS.
        guild = ctx.state.get_guild(message.guild_id)
        require_permission(ctx.state, guild, guild.members[app.bot_user_id], ADD_REACTIONS)
    react(ctx, message, app.bot_user_id, key)
    return no_content()


@router.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", major=CHANNEL)
async def remove_my_reaction(request: web.Request) -> web.Response:
    ctx, app, message, key = _reacted_message(request)
    unreact(ctx, message, app.bot_user_id, key)
    return no_content()
