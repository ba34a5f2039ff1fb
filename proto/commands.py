"""Contracts of the commands domain: commands, prompts, API connections, execution.

The cross-service part is fixed here first (bot-service <-> command-service); the
command-service adds its configuration contracts below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from proto.base import Contract, Empty
from proto.events import Event
from proto.registry import EventSpec, KvSpec, Spec, declared_specs, gateway_rpc, rpc

# The longest cooldown a command may have (seconds).
MAX_COOLDOWN_S = 86_400

InvocationKind = Literal[
    "slash", "prefix", "user_context", "message_context", "autocomplete", "component"
]


class Invoker(Contract):
    id: str  # Discord snowflake of the user who invoked
    username: str = ""
    roles: list[str] = Field(default_factory=list)  # the member's role ids (not @everyone)
    permissions: str = "0"  # Discord permission bit set as a decimal string
    # The name shown in the server (nickname, else global name, else username).
    display_name: str = ""
    avatar_url: str | None = None
    # Names of `roles`, in the same order ("" where the bot's cache does not know one).
    role_names: list[str] = Field(default_factory=list)


class GuildInfo(Contract):
    """The server an invocation came from, as the bot's live connection knows it."""

    id: str
    name: str = ""
    member_count: int | None = None


class ChannelInfo(Contract):
    id: str
    name: str = ""


class BotInfo(Contract):
    """The bot's own Discord user (not its botcenter id)."""

    id: str
    name: str = ""


class CachedPlace(Contract):
    """The server, channel and bot user of an invocation as the bot's live connection
    caches them (None: not in a server / not cached)."""

    guild: GuildInfo | None = None
    channel: ChannelInfo | None = None
    bot: BotInfo | None = None


class Invocation(CachedPlace):
    """What happened in Discord, as bot-service saw it."""

    kind: InvocationKind
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    user: Invoker
    guild_id: str | None = None
    channel_id: str | None = None
    target_id: str | None = None  # context-menu target
    content: str | None = None  # full message text for prefix commands
    locale: str | None = None
    interaction_id: str | None = None


class TemplateVariable(Contract):
    """One variable a command's templates can use: `{{ <path> }}`."""

    path: str
    description: str
    example: str = ""
    # Kinds of command or response it exists for (empty: all).
    only: list[str] = Field(default_factory=list)


class TemplateVariables(Contract):
    """`GET /v1/commands/variables`: what a template can use (the one list the editor shows
    and the preview and save check templates against)."""

    items: list[TemplateVariable]


def _var(path: str, description: str, example: str = "", *only: str) -> TemplateVariable:
    return TemplateVariable(path=path, description=description, example=example, only=list(only))


# Every variable the executor gives a template, derived from the Invocation above (a test
# renders each path with a full invocation, so nothing here is advertised that does not exist).
TEMPLATE_VARIABLES: tuple[TemplateVariable, ...] = (
    _var("user.name", "the invoking user's username", "grace"),
    _var("user.display_name", "the name shown in the server (nickname or global name)", "Grace"),
    _var("user.id", "the invoking user's id", "80351110224678912"),
    _var("user.mention", "a mention of the user", "<@80351110224678912>"),
    _var("user.avatar_url", "the user's avatar image URL", "https://cdn.discordapp.com/…"),
    _var("user.roles", "the ids of the member's roles (a list)", "['41771983423143936']"),
    _var("user.role_names", "the names of the member's roles (a list)", "['Moderators']"),
    _var("guild.name", "the server's name", "Sandbox Server"),
    _var("guild.id", "the server's id", "41771983423143937"),
    _var("guild.member_count", "how many members the server has", "42"),
    _var("channel.name", "the channel's name", "general"),
    _var("channel.id", "the channel's id", "41771983423143938"),
    _var("channel.mention", "a mention of the channel", "<#41771983423143938>"),
    _var("bot.name", "the bot's name", "Helper"),
    _var("bot.id", "the bot's Discord user id", "41771983423143939"),
    _var("bot.prefix", "the bot's prefix for prefix commands", "!"),
    _var("options.NAME", "the value of the option NAME", "", "slash", "prefix"),
    _var("args", "the words after a prefix command (a list)", "['a', 'b']", "prefix"),
    _var("content", "the whole message text of a prefix command", "!greet a b", "prefix"),
    _var(
        "target.id", "the user or message a context-menu command was used on", "", "user", "message"
    ),
    _var("target.mention", "a mention of the target user", "", "user", "message"),
    _var("command.name", "this command's name", "greet"),
    _var("command.kind", "this command's kind", "slash"),
    _var("locale", "the user's Discord language", "en-US"),
    _var("now", "the current time (ISO 8601, UTC)", "2026-01-01T12:00:00+00:00"),
    _var("data", "the API's JSON answer (HTTP responses)", "", "http"),
    _var("status", "the API's HTTP status (HTTP responses)", "200", "http"),
    _var("text", "the API's answer as text (HTTP responses)", "", "http"),
    _var("vars.NAME", "a prompt variable (AI prompts)", "", "ai"),
)


# A request about one bot's commands extends this ref (its id first, as the path gives it).
class BotCommandRef(Contract):
    bot_id: UUID


class ExecuteCommand(BotCommandRef):
    invocation: Invocation
    dry_run: bool = False


Outcome = Literal["ok", "error", "cooldown", "forbidden", "disabled", "not_found"]


class CommandReply(Contract):
    """What the bot should answer. `content` is at most 2,000 characters."""

    outcome: Outcome
    content: str | None = None
    embeds: list[dict[str, Any]] = Field(default_factory=list)
    ephemeral: bool = False
    duration_ms: float = 0.0
    # For the owner's logs; never shown to the Discord user as is.
    error: str | None = None
    # What the run did, in order, for the owner (e.g. "rendered template",
    # "called connection Weather (HTTP 200, 120 ms)").
    steps: list[str] = Field(default_factory=list)
    # Problems that did not stop the run (e.g. a template uses an undefined variable).
    warnings: list[str] = Field(default_factory=list)
    # The log event of this run (a failed dry run is logged too), to link to it.
    event_id: UUID | None = None


class ManifestRequest(Contract):
    bot_id: UUID


class CommandManifest(Contract):
    """Everything bot-service needs to sync and route commands of one bot."""

    bot_id: UUID
    prefix: str | None = None
    prefix_commands: list[str] = Field(default_factory=list)
    # Application commands in Discord's JSON shape, global and per guild.
    global_commands: list[dict[str, Any]] = Field(default_factory=list)
    guild_commands: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    # Hash of the above: bot-service skips the bulk overwrite when it did not change.
    hash: str


class CommandsChanged(Event):
    """`evt.command.<owner>.<bot>.changed`: the bot's command set changed."""

    hash: str


class CommandExecuted(Event):
    """`evt.command.<owner>.<bot>.executed`."""

    command: str
    kind: InvocationKind
    outcome: Outcome
    duration_ms: float
    guild_id: str | None = None
    user_id: str | None = None
    error: str | None = None
    # Where it came from, so a log line links to it: the command run (None when no
    # command of that name exists) and the API connection it called, if any.
    command_id: UUID | None = None
    connection_id: UUID | None = None
    interaction_id: str | None = None
    steps: list[str] = Field(default_factory=list)
    dry_run: bool = False


EXECUTE = rpc(
    "rpc.command.execute",
    ExecuteCommand,
    CommandReply,
    callers=["bot", "gateway"],
    summary="run a command for an invocation and say what to answer",
)
MANIFEST = rpc(
    "rpc.command.manifest",
    ManifestRequest,
    CommandManifest,
    callers=["bot"],
    summary="the bot's commands in Discord's shape, and its prefix commands",
)


class ImportBot(BotCommandRef):
    """Import a configuration file (stored by storage-service) into a bot's setup."""

    file_id: UUID
    dry_run: bool = False


class ImportResult(Contract):
    """What an import did (or, for a dry run, would do), counted per kind."""

    dry_run: bool
    created: dict[str, int] = Field(default_factory=dict)
    updated: dict[str, int] = Field(default_factory=dict)
    unchanged: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


IMPORT = gateway_rpc(
    "rpc.command.import",
    ImportBot,
    ImportResult,
    "validate and apply a stored config file (BotImport schema) to a bot",
)


# --------------------------------------------------------------------------------------
# Configuration contracts (owned by command-service): commands, prompts, API connections,
# the bot import/export schema. Rules follow Discord's documented limits; a broken rule
# is a field-level validation error whose `loc` points at the field.
# --------------------------------------------------------------------------------------

Snowflake = Annotated[str, Field(pattern=r"^[0-9]{15,21}$", description="a Discord id")]
CommandKind = Literal["slash", "prefix", "user", "message"]
OptionType = Literal["string", "integer", "number", "boolean", "user", "channel", "role"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
AuthType = Literal["none", "bearer", "header", "basic", "query"]

# Discord: 1-32 characters, lowercase letters of any script, digits, `-`, `_` and `'`.
_CHAT_NAME = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
_PREFIX_NAME = re.compile(r"^\S{1,32}$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# RFC 9110 field names (tokens) and values: visible ASCII, space, tab and obs-text
# (bytes 0x80-0xFF, sent as Latin-1); no control characters. `\Z`, not `$`: `$` also
# matches before a final newline.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}\Z")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*\Z")
MAX_HEADER_VALUE = 4096
# Discord's per-scope limits for each application-command type.
DISCORD_TYPE = {"slash": 1, "user": 2, "message": 3}
MAX_PER_SCOPE = {"slash": 100, "user": 15, "message": 15, "prefix": 200}
MAX_TEMPLATE = 4000
MAX_BODY_TEMPLATE = 8000
MASK = "********"

Loc = tuple[str | int, ...]


def rule_error(errors: list[tuple[Loc, str]], title: str = "rules") -> ValidationError:
    """A pydantic ValidationError with one entry per (location, message).

    Raised inside a validator, pydantic prefixes each location with the validator's own,
    so collection rules (unique names, limits) point at the exact offending field.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("rule", "{msg}", {"msg": msg}), loc=loc, input=None
            )
            for loc, msg in errors
        ],
    )


def repeated_names(items: Sequence[Any], message: str) -> list[tuple[Loc, str]]:
    """((index, "name"), problem) for each item whose `name` an earlier item already has;
    `message` is formatted with the name."""
    seen: set[str] = set()
    errors: list[tuple[Loc, str]] = []
    for i, item in enumerate(items):
        if item.name in seen:
            errors.append(((i, "name"), message.format(item.name)))
        seen.add(item.name)
    return errors


def check_slash_name(value: str) -> str:
    if not _CHAT_NAME.match(value):
        raise ValueError("must be 1-32 characters: letters, digits, '-', '_' or ''' (no spaces)")
    if value != value.lower():
        raise ValueError("must be lowercase")
    return value


def header_value_problem(value: str, *, secret: bool = False) -> str | None:
    """Why `value` cannot be sent as an HTTP header value (its characters), or None. For
    a secret the message does not quote the character."""
    if _HEADER_VALUE.match(value):
        return None
    bad = next(c for c in value if not _HEADER_VALUE.match(c))
    if bad in "\r\n":
        return "must not contain line breaks"
    if secret:
        return "must be ASCII or Latin-1 text without control characters to go in a header"
    if bad < " " or bad == "\x7f":
        return f"must not contain control characters (found U+{ord(bad):04X})"
    return (
        f"must be ASCII or Latin-1 text: {bad!r} (U+{ord(bad):04X}) cannot be sent in an "
        "HTTP header"
    )


_BAD_HEADER_NAME = "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)"
_Headers = TypeVar("_Headers", bound=Mapping[str, str | None] | None)


def header_problems(
    headers: Mapping[str, str | None], *, secret: bool = False
) -> list[tuple[Loc, str]]:
    """(location, problem) for each header whose name is not an RFC 9110 token or whose
    value cannot be sent (None values, removals in a patch, are fine)."""
    errors: list[tuple[Loc, str]] = []
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            errors.append(((name,), _BAD_HEADER_NAME))
        elif value is not None and len(value) > MAX_HEADER_VALUE:
            errors.append(((name,), f"must be at most {MAX_HEADER_VALUE} characters"))
        elif value is not None and (problem := header_value_problem(value, secret=secret)):
            errors.append(((name,), problem))
    return errors


def _check_headers(v: _Headers, *, secret: bool = False) -> _Headers:
    if v is not None and (errors := header_problems(v, secret=secret)):
        raise rule_error(errors)
    return v


_Bound = TypeVar("_Bound", bound=float)


def _check_bound(
    v: _Bound | None, info: ValidationInfo, kinds: tuple[str | None, ...], refusal: str
) -> _Bound | None:
    """One of an option's `min_<x>`/`max_<x>` pair: only options of `kinds` have it, and
    the maximum is not below the minimum."""
    if v is not None and info.data.get("type") not in kinds:
        raise ValueError(refusal)
    name = info.field_name or ""
    if v is not None and name.startswith("max_"):
        low = "min_" + name.removeprefix("max_")
        if info.data.get(low) is not None and v < info.data[low]:
            raise ValueError(f"must be greater than or equal to {low}")
    return v


class OptionChoice(Contract):
    name: str = Field(min_length=1, max_length=100)
    value: StrictInt | StrictFloat | Annotated[str, Field(max_length=100)]


class CommandOption(Contract):
    """A typed option of a slash (or prefix) command."""

    type: OptionType
    name: Annotated[str, AfterValidator(check_slash_name)]
    description: str = Field(min_length=1, max_length=100)
    required: bool = False
    choices: list[OptionChoice] = Field(default_factory=list, max_length=25)
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = Field(None, ge=0, le=6000)
    max_length: int | None = Field(None, ge=1, le=6000)

    @field_validator("choices")
    @classmethod
    def _choices(cls, v: list[OptionChoice], info: ValidationInfo) -> list[OptionChoice]:
        kind = info.data.get("type")
        if not v or kind is None:
            return v
        if kind not in ("string", "integer", "number"):
            raise ValueError("choices are only allowed for string, integer and number options")
        errors: list[tuple[Loc, str]] = []
        for i, choice in enumerate(v):
            val = choice.value
            if kind == "string" and not isinstance(val, str):
                errors.append(((i, "value"), "must be a string for a string option"))
            elif kind == "integer" and not isinstance(val, int):
                errors.append(((i, "value"), "must be an integer for an integer option"))
            elif kind == "number" and isinstance(val, str):
                errors.append(((i, "value"), "must be a number for a number option"))
        # Stable: each choice's value problem stays ahead of its name's.
        errors += repeated_names(v, "choice {!r} appears twice")
        if errors:
            raise rule_error(sorted(errors, key=lambda e: e[0][0]))
        return v

    @field_validator("min_value", "max_value")
    @classmethod
    def _numeric_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        refusal = "only integer and number options have a minimum or maximum"
        return _check_bound(v, info, ("integer", "number", None), refusal)

    @field_validator("min_length", "max_length")
    @classmethod
    def _string_only(cls, v: int | None, info: ValidationInfo) -> int | None:
        refusal = "only string options have a minimum or maximum length"
        return _check_bound(v, info, ("string", None), refusal)


class EmbedField(Contract):
    name: str = Field(min_length=1, max_length=256)
    value: str = Field(min_length=1, max_length=1024)
    inline: bool = False


class EmbedTemplate(Contract):
    """An embed whose text parts are templates (rendered, then cut to Discord's limits)."""

    title: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=MAX_TEMPLATE)
    url: str | None = Field(None, max_length=2048)
    color: int | None = Field(None, ge=0, le=0xFFFFFF)
    footer: str | None = Field(None, max_length=2048)
    fields: list[EmbedField] = Field(default_factory=list, max_length=25)


class _Rendered(Contract):
    """The reply text and embeds, both templates."""

    content: str | None = Field(None, max_length=MAX_TEMPLATE)
    embeds: list[EmbedTemplate] = Field(default_factory=list, max_length=10)


class TemplateResponse(_Rendered):
    """Answer with text and/or embeds rendered from templates."""

    type: Literal["template"] = "template"

    @model_validator(mode="after")
    def _something(self) -> TemplateResponse:
        if not (self.content or self.embeds):
            raise rule_error([(("content",), "a template needs content or at least one embed")])
        return self


class HttpRequestTemplate(Contract):
    """One request to an API connection, its parts templates (a command's `http` response and
    an automation's `http` step)."""

    type: Literal["http"] = "http"
    method: HttpMethod = "GET"
    path: str = Field("", max_length=2048, description="template, appended to the base URL")
    query: dict[str, str] = Field(default_factory=dict, max_length=30)
    headers: dict[str, str] = Field(default_factory=dict, max_length=30)
    body: str | None = Field(None, max_length=MAX_BODY_TEMPLATE)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if v and not v.startswith("/"):
            raise ValueError("must start with '/' (it is appended to the connection's base URL)")
        if "://" in v:
            raise ValueError("must be a path, not a URL")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        errors: list[tuple[Loc, str]] = []
        for name, value in v.items():
            if not _HEADER_NAME.match(name):
                errors.append(((name,), "is not a valid header name"))
            elif any(c in value for c in "\r\n\x00"):
                errors.append(((name,), "must not contain line breaks or NUL"))
        if errors:
            raise rule_error(errors)
        return v


class _HttpCall(HttpRequestTemplate, _Rendered):
    """Call an API connection, then render `content`/`embeds` with the JSON as `data`."""

    @model_validator(mode="after")
    def _something(self) -> _HttpCall:
        if not (self.content or self.embeds):
            raise rule_error(
                [(("content",), "say what to answer: content or an embed (use {{ data }})")]
            )
        return self


class HttpResponse(_HttpCall):
    connection_id: UUID


class _AiCall(Contract):
    """Render a prompt and send it to an OpenAI-compatible chat-completions connection."""

    type: Literal["ai"] = "ai"
    # Values for the prompt's variables (templates themselves); missing ones use defaults.
    variables: dict[str, str] = Field(default_factory=dict, max_length=50)


class AiResponse(_AiCall):
    connection_id: UUID
    prompt_id: UUID


Response = Annotated[TemplateResponse | HttpResponse | AiResponse, Field(discriminator="type")]


class _CommandFields(Contract):
    """Everything about a command except what it answers with."""

    kind: CommandKind = "slash"
    name: str = Field(min_length=1, max_length=32)
    description: str = Field("", max_length=100, validate_default=True)
    options: list[CommandOption] = Field(default_factory=list, max_length=25)
    # Empty: global. Otherwise the guilds the command is registered in (and works in).
    guild_ids: list[Snowflake] = Field(default_factory=list, max_length=50)
    enabled: bool = True
    cooldown_user_s: int = Field(0, ge=0, le=MAX_COOLDOWN_S)
    cooldown_guild_s: int = Field(0, ge=0, le=MAX_COOLDOWN_S)
    # Discord permission bit set (decimal) the invoker must have (default_member_permissions).
    required_permissions: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    required_role_ids: list[Snowflake] = Field(default_factory=list, max_length=25)
    ephemeral: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind", "slash")
        if kind == "slash":
            return check_slash_name(v)
        if kind == "prefix" and not _PREFIX_NAME.match(v):
            raise ValueError("must be 1-32 characters without spaces")
        if kind in ("user", "message") and v != v.strip():
            raise ValueError("must not start or end with spaces")
        return v

    @field_validator("description")
    @classmethod
    def _description(cls, v: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind", "slash")
        if kind == "slash" and not v:
            raise ValueError("a slash command needs a description of 1-100 characters")
        if kind in ("user", "message") and v:
            raise ValueError("context menu commands cannot have a description")
        return v

    @field_validator("options")
    @classmethod
    def _options(cls, v: list[CommandOption], info: ValidationInfo) -> list[CommandOption]:
        kind = info.data.get("kind", "slash")
        if v and kind in ("user", "message"):
            raise ValueError("context menu commands cannot have options")
        errors = repeated_names(v, "option {!r} appears twice")
        optional_seen = False
        for i, option in enumerate(v):
            if option.required and optional_seen:
                errors.append(((i, "required"), "required options must come before optional ones"))
            optional_seen = optional_seen or not option.required
        if errors:
            # Stable: each option's name problem stays ahead of its order's.
            raise rule_error(sorted(errors, key=lambda e: e[0][0]))
        return v

    @field_validator("guild_ids")
    @classmethod
    def _guilds(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a guild appears twice")
        return v


class CommandIn(_CommandFields):
    """A command as created or replaced through the API."""

    response: Response


def scope_rule_errors(commands: Sequence[_CommandFields]) -> list[tuple[Loc, str]]:
    """Discord's rules across a bot's commands: unique names per type and scope, limits.

    Locations are relative to the sequence (`(index, "name")`).
    """
    errors: list[tuple[Loc, str]] = []
    seen: dict[tuple[str, str, str], int] = {}
    counts: dict[tuple[str, str], int] = {}
    for i, cmd in enumerate(commands):
        key_name = cmd.name.lower() if cmd.kind == "prefix" else cmd.name
        scopes = ["global"] if cmd.kind == "prefix" or not cmd.guild_ids else cmd.guild_ids
        for scope in scopes:
            key = (cmd.kind, scope, key_name)
            if key in seen:
                where = "" if scope == "global" else f" in guild {scope}"
                errors.append(
                    ((i, "name"), f"a {cmd.kind} command named {cmd.name!r} already exists{where}")
                )
                break
            seen[key] = i
        for scope in scopes:
            counts[(cmd.kind, scope)] = counts.get((cmd.kind, scope), 0) + 1
            limit = MAX_PER_SCOPE[cmd.kind]
            if counts[(cmd.kind, scope)] == limit + 1:
                where = "globally" if scope == "global" else f"in guild {scope}"
                errors.append(
                    ((i, "kind"), f"at most {limit} {cmd.kind} commands are allowed {where}")
                )
    return errors


class CommandPatch(Contract):
    """Fields to change (absent or null: unchanged); the merged command is validated whole."""

    kind: CommandKind | None = None
    name: str | None = Field(None, min_length=1, max_length=32)
    description: str | None = Field(None, max_length=100)
    options: list[CommandOption] | None = Field(None, max_length=25)
    guild_ids: list[Snowflake] | None = Field(None, max_length=50)
    enabled: bool | None = None
    cooldown_user_s: int | None = Field(None, ge=0, le=MAX_COOLDOWN_S)
    cooldown_guild_s: int | None = Field(None, ge=0, le=MAX_COOLDOWN_S)
    required_permissions: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    required_role_ids: list[Snowflake] | None = Field(None, max_length=25)
    ephemeral: bool | None = None
    response: Response | None = None


class CommandOut(CommandIn):
    id: UUID
    bot_id: UUID
    created_at: datetime
    updated_at: datetime
    # Set on a create or change: problems that did not stop the save (e.g. a template
    # uses a variable that does not exist, so it renders empty).
    warnings: list[str] = Field(default_factory=list)


class CommandList(Contract):
    items: list[CommandOut]


class CreateCommand(BotCommandRef):
    command: CommandIn


class CommandRef(BotCommandRef):
    command_id: UUID


class UpdateCommand(CommandRef):
    patch: CommandPatch


class CommandSample(Contract):
    """Sample input for a dry run, as if a Discord user sent it."""

    options: dict[str, Any] = Field(default_factory=dict, max_length=25)
    content: str | None = Field(None, max_length=2000, description="message text (prefix)")
    target_id: str | None = Field(None, max_length=32)
    guild_id: str | None = Field(None, max_length=32)
    channel_id: str | None = Field(None, max_length=32)


class TestCommand(CommandRef, CommandSample):
    """Run one saved command as a dry run with this sample input."""


class CommandPreviewIn(CommandIn):
    """`POST /v1/bots/{id}/commands/preview`: the create body (an unsaved command) and
    optional sample input. Validated like a create; nothing is stored."""

    sample: CommandSample = Field(default_factory=CommandSample)
    # The saved command this form edits: its own name then does not count as taken.
    command_id: UUID | None = None

    def command(self) -> CommandIn:
        """The command definition alone (without the preview's own fields)."""
        return CommandIn.model_validate(self.model_dump(exclude={"sample", "command_id"}))


class PreviewCommand(BotCommandRef):
    """Dry-run an unsaved command definition of a bot: what the bot would answer."""

    command: CommandIn
    sample: CommandSample = Field(default_factory=CommandSample)
    command_id: UUID | None = None


# What a message starts with to call a prefix command, unless the bot's settings say otherwise.
DEFAULT_PREFIX = "!"
MAX_PREFIX_LENGTH = 5


def check_prefix(v: str) -> str:
    """A command prefix: 1 to 5 characters, none of them a space."""
    if not 1 <= len(v) <= MAX_PREFIX_LENGTH or any(c.isspace() for c in v):
        raise PydanticCustomError(
            "prefix", "a prefix is 1 to 5 characters without spaces, like ! or ?"
        )
    return v


CommandPrefix = Annotated[str, AfterValidator(check_prefix)]


class CommandSettings(Contract):
    """Per-bot command settings: the prefix that prefix commands follow (default `!`)."""

    prefix: CommandPrefix = DEFAULT_PREFIX


class BotCommandSettings(BotCommandRef):
    settings: CommandSettings


class SyncReport(BotCommandRef):
    """bot-service reports the result of a bulk overwrite (bc-user-id = the bot's owner)."""

    hash: str
    ok: bool
    error: str | None = Field(None, max_length=2000)


class SyncStatus(Contract):
    bot_id: UUID
    hash: str  # the current command set
    synced_hash: str | None = None  # what Discord has, as last reported by bot-service
    in_sync: bool
    ok: bool | None = None  # result of the last sync attempt; None: never tried
    error: str | None = None
    synced_at: datetime | None = None


# ---- prompts ----------------------------------------------------------------------------


class PromptIn(Contract):
    """A reusable AI prompt: system and user templates plus model parameters."""

    name: str = Field(min_length=1, max_length=100)
    system: str = Field("", max_length=MAX_BODY_TEMPLATE)
    user: str = Field(min_length=1, max_length=MAX_BODY_TEMPLATE)
    model: str = Field(min_length=1, max_length=200)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, le=32_768)
    # Variable names and their default values (available as `vars.<name>`).
    variables: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("variables")
    @classmethod
    def _vars(cls, v: dict[str, str]) -> dict[str, str]:
        errors: list[tuple[Loc, str]] = [
            ((k,), "variable names are letters, digits and '_' (not starting with a digit)")
            for k in v
            if not _VAR_NAME.match(k)
        ]
        errors += [
            ((k,), "default value is too long (max 2000)") for k, d in v.items() if len(d) > 2000
        ]
        if errors:
            raise rule_error(errors)
        return v


class PromptPatch(Contract):
    name: str | None = Field(None, min_length=1, max_length=100)
    system: str | None = Field(None, max_length=MAX_BODY_TEMPLATE)
    user: str | None = Field(None, min_length=1, max_length=MAX_BODY_TEMPLATE)
    model: str | None = Field(None, min_length=1, max_length=200)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32_768)
    variables: dict[str, str] | None = Field(None, max_length=50)


class CreatePrompt(PromptIn):
    """`POST /v1/prompts`: a prompt in `workspace_id` (default: the caller's personal one)."""

    workspace_id: UUID | None = None


class PromptOut(PromptIn):
    id: UUID
    workspace_id: UUID
    created_at: datetime
    updated_at: datetime
    # Undefined variables the system/user templates use (they render empty): a warning,
    # never a refusal (checked against TEMPLATE_VARIABLES and the prompt's `variables`).
    warnings: list[str] = Field(default_factory=list)


class PromptList(Contract):
    items: list[PromptOut]


class WorkspaceFilter(Contract):
    """`?workspace_id=`: the items of one workspace the caller is a member of (else 404);
    without it, those of every workspace of theirs."""

    workspace_id: UUID | None = None


class PromptRef(Contract):
    prompt_id: UUID


class UpdatePrompt(PromptRef):
    patch: PromptPatch


# ---- API connections ---------------------------------------------------------------------


def _check_base_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise ValueError("has an invalid port (0-65535)") from None
    if parts.username or parts.password:
        raise ValueError("must not contain credentials; use the auth settings")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment")
    return v.rstrip("/")


# Extra headers of a connection's requests: names and values that can be sent.
Headers = Annotated[dict[str, str], Field(max_length=30), AfterValidator(_check_headers)]


class _ConnectionFields(Contract):
    name: str = Field(min_length=1, max_length=100)
    base_url: Annotated[str, Field(max_length=2048), AfterValidator(_check_base_url)]
    auth_type: AuthType = "none"
    # Header name (auth_type=header) or query parameter name (auth_type=query).
    auth_name: str | None = Field(None, max_length=128, validate_default=True)
    auth_username: str | None = Field(None, max_length=256, validate_default=True)  # basic
    headers: Headers = Field(default_factory=dict)
    timeout_s: float = Field(10.0, ge=0.5, le=30)

    @field_validator("auth_name")
    @classmethod
    def _auth_name(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("auth_type")
        if kind in ("header", "query") and not v:
            raise ValueError(f"auth_type={kind} needs the {kind} name")
        if v and kind == "header" and not _HEADER_NAME.match(v):
            raise ValueError("is not a valid header name")
        return v

    @field_validator("auth_username")
    @classmethod
    def _username(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("auth_type") == "basic" and not v:
            raise ValueError("basic auth needs a username")
        return v


def _check_secret_headers(v: dict[str, str]) -> dict[str, str]:
    return _check_headers(v, secret=True)


class ConnectionIn(_ConnectionFields):
    """An API connection as created through the API. Secrets are write-only."""

    # The bearer token, header value, password or query key (auth_type != none).
    secret: str | None = Field(None, min_length=1, max_length=4096, repr=False)
    # Header values that are secrets (encrypted, never returned).
    secret_headers: dict[str, str] = Field(default_factory=dict, max_length=30, repr=False)

    @field_validator("secret_headers")
    @classmethod
    def _sh(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_secret_headers(v)

    @model_validator(mode="after")
    def _secret_needed(self) -> ConnectionIn:
        if self.auth_type != "none" and not self.secret:
            raise rule_error([(("secret",), f"auth_type={self.auth_type} needs a secret")])
        if self.secret is not None and (
            problem := _secret_value_problem(self.auth_type, self.secret)
        ):
            raise rule_error([(("secret",), problem)])
        return self


def _secret_value_problem(auth_type: str | None, secret: str) -> str | None:
    """A bearer token or header secret is sent as a header value as it is; Basic
    credentials are base64-encoded and a query key URL-encoded, so any text goes there."""
    if auth_type in ("bearer", "header"):
        return header_value_problem(secret, secret=True)
    if any(c in secret for c in "\r\n\x00"):
        return "must not contain line breaks or NUL"
    return None


class ConnectionPatch(Contract):
    name: str | None = Field(None, min_length=1, max_length=100)
    base_url: str | None = Field(None, max_length=2048)
    auth_type: AuthType | None = None
    auth_name: str | None = Field(None, max_length=128)
    auth_username: str | None = Field(None, max_length=256)
    headers: Headers | None = None
    timeout_s: float | None = Field(None, ge=0.5, le=30)
    # A new secret; leave out to keep the stored one.
    secret: str | None = Field(None, min_length=1, max_length=4096, repr=False)
    # Secret headers to set (a value) or remove (null); others are kept.
    secret_headers: dict[str, str | None] | None = Field(None, max_length=30, repr=False)

    @field_validator("secret_headers")
    @classmethod
    def _secret_headers(cls, v: dict[str, str | None] | None) -> dict[str, str | None] | None:
        return _check_headers(v, secret=True)

    @field_validator("auth_name")
    @classmethod
    def _auth_name(cls, v: str | None, info: ValidationInfo) -> str | None:
        # The whole connection is checked again once merged; a header name can be
        # checked here already when the patch says the auth goes in a header.
        if v and info.data.get("auth_type") == "header" and not _HEADER_NAME.match(v):
            raise ValueError("is not a valid header name")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and (problem := _secret_value_problem(info.data.get("auth_type"), v)):
            raise ValueError(problem)
        return v


class CreateConnection(ConnectionIn):
    """`POST /v1/connections`: a connection in `workspace_id` (default: the caller's personal
    one)."""

    workspace_id: UUID | None = None


class ConnectionOut(_ConnectionFields):
    id: UUID
    workspace_id: UUID
    secret_set: bool = False
    # Last characters of the secret, for recognition ("…abcd"); only for long secrets.
    secret_hint: str | None = None
    secret_headers: dict[str, str] = Field(
        default_factory=dict, description=f"names of secret headers; values are {MASK}"
    )
    created_at: datetime
    updated_at: datetime


class ConnectionList(Contract):
    items: list[ConnectionOut]


class ConnectionRef(Contract):
    connection_id: UUID


class UpdateConnection(ConnectionRef):
    patch: ConnectionPatch


class ConnectionTestResult(Contract):
    ok: bool
    status: int | None = None
    duration_ms: float
    error: str | None = None
    # The first bytes of the answer (text), for a quick look.
    preview: str | None = None


# ---- import / export ----------------------------------------------------------------------


class ImportHttpResponse(_HttpCall):
    connection: str = Field(min_length=1, max_length=100, description="connection name")


class ImportAiResponse(_AiCall):
    connection: str = Field(min_length=1, max_length=100, description="connection name")
    prompt: str = Field(min_length=1, max_length=100, description="prompt name")


ImportResponse = Annotated[
    TemplateResponse | ImportHttpResponse | ImportAiResponse, Field(discriminator="type")
]


class ImportCommand(_CommandFields):
    response: ImportResponse


class ImportPrompt(PromptIn):
    pass


class ImportConnection(_ConnectionFields):
    """A connection without secret values: they are set afterwards through the API."""

    secret_headers: list[str] = Field(
        default_factory=list, max_length=30, description="names of secret headers"
    )

    @field_validator("secret_headers")
    @classmethod
    def _secret_header_names(cls, v: list[str]) -> list[str]:
        errors: list[tuple[Loc, str]] = [
            ((i,), _BAD_HEADER_NAME) for i, name in enumerate(v) if not _HEADER_NAME.match(name)
        ]
        if errors:
            raise rule_error(errors)
        return v


class BotImport(Contract):
    """A whole bot's command setup, as exported and imported (JSON or YAML).

    Commands reference prompts and connections by name; names resolve to the ones in the
    file, or else to the importing user's existing ones. Secrets are never part of it.
    """

    version: Literal[1] = 1
    prefix: CommandPrefix | None = None  # None: the importing bot keeps its prefix
    commands: list[ImportCommand] = Field(default_factory=list, max_length=500)
    prompts: list[ImportPrompt] = Field(default_factory=list, max_length=200)
    connections: list[ImportConnection] = Field(default_factory=list, max_length=100)

    @field_validator("commands")
    @classmethod
    def _commands(cls, v: list[ImportCommand]) -> list[ImportCommand]:
        errors = scope_rule_errors(v)
        if errors:
            raise rule_error(errors)
        return v

    @field_validator("prompts", "connections")
    @classmethod
    def _unique_names(cls, v: list[Any]) -> list[Any]:
        errors = repeated_names(v, "the name {!r} appears twice")
        if errors:
            raise rule_error(errors)
        return v


class ExportRequest(Contract):
    bot_id: UUID


# ---- RPCs of the configuration API (gateway -> command) -----------------------------------

LIST = gateway_rpc("rpc.command.list", BotCommandRef, CommandList, "a bot's commands")
CREATE = gateway_rpc("rpc.command.create", CreateCommand, CommandOut, "add a command")
GET = gateway_rpc("rpc.command.get", CommandRef, CommandOut, "one command")
UPDATE = gateway_rpc("rpc.command.update", UpdateCommand, CommandOut, "change one")
DELETE = gateway_rpc("rpc.command.delete", CommandRef, Empty, "remove a command")
TEST = gateway_rpc(
    "rpc.command.test",
    TestCommand,
    CommandReply,
    "dry-run a command with given options; says what the bot would answer",
)
PREVIEW = gateway_rpc(
    "rpc.command.preview",
    PreviewCommand,
    CommandReply,
    "dry-run an unsaved command (validated like a create, nothing stored)",
)
VARIABLES = gateway_rpc(
    "rpc.command.variables",
    Empty,
    TemplateVariables,
    "the variables a command's templates can use (TEMPLATE_VARIABLES)",
)
SETTINGS_GET = gateway_rpc("rpc.command.settings.get", BotCommandRef, CommandSettings, "prefix")
SETTINGS_PUT = gateway_rpc(
    "rpc.command.settings.put", BotCommandSettings, CommandSettings, "prefix"
)
SYNC_STATUS = gateway_rpc(
    "rpc.command.sync.status",
    BotCommandRef,
    SyncStatus,
    "whether Discord has the bot's current commands, and the last sync result",
)
SYNC_REPORT = rpc(
    "rpc.command.sync.report",
    SyncReport,
    Empty,
    callers=["bot"],
    summary="bot-service reports a bulk overwrite's result (as the bot's owner)",
)
EXPORT = gateway_rpc("rpc.command.export", ExportRequest, BotImport, "a bot's setup (no secrets)")
PROMPT_LIST = gateway_rpc("rpc.command.prompt.list", WorkspaceFilter, PromptList, "prompts")
PROMPT_CREATE = gateway_rpc("rpc.command.prompt.create", CreatePrompt, PromptOut, "add")
PROMPT_GET = gateway_rpc("rpc.command.prompt.get", PromptRef, PromptOut, "one")
PROMPT_UPDATE = gateway_rpc("rpc.command.prompt.update", UpdatePrompt, PromptOut, "change")
PROMPT_DELETE = gateway_rpc("rpc.command.prompt.delete", PromptRef, Empty, "remove (409 if used)")
CONNECTION_LIST = gateway_rpc(
    "rpc.command.connection.list", WorkspaceFilter, ConnectionList, "connections"
)
CONNECTION_CREATE = gateway_rpc(
    "rpc.command.connection.create", CreateConnection, ConnectionOut, "add"
)
CONNECTION_GET = gateway_rpc("rpc.command.connection.get", ConnectionRef, ConnectionOut, "one")
CONNECTION_UPDATE = gateway_rpc(
    "rpc.command.connection.update",
    UpdateConnection,
    ConnectionOut,
    "change (secrets kept unless given)",
)
CONNECTION_DELETE = gateway_rpc(
    "rpc.command.connection.delete", ConnectionRef, Empty, "remove (409 if used)"
)
CONNECTION_TEST = gateway_rpc(
    "rpc.command.connection.test",
    ConnectionRef,
    ConnectionTestResult,
    "one request to the base URL with the connection's auth",
)


# Cooldowns are shared by every command-service replica (a user cannot dodge one by
# landing on another replica); each key expires with its cooldown.
COOLDOWN_BUCKET = "command_cooldowns"

SPECS: list[Spec] = [
    *declared_specs(globals()),
    EventSpec("evt.command.*.*.changed", CommandsChanged, frozenset({"command"})),
    EventSpec("evt.command.*.*.executed", CommandExecuted, frozenset({"command"})),
    KvSpec(
        COOLDOWN_BUCKET,
        frozenset({"command"}),
        summary="running command cooldowns, one key per (command, user|guild), expiring with it",
    ),
]
