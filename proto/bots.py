"""Contracts of the bots domain. The cross-service part is fixed here first; bot-service
adds the rest (CRUD, status, events) below."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, SecretStr, StringConstraints, field_serializer

from proto.base import Contract, Empty
from proto.events import Event
from proto.registry import EventSpec, Spec, declared_specs, gateway_rpc, rpc


# A request about one bot extends this ref (its id first, as the path gives it).
class BotRef(Contract):
    bot_id: UUID


class BotSummary(Contract):
    """What other services may know of a bot (never its token)."""

    id: UUID
    # The workspace the bot belongs to (#17): another service keeps what it stores for
    # the bot in the same one.
    workspace_id: UUID
    name: str
    application_id: str | None = None
    discord_user_id: str | None = None
    username: str | None = None


class ApplyAvatar(BotRef):
    """Raw body: the image bytes (PNG/WebP/...); this model travels in the `bc-meta` header."""

    content_type: str


class AvatarApplied(Contract):
    bot_id: UUID
    avatar_hash: str | None = None
    # True: Discord already showed this exact image, so nothing was sent (re-applying the
    # same avatar does not spend Discord's 2-changes-per-10-minutes budget).
    unchanged: bool = False


GET_BOT = rpc(
    "rpc.bot.get",
    BotRef,
    BotSummary,
    callers=["gateway", "command", "storage", "log"],
    summary="a bot of the calling user (404 when it is not theirs)",
)
APPLY_AVATAR = rpc(
    "rpc.bot.avatar.apply",
    ApplyAvatar,
    AvatarApplied,
    callers=["storage"],
    summary="set the bot user's avatar on Discord (PATCH /users/@me)",
    raw_body=True,
)


# ---------------------------------------------------------------------------------------
# bot-service's own API: CRUD, token replacement, desired state (start/stop/restart).
# ---------------------------------------------------------------------------------------

PresenceStatus = Literal["online", "idle", "dnd", "invisible"]
ActivityType = Literal["playing", "streaming", "listening", "watching", "competing", "custom"]


class BotPresence(Contract):
    """The presence a bot shows; same shape as `proto.fleet.Presence` (which imports us)."""

    status: PresenceStatus = "online"
    activity_type: ActivityType = "playing"
    activity_text: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] | None
    ) = None


# Gateway intents Discord knows (https://discord.com/developers/docs/events/gateway#gateway-intents).
INTENTS: dict[str, int] = {
    "GUILDS": 1 << 0,
    "GUILD_MEMBERS": 1 << 1,
    "GUILD_MODERATION": 1 << 2,
    "GUILD_EXPRESSIONS": 1 << 3,
    "GUILD_INTEGRATIONS": 1 << 4,
    "GUILD_WEBHOOKS": 1 << 5,
    "GUILD_INVITES": 1 << 6,
    "GUILD_VOICE_STATES": 1 << 7,
    "GUILD_PRESENCES": 1 << 8,
    "GUILD_MESSAGES": 1 << 9,
    "GUILD_MESSAGE_REACTIONS": 1 << 10,
    "GUILD_MESSAGE_TYPING": 1 << 11,
    "DIRECT_MESSAGES": 1 << 12,
    "DIRECT_MESSAGE_REACTIONS": 1 << 13,
    "DIRECT_MESSAGE_TYPING": 1 << 14,
    "MESSAGE_CONTENT": 1 << 15,
    "GUILD_SCHEDULED_EVENTS": 1 << 16,
    "AUTO_MODERATION_CONFIGURATION": 1 << 20,
    "AUTO_MODERATION_EXECUTION": 1 << 21,
    "GUILD_MESSAGE_POLLS": 1 << 24,
    "DIRECT_MESSAGE_POLLS": 1 << 25,
}
# Intents that must be switched on in the Discord developer portal (Bot page) first.
PRIVILEGED_INTENTS: tuple[str, ...] = ("GUILD_MEMBERS", "GUILD_PRESENCES", "MESSAGE_CONTENT")
DEFAULT_INTENTS = INTENTS["GUILDS"]
MAX_SHARDS = 1024
MAX_TAGS = 20

# An intent set is either the bit field Discord uses or a list of intent names.
IntentsInput = Annotated[int, Field(ge=0, le=(1 << 26) - 1)] | list[str]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
BotName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=1000)]
ShardCount = Annotated[int, Field(ge=1, le=MAX_SHARDS)]
# Travels in clear between the gateway and bot-service only; masked in repr and logs.
BotToken = Annotated[SecretStr, Field(min_length=1, max_length=200)]


class _WithToken(Contract):
    @field_serializer("token", when_used="json", check_fields=False)
    def _reveal(self, value: SecretStr) -> str:
        # JSON on the bus carries the token to bot-service; repr()/str() stay masked.
        return value.get_secret_value()


class CreateBot(_WithToken):
    """`POST /v1/bots`: add a bot by its token (checked against Discord)."""

    token: BotToken
    name: BotName | None = Field(default=None, description="defaults to the bot's Discord username")
    description: Description = ""
    intents: IntentsInput = Field(default=DEFAULT_INTENTS, description="bit field or intent names")
    presence: BotPresence = Field(default_factory=BotPresence)
    shard_count: ShardCount | None = Field(
        default=None, description="null = Discord's recommendation"
    )
    auto_start: bool = Field(default=False, description="start the bot as soon as it is added")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    workspace_id: UUID | None = Field(
        default=None, description="the workspace to add it to (default: the caller's personal one)"
    )


class UpdateBot(BotRef):
    """`PATCH /v1/bots/{id}`: only the fields given (not null) change.

    `shard_count: "auto"` returns to Discord's recommended shard count."""

    name: BotName | None = None
    description: Description | None = None
    intents: IntentsInput | None = None
    presence: BotPresence | None = None
    shard_count: ShardCount | Literal["auto"] | None = None
    auto_start: bool | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)


class ReplaceToken(BotRef, _WithToken):
    """`PUT /v1/bots/{id}/token`: a new token for the same Discord application."""

    token: BotToken


class ListBots(Contract):
    tag: str | None = None
    # Only the bots of this workspace (404 when the caller is not a member).
    workspace_id: UUID | None = None


class IntentInfo(Contract):
    name: str
    value: int
    privileged: bool
    # For privileged intents: whether the application has it enabled in the developer
    # portal (None when Discord did not say).
    enabled_in_portal: bool | None = None


LiveState = Literal["offline", "starting", "online", "reconnecting", "stopping", "error"]


class BotStatusBrief(Contract):
    """A bot's live status in the bots list (same words as `GET /v1/bots/{id}/status`)."""

    state: LiveState
    reason: str | None = None
    message: str | None = None
    latency_ms: float | None = Field(default=None, description="mean heartbeat RTT of its shards")
    guild_count: int | None = Field(default=None, description="guilds over all its shards")


class BotView(Contract):
    """A bot as a member of its workspace sees it. The token appears only as `…last4`."""

    id: UUID
    workspace_id: UUID
    name: str
    description: str
    intents: int
    intent_names: list[IntentInfo]
    privileged_intents: list[str]
    warnings: list[str] = Field(default_factory=list)
    presence: BotPresence
    shard_count: int | None
    auto_start: bool
    tags: list[str]
    desired_state: Literal["running", "stopped"]
    generation: int
    token_hint: str
    application_id: str
    discord_user_id: str
    username: str
    avatar_url: str | None = Field(
        default=None, description="the bot user's avatar on Discord's CDN (null: default avatar)"
    )
    status: BotStatusBrief | None = Field(
        default=None, description="live status (in `GET /v1/bots` items; null elsewhere)"
    )
    created_at: datetime
    updated_at: datetime


class BotPage(Contract):
    bots: list[BotView]


class BotDeleted(Contract):
    bot_id: UUID
    # False when the fleet still showed a live shard at the deadline (it stops anyway:
    # the desired state is gone).
    stopped: bool


class BotChanged(Event):
    """`evt.bot.<owner>.<bot>.<kind>` for kind in created, updated, deleted, started,
    stopped, restarted, token_replaced. Never carries the token."""

    name: str
    fields: list[str] = Field(default_factory=list)


BOT_EVENT_KINDS = (
    "created",
    "updated",
    "deleted",
    "started",
    "stopped",
    "restarted",
    "token_replaced",
)

CREATE_BOT = gateway_rpc("rpc.bot.create", CreateBot, BotView, "add a bot by its token")
LIST_BOTS = gateway_rpc("rpc.bot.list", ListBots, BotPage, "the calling user's bots")
READ_BOT = gateway_rpc("rpc.bot.read", BotRef, BotView, "one bot of the calling user")
UPDATE_BOT = gateway_rpc("rpc.bot.update", UpdateBot, BotView, "change a bot's settings")
DELETE_BOT = gateway_rpc("rpc.bot.delete", BotRef, BotDeleted, "stop a bot, then delete it")
REPLACE_TOKEN = gateway_rpc("rpc.bot.token.replace", ReplaceToken, BotView, "replace a bot's token")
START_BOT = gateway_rpc("rpc.bot.start", BotRef, BotView, "desired state: running")
STOP_BOT = gateway_rpc("rpc.bot.stop", BotRef, BotView, "desired state: stopped")
RESTART_BOT = gateway_rpc("rpc.bot.restart", BotRef, BotView, "running, with a new generation")

# ---------------------------------------------------------------------------------------
# Try it: invoke a command as a sandbox user when the server runs against discord-sandbox.
# ---------------------------------------------------------------------------------------


class SandboxInfo(Contract):
    """`GET /v1/sandbox`: whether Discord is the local discord-sandbox (Try it works)."""

    enabled: bool
    message: str


TryKind = Literal["slash", "prefix", "user", "message"]
TryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
# A server or channel of the sandbox to try a command in.
SandboxId = Annotated[str, Field(max_length=32, pattern=r"^[0-9]+$")]


class TryCommand(Contract):
    """`POST /v1/bots/{id}/try`: a command by id (any kind) or a slash command by name."""

    command_id: UUID | None = None
    name: TryName | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="option name -> value")
    content: str | None = Field(
        default=None, max_length=1900, description="prefix commands: the text after the command"
    )
    guild_id: SandboxId | None = None
    channel_id: SandboxId | None = None


class TryInvoke(BotRef):
    """bot-service: invoke `name` on the bot through the sandbox as its try-it user."""

    name: TryName
    kind: TryKind = "slash"
    prefix: str | None = Field(default=None, max_length=10)
    options: dict[str, Any] = Field(default_factory=dict)
    content: str | None = Field(default=None, max_length=1900)
    guild_id: SandboxId | None = None
    channel_id: SandboxId | None = None
    wait_s: float = Field(default=10.0, gt=0, le=30)


class TryResult(Contract):
    """What the bot answered in the sandbox (the final answer: after a deferral, the
    follow-up)."""

    interaction_id: str | None = Field(description="null for prefix commands (a message)")
    content: str | None = None
    embeds: list[dict[str, Any]] = Field(default_factory=list)
    ephemeral: bool = False
    deferred: bool = False
    latency_ms: float | None = Field(default=None, description="dispatch to first answer")
    guild_id: str
    channel_id: str
    user_id: str = Field(description="the sandbox user who invoked it")


SANDBOX_INFO = gateway_rpc(
    "rpc.bot.sandbox",
    Empty,
    SandboxInfo,
    "is Discord the local discord-sandbox (Try it available)?",
)
TRY_COMMAND = gateway_rpc(
    "rpc.bot.try",
    TryInvoke,
    TryResult,
    "invoke a command as the sandbox's try-it user and return the bot's answer",
)


class CheckBotIds(Contract):
    """Which of `bot_ids` are not bots of the workspace (auth-service checks a membership's
    or an invitation's `bot_ids` with it before writing; #17)."""

    workspace_id: UUID
    bot_ids: list[UUID] = Field(max_length=100)


class BotIdsChecked(Contract):
    # The ids that are not bots of the workspace, in the order given; empty: all are.
    unknown: list[UUID]


CHECK_BOT_IDS = rpc(
    "rpc.bot.ids.check",
    CheckBotIds,
    BotIdsChecked,
    callers=["auth"],
    summary="which of these ids are not bots of the workspace",
)

SPECS: list[Spec] = [
    *declared_specs(globals()),
    *(
        EventSpec(f"evt.bot.*.*.{kind}", BotChanged, frozenset({"bot"}), f"a bot was {kind}")
        for kind in BOT_EVENT_KINDS
    ),
]
