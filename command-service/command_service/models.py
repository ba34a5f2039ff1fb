"""Tables of the command schema (SQLModel; queries live in repository.py).

Commands, prompts and connections keep their validated definition as `spec` (JSON of the
proto model), with the columns needed for lookups, uniqueness and references beside it.
Connection secrets are vault ciphertexts bound to (table, row id, column).
The columns, indexes and constraints are those migrations 0002 and 0004 create: every row
belongs to a workspace (#17; a personal workspace's id is its user's id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from proto.commands import DEFAULT_PREFIX
from services.outbox import outbox_model

SCHEMA = "command"
# SQLModel's default registry is one MetaData for the whole process: every service's
# tables would land in it, and Alembic's autogenerate (which compares a MetaData with one
# schema) would see the other services' tables as missing here. Command-service's own
# registry keeps its MetaData to its own schema.
metadata = MetaData(schema=SCHEMA)


class CommandTable(SQLModel, registry=registry(metadata=metadata)):
    """The base of command-service's tables (abstract: it has no table of its own)."""

    # Set by SQLAlchemy on each table class; declared for the type checker.
    __table__: ClassVar[Table]


def _stamp() -> Any:
    return Field(sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": func.now()})


class _WorkspaceItem(CommandTable):
    """The columns prompts and connections share: a workspace's named items that commands
    refer to by id."""

    id: UUID = Field(primary_key=True)
    workspace_id: UUID
    name: str = Field(sa_type=String(100))
    spec: dict[str, Any] = Field(sa_type=JSONB)
    created_at: datetime = _stamp()
    updated_at: datetime = _stamp()


class PromptRow(_WorkspaceItem, table=True):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="prompts_workspace_name_key"),)


class ConnectionRow(_WorkspaceItem, table=True):
    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="connections_workspace_name_key"),
    )

    secret_enc: bytes | None = Field(default=None, sa_type=LargeBinary)
    secret_hint: str | None = Field(default=None, sa_type=String(8))
    secret_headers_enc: bytes | None = Field(default=None, sa_type=LargeBinary)
    secret_header_names: list[str] = Field(
        sa_type=ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")}
    )


class CommandRow(CommandTable, table=True):
    __tablename__ = "commands"
    __table_args__ = (
        Index("commands_bot_idx", "bot_id", "created_at"),
        Index("commands_workspace_idx", "workspace_id"),
        Index("commands_connection_idx", "connection_id"),
        Index("commands_prompt_idx", "prompt_id"),
    )

    id: UUID = Field(primary_key=True)
    # The bot's workspace (a command may use only prompts and connections of it).
    workspace_id: UUID
    bot_id: UUID
    kind: str = Field(sa_type=String(16))
    name: str = Field(sa_type=String(32))
    spec: dict[str, Any] = Field(sa_type=JSONB)
    connection_id: UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.connections.id", ondelete="RESTRICT"
    )
    prompt_id: UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.prompts.id", ondelete="RESTRICT"
    )
    created_at: datetime = _stamp()
    updated_at: datetime = _stamp()


class BotSettingsRow(CommandTable, table=True):
    __tablename__ = "bot_settings"

    bot_id: UUID = Field(primary_key=True)
    workspace_id: UUID
    prefix: str = Field(
        default=DEFAULT_PREFIX, sa_type=String(10), sa_column_kwargs={"server_default": "!"}
    )
    synced_hash: str | None = Field(default=None, sa_type=String(64))
    sync_ok: bool | None = Field(default=None, sa_type=Boolean)
    sync_error: str | None = Field(default=None, sa_type=Text)
    synced_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = _stamp()


class AutomationRow(CommandTable, table=True):
    """An automation of a bot (#18): its trigger and steps as the contract's JSON."""

    __tablename__ = "automations"
    __table_args__ = (
        UniqueConstraint("bot_id", "name", name="automations_bot_name_key"),
        Index("automations_workspace_idx", "workspace_id"),
    )

    id: UUID = Field(primary_key=True)
    workspace_id: UUID
    bot_id: UUID
    name: str = Field(sa_type=String(100))
    enabled: bool = Field(
        default=True, sa_type=Boolean, sa_column_kwargs={"server_default": text("true")}
    )
    trigger: dict[str, Any] = Field(sa_type=JSONB)
    actions: list[Any] = Field(sa_type=JSONB)
    cooldown_user_s: int = Field(
        default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")}
    )
    cooldown_guild_s: int = Field(
        default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")}
    )
    # Why it cannot run now (bot-service's intents diagnosis); None: active when enabled.
    status_reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _stamp()
    updated_at: datetime = _stamp()


class AutomationRunRow(CommandTable, table=True):
    """One run of an automation: unique per (automation, trigger key) so a redelivered
    event or a due time claimed twice resumes the run instead of starting another."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        UniqueConstraint("automation_id", "trigger_key", name="automation_runs_trigger_key"),
        Index("automation_runs_recent_idx", "automation_id", text("started_at DESC")),
    )

    id: UUID = Field(primary_key=True)
    workspace_id: UUID
    bot_id: UUID
    automation_id: UUID = Field(foreign_key=f"{SCHEMA}.automations.id", ondelete="CASCADE")
    trigger_key: str = Field(sa_type=String(200))
    trigger_summary: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    # None while the run is in progress.
    outcome: str | None = Field(default=None, sa_type=String(16))
    steps_done: int = Field(
        default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")}
    )
    # Step outputs and effects recorded so far (a resumed run continues from them).
    step_state: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'")}
    )
    error: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = _stamp()
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    duration_ms: float | None = Field(default=None, sa_type=Double)


class ScheduleRow(CommandTable, table=True):
    """The next due time of an enabled schedule automation; executors claim due rows."""

    __tablename__ = "schedules"
    __table_args__ = (Index("schedules_due_idx", "next_due_at"),)

    automation_id: UUID = Field(
        primary_key=True, foreign_key=f"{SCHEMA}.automations.id", ondelete="CASCADE"
    )
    workspace_id: UUID
    bot_id: UUID
    # None: nothing more is due (an `at` schedule that fired).
    next_due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class VariableRow(CommandTable, table=True):
    """A server's variable (`user_id` '') or a member's in that server."""

    __tablename__ = "variables"
    __table_args__ = (Index("variables_workspace_idx", "workspace_id"),)

    bot_id: UUID = Field(primary_key=True)
    guild_id: str = Field(primary_key=True, sa_type=String(21))
    user_id: str = Field(primary_key=True, sa_type=String(21))
    key: str = Field(primary_key=True, sa_type=String(64))
    workspace_id: UUID
    value: Any = Field(sa_type=JSONB)
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = _stamp()


# The audit records of changes, published after their transaction commits.
outbox = outbox_model(metadata)

# AAD table names for the vault (schema.table), as `botcenter keys rotate` uses them.
CONNECTIONS_AAD = f"{SCHEMA}.connections"
