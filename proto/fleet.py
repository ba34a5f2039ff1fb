"""Contracts between bot-service's API half (bots, tokens, desired state) and its fleet half
(live discord.py connections, leases, status), and the status the product shows.

The API half writes each bot's desired state to the `bot_desired` KV bucket after the
database commit; every replica's fleet watches it. The fleet writes per-shard status to
`bot_status` and answers status reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.base import Contract
from proto.bots import BotRef
from proto.events import Event
from proto.registry import CoreSpec, EventSpec, KvSpec, RpcSpec, rpc

PresenceStatus = Literal["online", "idle", "dnd", "invisible"]
ActivityType = Literal["playing", "streaming", "listening", "watching", "competing", "custom"]
BotState = Literal["offline", "starting", "online", "reconnecting", "stopping", "error"]


class Presence(Contract):
    status: PresenceStatus = "online"
    activity_type: ActivityType = "playing"
    activity_text: str | None = Field(default=None, max_length=128)


class DesiredBot(Contract):
    """Value of `bot_desired.<bot_id>` (never the token: the fleet loads it itself)."""

    bot_id: UUID
    owner_id: UUID
    running: bool
    # Bumped by restart and token replacement: units of an older generation are restarted.
    generation: int = 0
    shard_count: int | None = None  # None = Discord's recommendation
    intents: int
    presence: Presence = Field(default_factory=Presence)


class ShardStatus(Contract):
    shard_id: int
    shard_count: int
    state: BotState
    reason: str | None = None
    message: str | None = None
    since: datetime
    replica: str | None = None
    latency_ms: float | None = None
    guild_count: int | None = None
    connected_at: datetime | None = None
    heartbeat_at: datetime | None = None
    retry_at: datetime | None = None


class BotStatus(Contract):
    bot_id: UUID
    state: BotState
    reason: str | None = None
    message: str | None = None
    since: datetime
    shards: list[ShardStatus] = Field(default_factory=list)


class ShardList(Contract):
    bot_id: UUID
    shards: list[ShardStatus] = Field(default_factory=list)


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


GET_STATUS = rpc(
    "rpc.bot.runtime.status",
    BotRef,
    BotStatus,
    callers=["gateway"],
    summary="the live status of a bot of the calling user, with its shards",
)
GET_SHARDS = rpc(
    "rpc.bot.runtime.shards",
    BotRef,
    ShardList,
    callers=["gateway"],
    summary="the shards of a bot of the calling user: replica, state, heartbeat",
)

SPECS: list[RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec] = [
    GET_STATUS,
    GET_SHARDS,
    EventSpec("evt.bot.*.*.status", BotStatusChanged, frozenset({"bot"})),
    KvSpec("bot_desired", frozenset({"bot"}), "desired state per bot, mirrored from Postgres"),
    KvSpec("bot_status", frozenset({"bot"}), "live status per bot shard, by its owning replica"),
]
