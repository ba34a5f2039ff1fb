"""Direct messages between a bot and a person: the DM channel (`POST /users/@me/channels`),
who may be messaged, and delivering DM events to the bot's shard 0, where Discord sends them.
"""

from __future__ import annotations

from typing import Any

from .context import SandboxContext
from .errors import CANNOT_MESSAGE_USER, DiscordError
from .sessions import Session
from .state import Application, Channel, Message, SandboxState, User

DM_CHANNEL = 1


def open_dm(state: SandboxState, bot_user_id: int, user: User) -> Channel:
    """The bot's DM channel with `user`, created on first use (Discord keeps one per pair)."""
    pair = {bot_user_id, user.id}
    for channel in state.channels.values():
        if channel.type == DM_CHANNEL and set(channel.recipient_ids) == pair:
            return channel
    channel = Channel(
        id=state.snowflakes.next(),
        guild_id=None,
        name="",
        type=DM_CHANNEL,
        recipient_ids=[bot_user_id, user.id],
    )
    state.channels[channel.id] = channel
    state.touch()
    return channel


def require_reachable(state: SandboxState, app: Application, channel: Channel) -> None:
    """A bot may message a person only while they share a guild, and never another bot
    (50007 Cannot send messages to this user, as on Discord)."""
    others = [u for u in channel.recipient_ids if u != app.bot_user_id]
    if not others:
        raise DiscordError(403, CANNOT_MESSAGE_USER, "Cannot send messages to this user")
    for user_id in others:
        user = state.users.get(user_id)
        shared = any(user_id in state.guilds[g].members for g in app.guild_ids if g in state.guilds)
        if user is None or user.bot or not shared:
            raise DiscordError(403, CANNOT_MESSAGE_USER, "Cannot send messages to this user")


def dms_to(state: SandboxState, user_id: int) -> list[Message]:
    """Messages bots sent to `user_id` in DMs, oldest first."""
    found = [
        message
        for channel in state.channels.values()
        if channel.type == DM_CHANNEL and user_id in channel.recipient_ids
        for message in state.channel_messages(channel.id)
        if message.author_id != user_id
        and (author := state.users.get(message.author_id)) is not None
        and author.bot
    ]
    return sorted(found, key=lambda m: m.id)


def dispatch_to_recipients(
    ctx: SandboxContext, channel_id: int, event: str, intent: int, data: Any
) -> int:
    """Send a DM event to the bots in the channel, on their shard-0 sessions that asked for
    `intent` (DIRECT_MESSAGES, DIRECT_MESSAGE_REACTIONS)."""
    channel = ctx.state.channels.get(channel_id)
    if channel is None:
        return 0
    sent = 0
    for user_id in channel.recipient_ids:
        app_id = ctx.state.users[user_id].application_id if user_id in ctx.state.users else None
        if app_id is None:
            continue
        # Shard 0 is the one that owns "guild 0", i.e. where Discord delivers DMs.
        sessions: list[Session] = ctx.hub.sessions_for_guild(app_id, 0)
        for session in sessions:
            if session.has(intent):
                session.push(event, data)
                sent += 1
    ctx.stats.incr("dispatches", sent)
    return sent
