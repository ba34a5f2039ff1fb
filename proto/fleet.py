"""Contracts between bot-service's API half (bots, tokens, desired state) and its fleet half
(live discord.py connections, leases, status), and the status the product shows.

The API half writes each bot's desired state to the `bot_desired` KV bucket after the
database commit; every replica's fleet watches it. The fleet writes per-shard status to
`bot_status` and answers status reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AliasChoices, Field

from proto.base import Contract
from proto.bots import ActivityType, BotRef, LiveState, PresenceStatus
from proto.commands import CachedPlace
from proto.events import Event
from proto.registry import CoreSpec, EventSpec, KvSpec, Spec, declared_specs, gateway_rpc, rpc

# The fleet's name for the states the bots list shows (`BotStatusBrief.state`).
BotState = LiveState
# A Discord channel or server id.
DiscordId = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]


class Presence(Contract):
    status: PresenceStatus = "online"
    activity_type: ActivityType = "playing"
    activity_text: str | None = Field(default=None, max_length=128)


class DesiredBot(Contract):
    """Value of `bot_desired.<bot_id>` (never the token: the fleet loads it itself)."""

    bot_id: UUID
    # Values written before #17 name the same id `owner_id` (the owner's personal
    # workspace); bot-service rewrites them at start, the alias reads them until then.
    workspace_id: UUID = Field(validation_alias=AliasChoices("workspace_id", "owner_id"))
    running: bool
    # Bumped by restart and token replacement: units of an older generation are restarted.
    generation: int = 0
    shard_count: int | None = None  # None = Discord's recommendation
    intents: int
    presence: Presence = Field(default_factory=Presence)


class StateReport(Contract):
    """Where a bot or one of its shards stands: the state, why (reason code, message) and
    since when."""

    state: BotState
    reason: str | None = None
    message: str | None = None
    since: datetime


class ShardStatus(StateReport):
    shard_id: int
    shard_count: int
    replica: str | None = None
    latency_ms: float | None = None
    guild_count: int | None = None
    connected_at: datetime | None = None
    heartbeat_at: datetime | None = None
    retry_at: datetime | None = None


class ShardList(Contract):
    bot_id: UUID
    shards: list[ShardStatus] = Field(default_factory=list)


# A bot's own state report, with its shards'.
class BotStatus(ShardList, StateReport):
    pass


class BotStatusChanged(Event):
    """`evt.bot.<owner>.<bot>.status`: a bot or shard changed state."""

    state: BotState
    reason: str | None = None
    shard_id: int | None = None
    shard_count: int | None = None
    replica: str | None = None
    latency_ms: float | None = None
    guild_count: int | None = None
    connected_s: float | None = None


GET_STATUS = gateway_rpc(
    "rpc.bot.runtime.status",
    BotRef,
    BotStatus,
    "the live status of a bot of the calling user, with its shards",
)
GET_SHARDS = gateway_rpc(
    "rpc.bot.runtime.shards",
    BotRef,
    ShardList,
    "the shards of a bot of the calling user: replica, state, heartbeat",
)


class ApplyPresence(BotRef):
    presence: Presence


class PresenceApplied(Contract):
    bot_id: UUID
    shards: int  # shards whose live session received the new presence


class SendMessage(BotRef):
    channel_id: DiscordId
    content: str | None = Field(default=None, max_length=2000)
    embeds: list[dict[str, Any]] = Field(default_factory=list, max_length=10)


class MessageSent(Contract):
    bot_id: UUID
    channel_id: str
    message_id: str


class ContextRequest(BotRef):
    """Where a dry run of a command pretends to be: a server (this one, else any) and a
    channel (this one, else the server's first text channel) of the running bot."""

    guild_id: DiscordId | None = None
    channel_id: DiscordId | None = None


class LiveContext(BotRef, CachedPlace):
    """The server, channel and bot user as the running bot's discord.py cache knows them
    (None where it knows none)."""


class BotControl(Contract):
    """`ctl.bot.<bot_id>.<shard>`: an operation forwarded to the replica running that shard.

    Headers: `bc-ctl-op` (`avatar`, `presence`, `message`, `guilds`, `sync`), `bc-user-id`,
    `bc-meta` (the operation's request contract as JSON); the body is the raw payload (image
    bytes for `avatar`). The reply is the operation's reply contract, or an error envelope.
    """

    op: Literal["avatar", "presence", "message", "guilds", "sync"]


class FleetMember(Contract):
    """Value of `bot_members.<replica>`: a replica's heartbeat (the key expires with the TTL)."""

    replica: str
    started_at: datetime
    units: int = 0


class UnitLease(Contract):
    """Value of `bot_leases.<bot_id>.<shard>`: who runs the unit (renewed by revision)."""

    replica: str
    generation: int
    shard_count: int
    acquired_at: datetime


class ResumeInfo(Contract):
    """Value of `bot_sessions.<bot_id>.<shard>`: a session handed off for the next owner
    to RESUME."""

    session_id: str
    sequence: int | None = None
    resume_gateway_url: str
    shard_count: int
    generation: int
    guild_count: int | None = None
    from_replica: str
    at: datetime


class ShardPlan(Contract):
    """Value of `bot_plans.<bot_id>`: the resolved shard count of a bot with auto sharding.
    (`bot_plans.<bot_id>.commands` holds the hash of the commands last applied to Discord.)"""

    shard_count: int
    generation: int
    max_concurrency: int = 1


APPLY_PRESENCE = rpc(
    "rpc.bot.runtime.presence",
    ApplyPresence,
    PresenceApplied,
    callers=["gateway", "command"],
    summary="change the live presence of a running bot (every shard)",
)


class GuildChannel(Contract):
    id: str
    name: str
    # discord.py's channel type name: text, voice, category, news, stage_voice, forum, ...
    type: str
    position: int = 0


class GuildRole(Contract):
    id: str
    name: str
    color: int = 0  # RGB as an integer; 0 = no colour
    position: int = 0


class LiveGuild(Contract):
    """A server the bot is in, as its live connection sees it."""

    id: str
    name: str
    member_count: int | None = None
    icon: str | None = None  # Discord's icon hash (cdn /icons/<guild id>/<hash>.png)
    shard_id: int = 0
    channels: list[GuildChannel] = Field(default_factory=list)
    roles: list[GuildRole] = Field(default_factory=list)


class GuildList(Contract):
    """The servers of a running bot, from the live connections' caches (every shard)."""

    bot_id: UUID
    guilds: list[LiveGuild] = Field(default_factory=list)


class CommandsSynced(Contract):
    """The result of "Sync now": the bot's application commands registered with Discord again."""

    bot_id: UUID
    ok: bool
    error: str | None = None  # Discord's refusal, in its words
    commands: int = 0  # application commands Discord now has (global and per server)


SYNC_COMMANDS = gateway_rpc(
    "rpc.bot.runtime.sync_commands",
    BotRef,
    CommandsSynced,
    "register the bot's application commands with Discord again, now (running bot)",
)
GET_GUILDS = gateway_rpc(
    "rpc.bot.runtime.guilds",
    BotRef,
    GuildList,
    "the servers of a running bot with their channels and roles (live cache)",
)
SEND_MESSAGE = rpc(
    "rpc.bot.runtime.message",
    SendMessage,
    MessageSent,
    callers=["gateway", "command"],
    summary="post a message in a channel as the bot",
)

LIVE_CONTEXT = rpc(
    "rpc.bot.runtime.context",
    ContextRequest,
    LiveContext,
    callers=["command"],
    summary="a server, channel and the bot user from the running bot's cache (dry runs)",
)

SPECS: list[Spec] = [
    *declared_specs(globals()),
    CoreSpec(
        "ctl.bot.*.*",
        BotControl,
        frozenset({"bot"}),
        frozenset({"bot"}),
        "bot control routed to the replica that runs the shard",
    ),
    KvSpec("bot_members", frozenset({"bot"}), "fleet membership heartbeats (TTL)"),
    KvSpec("bot_leases", frozenset({"bot"}), "one lease per (bot, shard), renewed by revision"),
    KvSpec("bot_sessions", frozenset({"bot"}), "gateway sessions handed off for RESUME"),
    KvSpec("bot_identify", frozenset({"bot"}), "IDENTIFY pacing per bot and concurrency bucket"),
    KvSpec("bot_plans", frozenset({"bot"}), "resolved shard count and applied commands hash"),
    EventSpec("evt.bot.*.*.status", BotStatusChanged, frozenset({"bot"})),
    KvSpec("bot_desired", frozenset({"bot"}), "desired state per bot, mirrored from Postgres"),
    KvSpec("bot_status", frozenset({"bot"}), "live status per bot shard, by its owning replica"),
]
