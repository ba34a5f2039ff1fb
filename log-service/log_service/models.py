"""log-service tables (schema `log`, reached through the role's search_path).

The migrations own the schema (partitions, row-level security, the definer functions);
these classes say the same columns and indexes so queries can name them and a test can
compare them with the migrated database (`alembic.autogenerate.compare_metadata`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

# `SQLModel.metadata` is one per process, shared by every package that defines tables;
# each service compares and migrates its own schema only, so its tables live in a
# metadata (and registry) of their own.
metadata = MetaData()


class LogModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of log-service's tables."""


def stamped_now() -> Any:
    """A `timestamptz not null default now()` column the database fills in."""
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"server_default": func.now()},
    )


class Event(LogModel, table=True):
    """One bot event or log line. Partitioned by day on `occurred_at` (the partitions are
    made and dropped by `ensure_partitions`/`drop_partitions_before`), so the primary key
    must contain it; a redelivered event carries the same (id, occurred_at)."""

    __tablename__ = "events"
    __table_args__ = (
        Index(
            "events_workspace_time_idx", "workspace_id", text("occurred_at DESC"), text("id DESC")
        ),
        Index("events_bot_time_idx", "bot_id", text("occurred_at DESC"), text("id DESC")),
        Index("events_workspace_seq_idx", "workspace_id", "seq"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: UUID = Field(primary_key=True)
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True), primary_key=True)
    workspace_id: UUID = Field(nullable=False)
    bot_id: UUID | None = Field(default=None, nullable=True)
    domain: str = Field(sa_type=Text, nullable=False)
    kind: str = Field(sa_type=Text, nullable=False)
    level: str = Field(sa_type=Text, nullable=False)
    message: str = Field(default="", sa_type=Text, nullable=False, sa_column_kwargs={
        "server_default": text("''")})  # fmt: skip
    payload: dict[str, Any] = Field(sa_type=JSONB, nullable=False)
    # JetStream stream sequence: the order the live stream delivers events in.
    seq: int = Field(sa_type=BigInteger, nullable=False)
    ingested_at: datetime | None = stamped_now()


events = metadata.tables["events"]

# The daily partitions (`events_pYYYYMMDD`) are made at run time by `ensure_partitions`,
# with the parent's indexes copied onto each: they are not part of the declared schema.
_PARTITION = re.compile(r"events_p\d{8}(_.*)?")


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic's `include_name` hook for comparing the migrated schema with `metadata`."""
    return not (type_ in ("table", "index") and name is not None and _PARTITION.fullmatch(name))


class AuditEvent(LogModel, table=True):
    """One audit record, the `seq`-th link of its workspace's hash chain (migration 0005:
    append-only, read by members, written by the ingest lane only)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "seq", name="audit_events_chain_key"),
        Index("audit_events_actor_idx", "workspace_id", "actor_user_id", text("seq DESC")),
        Index("audit_events_action_idx", "workspace_id", "action", text("seq DESC")),
        Index(
            "audit_events_target_idx", "workspace_id", "target_type", "target_id", text("seq DESC")
        ),
        Index("audit_events_at_idx", "workspace_id", "at"),
    )

    id: UUID = Field(primary_key=True)
    workspace_id: UUID = Field(nullable=False)
    seq: int = Field(sa_type=BigInteger, nullable=False)
    at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    actor_user_id: UUID | None = Field(default=None, nullable=True)
    actor_token_id: UUID | None = Field(default=None, nullable=True)
    action: str = Field(sa_type=Text, nullable=False)
    target_type: str | None = Field(default=None, sa_type=Text, nullable=True)
    target_id: str | None = Field(default=None, sa_type=Text, nullable=True)
    changes: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=JSONB,
        nullable=False,
        sa_column_kwargs={"server_default": text("'{}'::jsonb")},
    )
    ip: str | None = Field(default=None, sa_type=Text, nullable=True)
    user_agent: str | None = Field(default=None, sa_type=Text, nullable=True)
    request_id: str | None = Field(default=None, sa_type=Text, nullable=True)
    prev_hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    stored_at: datetime | None = stamped_now()


class AuditHead(LogModel, table=True):
    """The last link of one workspace's chain: locked `for update` to append after it."""

    __tablename__ = "audit_heads"

    workspace_id: UUID = Field(primary_key=True)
    seq: int = Field(sa_type=BigInteger, nullable=False)
    hash: bytes = Field(sa_type=LargeBinary, nullable=False)


class AuditCheckpoint(LogModel, table=True):
    """Where a pruned chain starts again: the last pruned row's `seq` and `hash`."""

    __tablename__ = "audit_checkpoints"

    workspace_id: UUID = Field(primary_key=True)
    seq: int = Field(sa_type=BigInteger, nullable=False)
    hash: bytes = Field(sa_type=LargeBinary, nullable=False)
    pruned_at: datetime | None = stamped_now()


audit_events = metadata.tables["audit_events"]
audit_heads = metadata.tables["audit_heads"]
