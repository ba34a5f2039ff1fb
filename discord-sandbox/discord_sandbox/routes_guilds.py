"""`/channels/...` and `/guilds/...`: the reads a bot needs, and sending/editing messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from aiohttp import web

from .context import SandboxContext, ctx_of
from .dms import DM_CHANNEL, dispatch_to_recipients, require_reachable
from .errors import (
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_ROLE,
    DiscordError,
    missing_access,
    not_found,
)
from .jsonresp import no_content
from .members import require_can_delete
from .messaging import create_message, edit_message, message_fields, recent_by_nonce
from .payloads import (
    channel_payload,
    dm_channel_payload,
    guild_payload,
    member_payload,
    message_payload,
    role_payload,
)
from .rest import RestRouter, bot_app, ok, read_body, snowflake_param
from .sessions import DIRECT_MESSAGES, GUILD_MESSAGES
from .state import Application, Channel, Guild, Message

router = RestRouter()
T = TypeVar("T")
CHANNEL = ("channel_id",)
GUILD = ("guild_id",)


def _named(items: Mapping[int, T], request: web.Request, param: str, unknown: int, what: str) -> T:
    """The item the path parameter `param` names, or Discord's 404 `Unknown <what>`."""
    item = items.get(snowflake_param(request, param))
    if item is None:
        raise not_found(unknown, what)
    return item


def _channel(ctx: SandboxContext, request: web.Request, app: Application) -> Channel:
    channel = _named(ctx.state.channels, request, "channel_id", UNKNOWN_CHANNEL, "Channel")
    if channel.type == DM_CHANNEL:
        if app.bot_user_id not in channel.recipient_ids:
            raise missing_access()
        return channel
    if not ctx.state.bot_in_guild(app, channel.guild_id):
        raise missing_access()
    return channel


def _guild(ctx: SandboxContext, request: web.Request, app: Application) -> Guild:
    guild = _named(ctx.state.guilds, request, "guild_id", UNKNOWN_GUILD, "Guild")
    if guild.id not in app.guild_ids:
        raise missing_access()
    return guild


def _message(ctx: SandboxContext, request: web.Request, channel: Channel) -> Message:
    message = ctx.state.message_index.get(snowflake_param(request, "message_id"))
    if message is None or message.channel_id != channel.id:
        raise not_found(UNKNOWN_MESSAGE, "Message")
    return message


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        value = default
    return max(low, min(high, value))


@router.get("/channels/{channel_id}", major=CHANNEL)
async def get_channel(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    channel = _channel(ctx, request, app)
    if channel.type == DM_CHANNEL:
        return ok(dm_channel_payload(ctx.state, channel, app.bot_user_id))
    return ok(channel_payload(channel))


@router.get("/channels/{channel_id}/messages", major=CHANNEL)
async def list_messages(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    channel = _channel(ctx, request, app)
    limit = _int_query(request, "limit", 50, 1, 100)
    messages = [m for m in ctx.state.channel_messages(channel.id) if not m.flags & 64]
    before, after = request.query.get("before"), request.query.get("after")
    if before and before.isdigit():
        messages = [m for m in messages if m.id < int(before)]
    if after and after.isdigit():
        messages = [m for m in messages if m.id > int(after)][:limit]
    newest_first = list(reversed(messages))[:limit]
    return ok([message_payload(ctx.state, m, app.bot_user_id) for m in newest_first])


@router.post("/channels/{channel_id}/messages", limit="message_create_limit", major=CHANNEL)
async def post_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    channel = _channel(ctx, request, app)
    if channel.type == DM_CHANNEL:
        require_reachable(ctx.state, app, channel)
    body, files = await read_body(request)
    fields = message_fields(body, files)
    fields["flags"] = fields.get("flags", 0) & ~64  # only interaction responses can be ephemeral
    if body.get("enforce_nonce") is True and fields["nonce"] is not None:
        # A resend (e.g. after a crash between sending and recording) gets the first message.
        sent = recent_by_nonce(ctx.state, channel.id, app.bot_user_id, fields["nonce"])
        if sent is not None:
            return ok(message_payload(ctx.state, sent, app.bot_user_id))
    message = create_message(ctx, channel, app.bot_user_id, fields)
    return ok(message_payload(ctx.state, message))


@router.get("/channels/{channel_id}/messages/{message_id}", major=CHANNEL)
async def get_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    channel = _channel(ctx, request, app)
    return ok(message_payload(ctx.state, _message(ctx, request, channel), app.bot_user_id))


@router.patch("/channels/{channel_id}/messages/{message_id}", major=CHANNEL)
async def patch_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    channel = _channel(ctx, request, app)
    message = _message(ctx, request, channel)
    if message.author_id != app.bot_user_id:
        raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
    body, files = await read_body(request)
    edit_message(ctx, message, message_fields(body, files, partial=True))
    return ok(message_payload(ctx.state, message))


@router.delete("/channels/{channel_id}/messages/{message_id}", major=CHANNEL)
async def delete_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    channel = _channel(ctx, request, app)
    message = _message(ctx, request, channel)
    require_can_delete(ctx.state, app, channel, message)
    ctx.state.delete_message(message)
    deleted = {"id": str(message.id), "channel_id": str(channel.id)}
    if channel.guild_id is None:
        dispatch_to_recipients(ctx, channel.id, "MESSAGE_DELETE", DIRECT_MESSAGES, deleted)
    else:
        deleted["guild_id"] = str(channel.guild_id)
        ctx.hub.dispatch_to_guild(
            channel.guild_id,
            "MESSAGE_DELETE",
            lambda session: deleted if session.has(GUILD_MESSAGES) else None,
        )
    return no_content()


@router.post("/channels/{channel_id}/typing", major=CHANNEL)
async def typing(request: web.Request) -> web.Response:
    _channel(ctx_of(request), request, bot_app(request))
    return no_content()


@router.get("/guilds/{guild_id}", major=GUILD)
async def get_guild(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = _guild(ctx, request, bot_app(request))
    with_counts = request.query.get("with_counts", "false").lower() in ("1", "true")
    return ok(guild_payload(guild, with_counts=with_counts))


@router.get("/guilds/{guild_id}/channels", major=GUILD)
async def guild_channels(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = _guild(ctx, request, bot_app(request))
    return ok([channel_payload(ctx.state.channels[c]) for c in guild.channel_ids])


@router.get("/guilds/{guild_id}/roles", major=GUILD)
async def guild_roles(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = _guild(ctx, request, bot_app(request))
    return ok([role_payload(r) for r in guild.roles.values()])


@router.get("/guilds/{guild_id}/roles/{role_id}", major=GUILD)
async def guild_role(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = _guild(ctx, request, bot_app(request))
    role = _named(guild.roles, request, "role_id", UNKNOWN_ROLE, "Role")
    return ok(role_payload(role))


@router.get("/guilds/{guild_id}/members", major=GUILD)
async def list_members(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    guild = _guild(ctx, request, app)
    # Listing members needs the GUILD_MEMBERS privileged intent enabled, as on Discord.
    if "GUILD_MEMBERS" not in app.privileged_intents:
        raise missing_access()
    limit = _int_query(request, "limit", 1, 1, 1000)
    after = _int_query(request, "after", 0, 0, (1 << 63) - 1)
    members = sorted(
        (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
    )
    return ok([member_payload(ctx.state, guild, m) for m in members[:limit]])


@router.get("/guilds/{guild_id}/members/search", major=GUILD)
async def search_members(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = _guild(ctx, request, bot_app(request))
    query = request.query.get("query", "").lower()
    limit = _int_query(request, "limit", 1, 1, 1000)
    found = [
        m
        for m in guild.members.values()
        if ctx.state.users[m.user_id].username.lower().startswith(query)
        or (m.nick or "").lower().startswith(query)
    ]
    return ok([member_payload(ctx.state, guild, m) for m in found[:limit]])


@router.get("/guilds/{guild_id}/members/{user_id}", major=GUILD)
async def get_member(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = _guild(ctx, request, bot_app(request))
    member = _named(guild.members, request, "user_id", UNKNOWN_MEMBER, "Member")
    return ok(member_payload(ctx.state, guild, member))
