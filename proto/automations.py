"""Contracts of automations (#18): what starts one (a trigger: a Discord event or a
schedule), what it does (steps, shared with commands), its runs, and per-server variables.

command-service owns automations, runs and variables; bot-service forwards the Discord
events a trigger needs (`DiscordEvent`, on the `DISCORD` stream) and carries out every
Discord side effect (`DiscordAct`), because the bot token never leaves it. The plan:
docs/design/automations.md.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

from proto.base import Contract, Empty
from proto.bots import INTENTS
from proto.commands import (
    MAX_COOLDOWN_S,
    MAX_TEMPLATE,
    AiResponse,
    EmbedTemplate,
    HttpRequestTemplate,
    Loc,
    Snowflake,
    TemplateVariable,
    rule_error,
)
from proto.events import Event
from proto.registry import EventSpec, KvSpec, Spec, declared_specs, rpc

# --------------------------------------------------------------------------------------
# Limits (the console reads them from /v1/config, the executor enforces them).
# --------------------------------------------------------------------------------------
MAX_STEPS = 25  # per automation, nested steps included
MAX_NESTING = 5  # conditions inside conditions; a sixth level is refused
MAX_RUN_S = 10.0  # wall time of one run
MAX_DISCORD_CALLS = 25  # per run, each through the bot's own rate limits
MAX_CHAIN_DEPTH = 3  # automations triggering each other stop here (a logged warning)
MAX_AUTOMATIONS_PER_BOT = 100
MAX_PATTERN = 500
MAX_VARIABLES_PER_GUILD = 1000
MAX_VARIABLE_BYTES = 4096
# Discord's own limit for a member timeout: 28 days.
MAX_TIMEOUT_S = 28 * 86_400
SCHEDULE_PREVIEW = 5  # how many next fire times an automation shows

VARIABLE_KEY = re.compile(r"^[a-z0-9_]{1,64}$")
_STEP_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SNOWFLAKE = re.compile(r"^[0-9]{15,21}$")
# Five cron fields of digits, names, `*`, `,`, `-`, `/` (cronsim checks the values).
_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")

VariableKey = Annotated[str, Field(pattern=VARIABLE_KEY.pattern, description="a-z, 0-9, _")]
StepName = Annotated[str, Field(pattern=_STEP_NAME.pattern, description="a-z, 0-9, _")]


def _id_or_template(value: str) -> str:
    if _SNOWFLAKE.match(value) or "{{" in value:
        return value
    raise ValueError("must be a Discord id (15 to 21 digits) or a template like {{ user.id }}")


# A Discord id, or a template that renders to one at run time ("ids may be templates").
IdTemplate = Annotated[str, Field(min_length=1, max_length=200)]


class _Ids(Contract):
    @field_validator("*", mode="after")
    @classmethod
    def _ids(cls, v: Any, info: Any) -> Any:
        if isinstance(v, str) and info.field_name in _ID_FIELDS:
            return _id_or_template(v)
        return v


_ID_FIELDS = frozenset({"channel_id", "user_id", "role_id", "message_id"})

# --------------------------------------------------------------------------------------
# Triggers
# --------------------------------------------------------------------------------------


class _Filters(Contract):
    """Where an event must come from to start the automation (empty: anywhere)."""

    guild_ids: list[Snowflake] = Field(default_factory=list, max_length=25)
    channel_ids: list[Snowflake] = Field(default_factory=list, max_length=25)
    # The member must have one of these roles.
    role_ids: list[Snowflake] = Field(default_factory=list, max_length=25)


class MemberJoinTrigger(_Filters):
    type: Literal["member_join"] = "member_join"


class MemberLeaveTrigger(_Filters):
    type: Literal["member_leave"] = "member_leave"


MessageMatch = Literal["contains", "starts_with", "equals", "regex"]


class MessageTrigger(_Filters):
    type: Literal["message"] = "message"
    match: MessageMatch = "contains"
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN)
    case_sensitive: bool = False
    ignore_bots: bool = True


class _Reaction(_Filters):
    # A unicode emoji or a custom one as `<:name:id>` / `name:id` (None: any).
    emoji: str | None = Field(None, min_length=1, max_length=100)
    message_id: Snowflake | None = None


class ReactionAddTrigger(_Reaction):
    type: Literal["reaction_add"] = "reaction_add"


class ReactionRemoveTrigger(_Reaction):
    type: Literal["reaction_remove"] = "reaction_remove"


class ButtonTrigger(_Filters):
    """A click on a message component whose `custom_id` starts with the prefix."""

    type: Literal["button"] = "button"
    custom_id_prefix: str = Field(min_length=1, max_length=100)


class GuildJoinTrigger(Contract):
    """The bot was added to a server."""

    type: Literal["guild_join"] = "guild_join"


MissedRuns = Literal["skip", "run_once"]


class ScheduleTrigger(Contract):
    """Fires on a clock: a cron expression, every N minutes, or once at a time. Each due time
    fires once across every replica; DST follows the zone's rules (docs/design/automations.md
    §0.6: a wall time skipped by spring-forward fires at the first instant after the gap, one
    that happens twice fires at its first occurrence)."""

    type: Literal["schedule"] = "schedule"
    cron: str | None = Field(None, max_length=120, examples=["0 9 * * 1-5"])
    every_minutes: StrictInt | None = Field(None, ge=1, le=525_600)
    # An aware ISO time is that instant; a naive one is read in `timezone`.
    at: datetime | None = None
    timezone: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/Berlin"])
    missed: MissedRuns = "skip"
    # The server whose variables (`vars`) the run sees; a channel step without a channel
    # posts here.
    guild_id: Snowflake | None = None
    channel_id: IdTemplate | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and not _CRON.match(v):
            raise ValueError("must have five fields: minute hour day-of-month month day-of-week")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone (use a name like Europe/Berlin)") from None
        return v

    @field_validator("channel_id")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        return None if v is None else _id_or_template(v)

    @model_validator(mode="after")
    def _one_clock(self) -> ScheduleTrigger:
        given = [n for n in ("cron", "every_minutes", "at") if getattr(self, n) is not None]
        if len(given) != 1:
            raise rule_error([(("cron",), "give exactly one of cron, every_minutes or at")])
        return self


Trigger = Annotated[
    MemberJoinTrigger
    | MemberLeaveTrigger
    | MessageTrigger
    | ReactionAddTrigger
    | ReactionRemoveTrigger
    | ButtonTrigger
    | GuildJoinTrigger
    | ScheduleTrigger,
    Field(discriminator="type"),
]
TriggerType = Literal[
    "member_join",
    "member_leave",
    "message",
    "reaction_add",
    "reaction_remove",
    "button",
    "guild_join",
    "schedule",
]

# The gateway intents each trigger needs (bot-service ORs them into what the bot
# identifies with). Interactions (buttons) and schedules need none.
TRIGGER_INTENTS: dict[str, int] = {
    "member_join": INTENTS["GUILD_MEMBERS"],
    "member_leave": INTENTS["GUILD_MEMBERS"],
    "message": INTENTS["GUILD_MESSAGES"] | INTENTS["MESSAGE_CONTENT"],
    "reaction_add": INTENTS["GUILD_MESSAGE_REACTIONS"],
    "reaction_remove": INTENTS["GUILD_MESSAGE_REACTIONS"],
    "button": 0,
    "guild_join": INTENTS["GUILDS"],
    "schedule": 0,
}

# What a trigger's runs give templates: the one list the editor shows, the save check uses
# and the dry run's sample event is built from (each example is the sample's value). `only`:
# the trigger types that have it (empty: every one).
_EVENTS_WITH_A_USER = ("member_join", "member_leave", "message", "reaction_add",
                       "reaction_remove", "button")  # fmt: skip
_EVENTS_IN_A_CHANNEL = ("message", "reaction_add", "reaction_remove", "button")


def _v(path: str, description: str, example: Any, *only: str) -> TemplateVariable:
    return TemplateVariable(path=path, description=description, example=str(example),
                            only=list(only))  # fmt: skip


AUTOMATION_VARIABLES: tuple[TemplateVariable, ...] = (
    _v("user.id", "the member's (or reacting, clicking, writing user's) id", "80351110224678912",
       *_EVENTS_WITH_A_USER),
    _v("user.name", "their username", "grace", *_EVENTS_WITH_A_USER),
    _v("user.display_name", "the name shown in the server", "Grace", *_EVENTS_WITH_A_USER),
    _v("user.mention", "a mention of them", "<@80351110224678912>", *_EVENTS_WITH_A_USER),
    _v("user.avatar_url", "their avatar image URL", "https://cdn.discordapp.com/embed/avatars/0.png",
       *_EVENTS_WITH_A_USER),
    _v("user.bot", "whether they are a bot", "False", *_EVENTS_WITH_A_USER),
    _v("member.roles", "the ids of their roles (a list)", "['41771983423143936']",
       "member_join", "message", "reaction_add", "reaction_remove", "button"),
    _v("member.joined_at", "when they joined the server (ISO 8601)", "2026-01-01T12:00:00+00:00",
       "member_join", "message", "reaction_add", "reaction_remove", "button"),
    _v("guild.id", "the server's id", "41771983423143937"),
    _v("guild.name", "the server's name", "Sandbox Server"),
    _v("guild.member_count", "how many members the server has", "42"),
    _v("channel.id", "the channel's id", "41771983423143938", *_EVENTS_IN_A_CHANNEL, "schedule"),
    _v("channel.name", "the channel's name", "general", *_EVENTS_IN_A_CHANNEL, "schedule"),
    _v("channel.mention", "a mention of the channel", "<#41771983423143938>",
       *_EVENTS_IN_A_CHANNEL, "schedule"),
    _v("message.id", "the message's id", "41771983423143940", *_EVENTS_IN_A_CHANNEL),
    _v("message.content", "the message's text", "hello there", "message"),
    _v("message.author_id", "who wrote the message", "80351110224678912", *_EVENTS_IN_A_CHANNEL),
    _v("reaction.emoji", "the emoji (unicode, or <:name:id>)", "👍",
       "reaction_add", "reaction_remove"),
    _v("button.custom_id", "the clicked button's custom_id", "role:41771983423143936", "button"),
    _v("bot.id", "the bot's Discord user id", "41771983423143939"),
    _v("bot.name", "the bot's name", "Helper"),
    _v("vars.NAME", "the server's variable NAME", ""),
    _v("user_vars.NAME", "the member's variable NAME", "", *_EVENTS_WITH_A_USER),
    _v("steps.NAME", "what the step named NAME gave (steps.NAME.data, .text, .message_id)", ""),
    _v("now", "the current time (ISO 8601, UTC)", "2026-01-01T12:00:00+00:00"),
    _v("random", "a random number from 0 up to 1", "0.42"),
)  # fmt: skip


def variables_for(trigger: str) -> list[TemplateVariable]:
    return [v for v in AUTOMATION_VARIABLES if not v.only or trigger in v.only]


# --------------------------------------------------------------------------------------
# Steps (shared by commands, event triggers and schedules)
# --------------------------------------------------------------------------------------


class _Step(_Ids):
    # Later steps read this step's output as `steps.<name>.…`.
    name: StepName | None = None


ButtonStyle = Literal["primary", "secondary", "success", "danger", "link"]


class Button(Contract):
    label: str = Field(min_length=1, max_length=80)
    style: ButtonStyle = "primary"
    # A click on a non-link button starts `button` triggers by this id's prefix.
    custom_id: str | None = Field(None, min_length=1, max_length=100)
    url: str | None = Field(None, max_length=512)
    emoji: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _target(self) -> Button:
        if self.style == "link":
            if not self.url or self.custom_id:
                raise rule_error([(("url",), "a link button needs a url and no custom_id")])
        elif not self.custom_id or self.url:
            raise rule_error([(("custom_id",), "a button needs a custom_id (links: style link)")])
        return self


class ActionRow(Contract):
    buttons: list[Button] = Field(min_length=1, max_length=5)


class _Message(Contract):
    content: str | None = Field(None, max_length=MAX_TEMPLATE)
    embeds: list[EmbedTemplate] = Field(default_factory=list, max_length=10)
    components: list[ActionRow] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _something(self) -> _Message:
        if not (self.content or self.embeds):
            raise rule_error([(("content",), "a message needs content or at least one embed")])
        return self


class SendMessageStep(_Step, _Message):
    """To the event's channel; `channel_id`: a fixed channel; `user_id`: a DM to that user."""

    type: Literal["send_message"] = "send_message"
    channel_id: IdTemplate | None = None
    user_id: IdTemplate | None = None

    @model_validator(mode="after")
    def _one_place(self) -> SendMessageStep:
        if self.channel_id and self.user_id:
            raise rule_error([(("user_id",), "give a channel_id or a user_id (a DM), not both")])
        return self


class ReplyStep(_Step, _Message):
    """Answer the interaction (a command or a button click) that started the run."""

    type: Literal["reply"] = "reply"
    ephemeral: bool = False


class DeferStep(_Step):
    """Tell Discord an answer is coming (a slow chain): later `reply` steps follow up."""

    type: Literal["defer"] = "defer"
    ephemeral: bool = False


class _MemberStep(_Step):
    # None: the event's member.
    user_id: IdTemplate | None = None


class AddRoleStep(_MemberStep):
    type: Literal["add_role"] = "add_role"
    role_id: IdTemplate


class RemoveRoleStep(_MemberStep):
    type: Literal["remove_role"] = "remove_role"
    role_id: IdTemplate


class _MessageStep(_Step):
    # None: the event's message (and its channel).
    channel_id: IdTemplate | None = None
    message_id: IdTemplate | None = None


class DeleteMessageStep(_MessageStep):
    type: Literal["delete_message"] = "delete_message"


class AddReactionStep(_MessageStep):
    type: Literal["add_reaction"] = "add_reaction"
    emoji: str = Field(min_length=1, max_length=100)


class TimeoutMemberStep(_MemberStep):
    type: Literal["timeout_member"] = "timeout_member"
    duration_s: StrictInt = Field(ge=1, le=MAX_TIMEOUT_S)
    reason: str | None = Field(None, max_length=512)


class KickMemberStep(_MemberStep):
    """Needs Kick Members on Discord; a refusal is reported in the run, never hidden."""

    type: Literal["kick_member"] = "kick_member"
    reason: str | None = Field(None, max_length=512)


VariableScope = Literal["guild", "user"]


class _VariableStep(_Step):
    key: VariableKey
    # `guild`: `vars.<key>` of the server; `user`: `user_vars.<key>` of a member there.
    scope: VariableScope = "guild"
    # For `user` scope (None: the event's user).
    user_id: IdTemplate | None = None


class SetVariableStep(_VariableStep):
    type: Literal["set_variable"] = "set_variable"
    value: str = Field(max_length=MAX_VARIABLE_BYTES, description="a template")
    expires_in_s: StrictInt | None = Field(None, ge=1, le=366 * 86_400)


class IncrementVariableStep(_VariableStep):
    type: Literal["increment_variable"] = "increment_variable"
    by: StrictInt | StrictFloat = 1
    expires_in_s: StrictInt | None = Field(None, ge=1, le=366 * 86_400)


class DeleteVariableStep(_VariableStep):
    type: Literal["delete_variable"] = "delete_variable"


class HttpStep(HttpRequestTemplate, _Step):
    """Call an API connection (the outbound rules of commands); later steps read
    `steps.<name>.data` (the JSON) and `steps.<name>.status`."""

    connection_id: UUID


class AiStep(AiResponse, _Step):
    """Send a prompt; later steps read `steps.<name>.text`."""


class ConditionStep(_Step):
    """`if` the template expression is true run `then`, else `else`."""

    # `if`/`else` are Python keywords: the fields are `if_`/`else_`, the wire names are not.
    model_config = ConfigDict(serialize_by_alias=True)

    type: Literal["condition"] = "condition"
    if_: str = Field(
        alias="if", min_length=1, max_length=500, examples=["member.roles | length > 0"]
    )
    then: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)
    else_: list[Step] = Field(default_factory=list, alias="else", max_length=MAX_STEPS)


class StopStep(_Step):
    type: Literal["stop"] = "stop"


Step = Annotated[
    SendMessageStep
    | ReplyStep
    | DeferStep
    | AddRoleStep
    | RemoveRoleStep
    | DeleteMessageStep
    | AddReactionStep
    | TimeoutMemberStep
    | KickMemberStep
    | SetVariableStep
    | IncrementVariableStep
    | DeleteVariableStep
    | HttpStep
    | AiStep
    | ConditionStep
    | StopStep,
    Field(discriminator="type"),
]
ConditionStep.model_rebuild()

# Steps that call Discord (each counts against MAX_DISCORD_CALLS); a `DiscordAct` carries
# one of them out.
DiscordStepType = Literal[
    "send_message",
    "reply",
    "defer",
    "add_role",
    "remove_role",
    "delete_message",
    "add_reaction",
    "timeout_member",
    "kick_member",
]
DISCORD_STEPS: frozenset[str] = frozenset(get_args(DiscordStepType))
# Steps that only make sense when an interaction started the run.
INTERACTION_STEPS = frozenset({"reply", "defer"})


def walk_steps(steps: list[Any], at: Loc = ()) -> list[tuple[Loc, Any, int]]:
    """Every step with its location (`("actions", 0, "then", 1)` style, relative to `at`)
    and its nesting level (0: top)."""
    found: list[tuple[Loc, Any, int]] = []

    def visit(items: list[Any], loc: Loc, level: int) -> None:
        for i, step in enumerate(items):
            found.append(((*loc, i), step, level))
            if isinstance(step, ConditionStep):
                visit(step.then, (*loc, i, "then"), level + 1)
                visit(step.else_, (*loc, i, "else"), level + 1)

    visit(steps, at, 0)
    return found


def check_steps(steps: list[Any], field: str = "actions") -> None:
    """The limits of a step list: at most MAX_STEPS in all, conditions nested at most
    MAX_NESTING deep, each step name used once. Raises the field errors."""
    every = walk_steps(steps, (field,))
    errors: list[tuple[Loc, str]] = []
    if len(every) > MAX_STEPS:
        errors.append(((field,), f"at most {MAX_STEPS} steps, nested ones included ({len(every)})"))
    for loc, step, level in every:
        if level >= MAX_NESTING and isinstance(step, ConditionStep):
            errors.append((loc, f"conditions may be nested at most {MAX_NESTING} deep"))
            break
    seen: dict[str, Loc] = {}
    for loc, step, _ in every:
        if step.name is None:
            continue
        if step.name in seen:
            errors.append(((*loc, "name"), f"the name {step.name!r} is used by another step"))
        seen[step.name] = loc
    if errors:
        raise rule_error(errors)


# --------------------------------------------------------------------------------------
# Automations
# --------------------------------------------------------------------------------------


class AutomationStatus(Contract):
    active: bool
    # Why it is not active (e.g. "privileged_intent_missing: enable Server Members Intent…").
    reason: str | None = None


class AutomationIn(Contract):
    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    trigger: Trigger
    actions: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    cooldown_user_s: StrictInt = Field(0, ge=0, le=MAX_COOLDOWN_S)
    cooldown_guild_s: StrictInt = Field(0, ge=0, le=MAX_COOLDOWN_S)

    @model_validator(mode="after")
    def _limits(self) -> AutomationIn:
        check_steps(self.actions)
        return self


class AutomationPatch(Contract):
    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    trigger: Trigger | None = None
    actions: list[Step] | None = Field(None, min_length=1, max_length=MAX_STEPS)
    cooldown_user_s: StrictInt | None = Field(None, ge=0, le=MAX_COOLDOWN_S)
    cooldown_guild_s: StrictInt | None = Field(None, ge=0, le=MAX_COOLDOWN_S)

    @model_validator(mode="after")
    def _limits(self) -> AutomationPatch:
        if self.actions is not None:
            check_steps(self.actions)
        return self


RunOutcome = Literal["ok", "failed", "skipped"]


class AutomationRunOut(Contract):
    id: UUID
    automation_id: UUID
    # "Grace joined Sandbox Server", "due 2027-03-29 09:00 Europe/Berlin".
    trigger_summary: str
    outcome: RunOutcome
    steps_done: int
    error: str | None = None
    started_at: datetime
    duration_ms: float


class AutomationOut(AutomationIn):
    id: UUID
    bot_id: UUID
    workspace_id: UUID
    status: AutomationStatus
    # Schedules only: the next SCHEDULE_PREVIEW fire times.
    next_runs: list[datetime] | None = None
    last_run: AutomationRunOut | None = None
    created_at: datetime
    updated_at: datetime


class AutomationList(Contract):
    items: list[AutomationOut]


class BotAutomationRef(Contract):
    bot_id: UUID


class AutomationRef(Contract):
    bot_id: UUID
    automation_id: UUID


class CreateAutomation(Contract):
    bot_id: UUID
    automation: AutomationIn


class UpdateAutomation(Contract):
    bot_id: UUID
    automation_id: UUID
    patch: AutomationPatch


class RunsQuery(Contract):
    bot_id: UUID
    automation_id: UUID
    cursor: str | None = Field(None, max_length=200)
    limit: StrictInt = Field(50, ge=1, le=200)


class RunPage(Contract):
    items: list[AutomationRunOut]
    next_cursor: str | None = None


class TestAutomation(Contract):
    bot_id: UUID
    automation_id: UUID
    # The event to try with (the trigger's sample when None): the template context's shape
    # (`user`, `member`, `guild`, `channel`, `message`, `reaction`, `button`).
    event: dict[str, Any] | None = None


class DryStep(Contract):
    path: list[str | int]
    type: str
    # The step with its templates rendered (ids, content, embeds, the HTTP request…).
    rendered: dict[str, Any] = Field(default_factory=dict)
    # In words: "would send to #general", "condition false: else runs", "would stop".
    note: str = ""


class DryRun(Contract):
    outcome: RunOutcome
    steps: list[DryStep]
    error: str | None = None


# --------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------

VariableValue = Annotated[str, Field(max_length=MAX_VARIABLE_BYTES)] | StrictInt | StrictFloat


class VariableOut(Contract):
    guild_id: str
    user_id: str | None = None  # None: a server variable (`vars`), else `user_vars`
    key: str
    value: VariableValue
    expires_at: datetime | None = None
    updated_at: datetime


class VariableList(Contract):
    items: list[VariableOut]


class VariablesQuery(Contract):
    bot_id: UUID
    guild_id: Snowflake | None = None
    user_id: Snowflake | None = None
    prefix: str | None = Field(None, max_length=64)


class VariableRef(Contract):
    bot_id: UUID
    guild_id: Snowflake
    user_id: Snowflake | None = None
    key: VariableKey


class VariablePut(Contract):
    value: VariableValue
    expires_in_s: StrictInt | None = Field(None, ge=1, le=366 * 86_400)


class PutVariable(VariableRef):
    variable: VariablePut


# --------------------------------------------------------------------------------------
# Across services: bot-service ↔ command-service
# --------------------------------------------------------------------------------------


class TriggerManifest(Contract):
    """What bot-service must forward for one bot and the intents that needs."""

    bot_id: UUID
    events: list[TriggerType] = Field(default_factory=list)
    intents: int = 0
    # Component clicks to forward: custom_id prefixes of enabled `button` triggers.
    button_prefixes: list[str] = Field(default_factory=list)
    hash: str


class DiscordEvent(Contract):
    """One gateway event a trigger needs, forwarded by bot-service on the `DISCORD` stream
    (`dsc.<workspace>.<bot>.<type>`, JetStream `Nats-Msg-Id` = `event_id`)."""

    event_id: str  # derived from the event itself, so a replayed one is a duplicate
    bot_id: UUID
    workspace_id: UUID
    type: TriggerType
    occurred_at: datetime
    # The template context of the trigger: `user`, `member`, `guild`, `channel`,
    # `message`, `reaction`, `button` (documented per trigger in TEMPLATE_VARIABLES).
    context: dict[str, Any] = Field(default_factory=dict)
    # For a component click: the interaction a `reply`/`defer` step answers (its token
    # stays in bot-service).
    interaction_id: str | None = None
    # How many automations led to this event (kick → member_leave); > MAX_CHAIN_DEPTH stops.
    depth: int = 0


def discord_event_subject(workspace_id: UUID | str, bot_id: UUID | str, kind: str) -> str:
    return f"dsc.{workspace_id}.{bot_id}.{kind}"


class DiscordAct(Contract):
    """One Discord side effect of a run, carried out by bot-service with the bot's own
    client. `idempotency_key` (`<run id>:<step path>`) makes a repeat answer the first
    result instead of acting twice."""

    bot_id: UUID
    idempotency_key: str = Field(min_length=1, max_length=200)
    guild_id: Snowflake | None = None
    action: DiscordStepType
    # Rendered ids and payload for the action (message content/embeds/components, role_id,
    # user_id, channel_id, message_id, emoji, duration_s, reason, ephemeral).
    params: dict[str, Any] = Field(default_factory=dict)
    interaction_id: str | None = None
    # The run's chain depth (events this action causes carry depth + 1).
    depth: int = 0


class ActResult(Contract):
    ok: bool
    # Discord's error code when refused (50013 Missing Permissions, 10007 Unknown Member…).
    code: int | None = None
    message: str | None = None
    # What later steps may read (`message_id`, `channel_id`).
    output: dict[str, Any] = Field(default_factory=dict)
    # True when this key was done before and this answer is the first one's.
    repeated: bool = False


class TriggersChanged(Event):
    """`evt.command.<workspace>.<bot>.triggers_changed`: a bot's automations changed;
    bot-service asks for the trigger manifest again when `hash` is not the one it has."""

    hash: str


class AutomationRun(Event):
    """`evt.automation.<workspace>.<bot>.run`: one run ended."""

    automation_id: UUID
    automation: str
    run_id: UUID
    trigger: TriggerType
    trigger_summary: str
    outcome: RunOutcome
    steps_done: int
    duration_ms: float
    error: str | None = None


# --------------------------------------------------------------------------------------
# Subjects. Those still `planned` are declared ahead of their handlers (slices E and F).
# --------------------------------------------------------------------------------------
_GW = ["gateway"]

AUTOMATION_LIST = rpc(
    "rpc.command.automation.list", BotAutomationRef, AutomationList, callers=_GW,
    summary="a bot's automations",
)  # fmt: skip
AUTOMATION_CREATE = rpc(
    "rpc.command.automation.create", CreateAutomation, AutomationOut, callers=_GW,
    summary="add an automation",
)  # fmt: skip
AUTOMATION_GET = rpc(
    "rpc.command.automation.get", AutomationRef, AutomationOut, callers=_GW,
    summary="one automation, with its next fire times",
)  # fmt: skip
AUTOMATION_UPDATE = rpc(
    "rpc.command.automation.update", UpdateAutomation, AutomationOut, callers=_GW,
    summary="change an automation",
)  # fmt: skip
AUTOMATION_DELETE = rpc(
    "rpc.command.automation.delete", AutomationRef, Empty, callers=_GW,
    summary="remove an automation",
)  # fmt: skip
AUTOMATION_RUNS = rpc(
    "rpc.command.automation.runs", RunsQuery, RunPage, callers=_GW,
    summary="recent runs of an automation, newest first",
)  # fmt: skip
AUTOMATION_TEST = rpc(
    "rpc.command.automation.test", TestAutomation, DryRun, callers=_GW,
    summary="a dry run on a sample (or given) event: the rendered steps, nothing sent",
    planned=True,
)  # fmt: skip
VARIABLE_LIST = rpc(
    "rpc.command.variable.list", VariablesQuery, VariableList, callers=_GW,
    summary="a bot's variables, by server, user and key prefix",
)  # fmt: skip
VARIABLE_PUT = rpc(
    "rpc.command.variable.put", PutVariable, VariableOut, callers=_GW,
    summary="set a server's (or a member's) variable",
)  # fmt: skip
VARIABLE_DELETE = rpc(
    "rpc.command.variable.delete", VariableRef, Empty, callers=_GW,
    summary="delete a variable",
)  # fmt: skip
TRIGGER_MANIFEST = rpc(
    "rpc.command.triggers.manifest", BotAutomationRef, TriggerManifest, callers=["bot"],
    summary="the events and intents a bot's enabled triggers need", planned=True,
)  # fmt: skip
# Done and in-progress `act` keys (bot-service), so a repeated key does not act twice.
ACTIONS_BUCKET = "bot_actions"
ACT = rpc(
    "rpc.bot.runtime.act", DiscordAct, ActResult, callers=["command"],
    summary="carry out one Discord side effect of an automation run, once per key",
)  # fmt: skip

SPECS: list[Spec] = [
    *declared_specs(globals()),
    EventSpec("evt.automation.*.*.run", AutomationRun, frozenset({"command"}), "a run ended"),
    EventSpec(
        "evt.command.*.*.triggers_changed",
        TriggersChanged,
        frozenset({"command"}),
        "a bot's automations changed (its trigger manifest's hash)",
    ),
    KvSpec(
        ACTIONS_BUCKET,
        frozenset({"bot"}),
        "Discord side effects of runs done or in progress, one key per idempotency key (24 h)",
    ),
]
