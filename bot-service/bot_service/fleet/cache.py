"""What a command's invocation carries about its place, read from a discord.py client's
cache with discord.py's public API: the guild (name, member count), the channel, the
bot's own user, and the invoking member (server name, avatar, roles with their names)."""

from __future__ import annotations

from typing import Any

import discord

from proto.commands import BotInfo, ChannelInfo, GuildInfo, Invoker


def invoker_of(user: discord.abc.User | None, permissions: str = "0") -> Invoker:
    """Who invoked, from the live connection's cache: the member's server name, avatar and
    roles (ids and names; not @everyone)."""
    if user is None:
        return Invoker(id="0", permissions=permissions)
    roles = [r for r in getattr(user, "roles", []) if not r.is_default()]
    avatar = getattr(user, "display_avatar", None)
    return Invoker(
        id=str(user.id),
        username=user.name,
        display_name=user.display_name,
        avatar_url=str(avatar.url) if avatar is not None else None,
        roles=[str(r.id) for r in roles],
        role_names=[r.name for r in roles],
        permissions=permissions,
    )


def place_of(
    me: discord.abc.User | None, guild: discord.Guild | None, channel: object
) -> dict[str, Any]:
    """The invocation's guild, channel and bot as the connection's cache knows them."""
    out: dict[str, Any] = {}
    if guild is not None:
        out["guild"] = GuildInfo(
            id=str(guild.id), name=guild.name or "", member_count=guild.member_count
        )
    channel_id = getattr(channel, "id", None)
    if channel_id is not None:
        out["channel"] = ChannelInfo(id=str(channel_id), name=getattr(channel, "name", None) or "")
    if me is not None:
        out["bot"] = BotInfo(id=str(me.id), name=me.name)
    return out
