"""Discord JSON shapes of the sandbox's entities (REST v10 and Gateway v10).

Field sets follow Discord's OpenAPI description (required fields always present) and what
discord.py reads when it builds its models. Snowflakes are strings, as on the wire.
"""

from __future__ import annotations

from typing import Any

from .snowflake import snowflake_time_ms
from .state import Application, Channel, Command, Guild, Member, Message, Role, SandboxState, User


def sid(value: int | None) -> str | None:
    return None if value is None else str(value)


def user_payload(user: User) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": None if user.bot else user.global_name,
        "avatar": user.avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
    }
    if user.bot:
        data["bot"] = True
    return data


def private_user_payload(user: User, *, with_email: bool) -> dict[str, Any]:
    """`GET /users/@me`: the user with the fields only its owner sees."""
    data = user_payload(user)
    data.update({"mfa_enabled": False, "locale": "en-US", "premium_type": 0, "verified": True})
    if with_email:
        data["email"] = user.email
    return data


def role_payload(role: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": role.hoist,
        "managed": role.managed,
        "mentionable": role.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if role.bot_id is not None:
        data["tags"] = {"bot_id": str(role.bot_id)}
    return data


def channel_payload(channel: Channel) -> dict[str, Any]:
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": sid(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "flags": 0,
        "parent_id": None,
        "topic": channel.topic,
        "nsfw": False,
        "last_message_id": sid(channel.last_message_id),
        "rate_limit_per_user": 0,
        "permission_overwrites": [],
    }


def dm_channel_payload(state: SandboxState, channel: Channel, viewer_id: int) -> dict[str, Any]:
    """A DM channel (type 1) as its bot sees it: `recipients` is the other side only."""
    return {
        "id": str(channel.id),
        "type": 1,
        "last_message_id": sid(channel.last_message_id),
        "flags": 0,
        "recipients": [
            user_payload(state.users[u]) for u in channel.recipient_ids if u != viewer_id
        ],
    }


def emoji_payload(key: str) -> dict[str, Any]:
    """A reaction's emoji from its key: "👍" (unicode) or "name:id" (custom)."""
    name, _, emoji_id = key.rpartition(":")
    if not name:
        return {"id": None, "name": key}
    return {"id": emoji_id, "name": name, "animated": False}


def reactions_payload(message: Message, viewer_id: int | None) -> list[dict[str, Any]]:
    return [
        {
            "emoji": emoji_payload(key),
            "count": len(users),
            "count_details": {"burst": 0, "normal": len(users)},
            "burst_colors": [],
            "me_burst": False,
            "burst_me": False,
            "burst_count": 0,
            "me": viewer_id in users,
        }
        for key, users in message.reactions.items()
        if users
    ]


def member_payload(state: SandboxState, guild: Guild, member: Member) -> dict[str, Any]:
    return {
        "user": user_payload(state.users[member.user_id]),
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in member.roles],
        "joined_at": member.joined_at,
        "premium_since": None,
        "communication_disabled_until": member.communication_disabled_until,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
    }


def interaction_member_payload(state: SandboxState, guild: Guild, member: Member) -> dict[str, Any]:
    data = member_payload(state, guild, member)
    data["permissions"] = str(state.member_permissions(guild, member))
    return data


def guild_payload(guild: Guild, *, with_counts: bool = False) -> dict[str, Any]:
    """`GET /guilds/{id}` (GuildResponse / GuildWithCountsResponse)."""
    data: dict[str, Any] = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "description": None,
        "home_header": None,
        "splash": None,
        "discovery_splash": None,
        "features": [],
        "banner": None,
        "owner_id": str(guild.owner_id),
        "application_id": None,
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": sid(guild.channel_ids[0]) if guild.channel_ids else None,
        "system_channel_flags": 0,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "roles": [role_payload(r) for r in guild.roles.values()],
        "default_message_notifications": 0,
        "mfa_level": 0,
        "explicit_content_filter": 0,
        "max_presences": None,
        "max_members": 500_000,
        "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "rules_channel_id": None,
        "safety_alerts_channel_id": None,
        "public_updates_channel_id": None,
        "premium_progress_bar_enabled": False,
        "nsfw": False,
        "nsfw_level": 0,
        "emojis": [],
        "stickers": [],
        "incidents_data": None,
    }
    if with_counts:
        data["approximate_member_count"] = len(guild.members)
        data["approximate_presence_count"] = 0
    return data


def gateway_guild_payload(
    state: SandboxState, guild: Guild, *, bot_user_id: int, all_members: bool
) -> dict[str, Any]:
    """GUILD_CREATE: the guild plus channels and members (only the bot's own member unless
    the session has the GUILD_MEMBERS intent, as on Discord)."""
    data = guild_payload(guild)
    if all_members:
        members = list(guild.members.values())
    else:
        members = [m for m in guild.members.values() if m.user_id == bot_user_id]
    bot_member = guild.members.get(bot_user_id)
    data.update(
        {
            "unavailable": False,
            "large": len(guild.members) > 250,
            "member_count": len(guild.members),
            "joined_at": bot_member.joined_at if bot_member else None,
            "members": [member_payload(state, guild, m) for m in members],
            "channels": [channel_payload(state.channels[c]) for c in guild.channel_ids],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
        }
    )
    return data


def application_payload(state: SandboxState, app: Application) -> dict[str, Any]:
    """`GET /oauth2/applications/@me` and `GET /applications/@me`."""
    bot = state.users[app.bot_user_id]
    return {
        "id": str(app.id),
        "name": app.name,
        "icon": None,
        "description": app.description,
        "type": None,
        "bot": user_payload(bot),
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": app.verify_key,
        "flags": app.flags,
        "flags_new": str(app.flags),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "owner": user_payload(state.users[app.owner_id]),
        "approximate_guild_count": len(app.guild_ids),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": None,
        "eligible_oauth2_scopes": ["bot", "applications.commands", "identify", "email"],
        "rpc_origins": [],
        "tags": [],
        "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "8"},
        "integration_types_config": {"0": {}},
    }


def session_start_limit_payload(app: Application, reset_after_s: float) -> dict[str, Any]:
    """Discord's SessionStartLimit object: how many IDENTIFYs the bot has left and when the
    budget refills (`GET /gateway/bot`; the control API shows the same)."""
    return {
        "total": app.session_start_total,
        "remaining": app.session_start_remaining,
        "reset_after": app.session_reset_after_ms(reset_after_s),
        "max_concurrency": app.max_concurrency,
    }


def command_payload(command: Command) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(command.id),
        "application_id": str(command.application_id),
        "version": str(command.version),
        "default_member_permissions": command.default_member_permissions,
        "type": command.type,
        "name": command.name,
        "name_localizations": command.name_localizations,
        "description": command.description,
        "description_localizations": command.description_localizations,
        "dm_permission": command.dm_permission,
        "contexts": command.contexts,
        "integration_types": command.integration_types,
        "nsfw": command.nsfw,
    }
    if command.options:
        data["options"] = command.options
    if command.guild_id is not None:
        data["guild_id"] = str(command.guild_id)
    return data


def message_payload(
    state: SandboxState, message: Message, viewer_id: int | None = None
) -> dict[str, Any]:
    """`viewer_id` (the calling bot) decides each reaction's `me`."""
    author = state.users.get(message.author_id)
    data: dict[str, Any] = {
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "type": message.type,
        "content": message.content,
        "author": user_payload(author) if author else None,
        "mentions": [user_payload(state.users[u]) for u in message.mentions if u in state.users],
        "mention_roles": [],
        "mention_everyone": False,
        "attachments": message.attachments,
        "embeds": message.embeds,
        "components": message.components,
        "timestamp": message.timestamp,
        "edited_timestamp": message.edited_timestamp,
        "flags": message.flags,
        "pinned": False,
        "tts": message.tts,
    }
    if message.guild_id is not None:
        data["guild_id"] = str(message.guild_id)
    if message.nonce is not None:
        data["nonce"] = message.nonce
    if message.application_id is not None:
        data["application_id"] = str(message.application_id)
    if message.webhook_id is not None:
        data["webhook_id"] = str(message.webhook_id)
    if message.message_reference is not None:
        data["message_reference"] = message.message_reference
    if message.reactions:
        data["reactions"] = reactions_payload(message, viewer_id)
    return data


def gateway_message_payload(
    state: SandboxState, message: Message, *, include_content: bool, viewer_id: int | None = None
) -> dict[str, Any]:
    """MESSAGE_CREATE; without MESSAGE_CONTENT the content-bearing fields arrive empty."""
    data = message_payload(state, message, viewer_id)
    if message.guild_id is not None:
        guild = state.guilds.get(message.guild_id)
        member = guild.members.get(message.author_id) if guild else None
        if guild is not None and member is not None:
            member_data = member_payload(state, guild, member)
            member_data.pop("user", None)
            data["member"] = member_data
    if not include_content:
        data.update({"content": "", "embeds": [], "attachments": [], "components": []})
        data.pop("poll", None)
    return data


def created_at_ms(snowflake: int) -> int:
    return snowflake_time_ms(snowflake)
