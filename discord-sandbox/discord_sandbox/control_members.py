"""Control API for what people do to members, roles and reactions (`/_sandbox/...`): join and
leave a guild, react, make a role, and read back a member or the DMs bots sent someone. The
routes sit beside `control`'s and answer the same way (`{"error": "..."}`); the README's
control table lists them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import SandboxContext, ctx_of
from .control import Handler, _body, _id, long_poll
from .dms import DM_CHANNEL, dms_to
from .jsonresp import json_response
from .members import create_role, emoji_key, join, leave, react, unreact
from .payloads import message_payload
from .state import Message, StateError, User


async def add_member(request: web.Request) -> web.Response:
    """`{user_id}` (an existing user) or `{username, email?}` (a new one, as `POST /users`),
    and `roles?` (ids the newcomer holds); 201 and GUILD_MEMBER_ADD when they joined, 200
    when already a member (nothing changes)."""
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    body = await _body(request)
    user: User
    if body.get("user_id") is not None:
        user = ctx.state.get_user(_id(body["user_id"], "user_id"))
    elif body.get("username") is not None:
        user = ctx.state.create_user(str(body["username"]), body.get("email"))
    else:
        raise StateError(400, "user_id or username is required")
    roles = body.get("roles") or []
    if not isinstance(roles, list):
        raise StateError(400, "roles must be a list of role ids")
    member, joined = join(ctx, guild, user, [_id(r, "role id") for r in roles])
    return json_response(
        {
            "guild_id": str(guild.id),
            "user_id": str(user.id),
            "username": user.username,
            "joined_at": member.joined_at,
            "joined": joined,
        },
        status=201 if joined else 200,
    )


async def remove_member(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    user_id = _id(request.match_info["user_id"], "user id")
    leave(ctx, guild, user_id)
    return json_response({"guild_id": str(guild.id), "user_id": str(user_id), "removed": True})


async def get_member(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    user_id = _id(request.match_info["user_id"], "user id")
    member = guild.members.get(user_id)
    if member is None:
        raise StateError(404, f"user {user_id} is not a member of guild {guild.id}")
    return json_response(
        {
            "user_id": str(member.user_id),
            "roles": [str(r) for r in member.roles],
            "communication_disabled_until": member.communication_disabled_until,
            "nick": member.nick,
            "joined_at": member.joined_at,
        }
    )


async def add_role(request: web.Request) -> web.Response:
    """`{name, permissions?, color?, position?}` → 201 `{role_id, name, position}`. Without
    `position` the role goes just above @everyone (below every bot's role, as new roles do on
    Discord); a `position` at or above a bot's role puts it out of that bot's reach."""
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    body = await _body(request)
    name = str(body.get("name") or "").strip()
    if not 1 <= len(name) <= 100:
        raise StateError(400, "name must be 1-100 characters")
    position = body.get("position")
    role = create_role(
        ctx,
        guild,
        name,
        permissions=int(body.get("permissions") or 0),
        color=int(body.get("color") or 0),
        position=None if position is None else int(position),
    )
    return json_response(
        {"role_id": str(role.id), "name": role.name, "position": role.position}, status=201
    )


def _reaction_target(ctx: SandboxContext, body: dict[str, Any]) -> tuple[Message, int, str]:
    for key in ("channel_id", "message_id", "user_id", "emoji"):
        if body.get(key) is None:
            raise StateError(400, f"{key} is required")
    channel = ctx.state.get_channel(_id(body["channel_id"], "channel_id"))
    message = ctx.state.message_index.get(_id(body["message_id"], "message_id"))
    if message is None or message.channel_id != channel.id:
        raise StateError(404, f"unknown message {body['message_id']} in channel {channel.id}")
    user = ctx.state.get_user(_id(body["user_id"], "user_id"))
    if channel.type == DM_CHANNEL:
        if user.id not in channel.recipient_ids:
            raise StateError(400, f"user {user.id} is not in this DM")
    elif channel.guild_id is not None and user.id not in ctx.state.guilds[channel.guild_id].members:
        raise StateError(400, f"user {user.id} is not a member of guild {channel.guild_id}")
    return message, user.id, emoji_key(str(body["emoji"]), custom_allowed=True)


async def add_reaction(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    message, user_id, key = _reaction_target(ctx, await _body(request))
    added = react(ctx, message, user_id, key)
    return json_response(_reaction_view(message, user_id, key, added=added))


async def remove_reaction(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    message, user_id, key = _reaction_target(ctx, await _body(request))
    removed = unreact(ctx, message, user_id, key)
    return json_response(_reaction_view(message, user_id, key, removed=removed))


def _reaction_view(message: Message, user_id: int, key: str, **flag: bool) -> dict[str, Any]:
    return {
        "channel_id": str(message.channel_id),
        "message_id": str(message.id),
        "user_id": str(user_id),
        "emoji": key,
        "count": len(message.reactions.get(key, ())),
        **flag,
    }


async def user_dms(request: web.Request) -> web.Response:
    """Messages bots sent the user in DMs, oldest first; `after=` (a message id) and `wait=S`
    (long-poll until one comes) as for channel messages."""
    ctx = ctx_of(request)
    user = ctx.state.get_user(_id(request.match_info["user_id"], "user id"))
    after = _id(request.query.get("after", "0") or 0, "after")

    def matching() -> list[Message]:
        return [m for m in dms_to(ctx.state, user.id) if m.id > after]

    found = await long_poll(ctx, request, matching)
    return json_response([message_payload(ctx.state, m) for m in found])


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/guilds/{guild_id}/members", add_member),
    ("GET", "/guilds/{guild_id}/members/{user_id}", get_member),
    ("DELETE", "/guilds/{guild_id}/members/{user_id}", remove_member),
    ("POST", "/guilds/{guild_id}/roles", add_role),
    ("POST", "/reactions", add_reaction),
    ("DELETE", "/reactions", remove_reaction),
    ("GET", "/users/{user_id}/dms", user_dms),
]
