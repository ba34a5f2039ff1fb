"""Contracts of the commands domain: commands, prompts, API connections, execution.

The cross-service part is fixed here first (bot-service <-> command-service); the
command-service adds its configuration contracts below.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.base import Contract
from proto.events import Event
from proto.registry import CoreSpec, EventSpec, KvSpec, RpcSpec, rpc

InvocationKind = Literal[
    "slash", "prefix", "user_context", "message_context", "autocomplete", "component"
]


class Invoker(Contract):
    id: str  # Discord snowflake of the user who invoked
    username: str = ""
    roles: list[str] = Field(default_factory=list)
    permissions: str = "0"  # Discord permission bit set as a decimal string


class Invocation(Contract):
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


class ExecuteCommand(Contract):
    bot_id: UUID
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



class ImportBot(Contract):
    """Import a configuration file (stored by storage-service) into a bot's setup."""

    bot_id: UUID
    file_id: UUID
    dry_run: bool = False


class ImportResult(Contract):
    """What an import did (or, for a dry run, would do), counted per kind."""

    dry_run: bool
    created: dict[str, int] = Field(default_factory=dict)
    updated: dict[str, int] = Field(default_factory=dict)
    unchanged: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


IMPORT = rpc(
    "rpc.command.import",
    ImportBot,
    ImportResult,
    callers=["gateway"],
    summary="validate and apply a stored config file (BotImport schema) to a bot",
)

SPECS: list[RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec] = [
    EXECUTE,
    MANIFEST,
    IMPORT,
    EventSpec("evt.command.*.*.changed", CommandsChanged, frozenset({"command"})),
    EventSpec("evt.command.*.*.executed", CommandExecuted, frozenset({"command"})),
]
