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
    MetaData,
    Text,
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


class Event(LogModel, table=True):
    """One bot event or log line. Partitioned by day on `occurred_at` (the partitions are
    made and dropped by `ensure_partitions`/`drop_partitions_before`), so the primary key
    must contain it; a redelivered event carries the same (id, occurred_at)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("events_owner_time_idx", "owner_id", text("occurred_at DESC"), text("id DESC")),
        Index("events_bot_time_idx", "bot_id", text("occurred_at DESC"), text("id DESC")),
        Index("events_owner_seq_idx", "owner_id", "seq"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: UUID = Field(primary_key=True)
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True), primary_key=True)
    owner_id: UUID = Field(nullable=False)
    bot_id: UUID | None = Field(default=None, nullable=True)
    domain: str = Field(sa_type=Text, nullable=False)
    kind: str = Field(sa_type=Text, nullable=False)
    level: str = Field(sa_type=Text, nullable=False)
    message: str = Field(default="", sa_type=Text, nullable=False, sa_column_kwargs={
        "server_default": text("''")})  # fmt: skip
    payload: dict[str, Any] = Field(sa_type=JSONB, nullable=False)
    # JetStream stream sequence: the order the live stream delivers events in.
    seq: int = Field(sa_type=BigInteger, nullable=False)
    ingested_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"server_default": func.now()},
    )


events = metadata.tables["events"]

# The daily partitions (`events_pYYYYMMDD`) are made at run time by `ensure_partitions`,
# with the parent's indexes copied onto each: they are not part of the declared schema.
_PARTITION = re.compile(r"events_p\d{8}(_.*)?")


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic's `include_name` hook for comparing the migrated schema with `metadata`."""
    return not (type_ in ("table", "index") and name is not None and _PARTITION.fullmatch(name))
