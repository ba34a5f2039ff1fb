"""storage-service tables (schema `storage`, reached through the role's search_path).

The migrations create the schema; these classes describe it column for column (types,
nullability, keys, indexes, server defaults) and a test compares the two. Check
constraints and row-level security policies live only in the migrations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.outbox import outbox_model


class StorageTable(SQLModel, registry=registry()):
    """Base of storage-service's tables. A registry of its own gives the service a MetaData
    of its own (SQLModel's default is one global MetaData shared by every importer), so
    Alembic and the schema test see exactly this service's tables."""

    # Set by SQLAlchemy on each table class; declared for the type checker.
    __table__: ClassVar[Table]


metadata = StorageTable.metadata
outbox = outbox_model(metadata)


class StoredFile(StorageTable, table=True):
    """One upload into one workspace. Unique per (workspace, sha256 of the uploaded bytes):
    the same bytes uploaded again are the same file (content-addressed, stored once)."""

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("workspace_id", "sha256", name="files_workspace_sha_key"),
        Index("files_workspace_created_idx", "workspace_id", text("created_at DESC")),
    )

    id: UUID = Field(primary_key=True)
    workspace_id: UUID = Field(nullable=False)
    # Who uploaded it (files from before teams: the personal workspace's user).
    created_by: UUID = Field(nullable=False)
    # 'avatar' or 'config' (a check constraint of the migration).
    kind: str = Field(sa_type=Text, nullable=False)
    name: str = Field(sa_type=Text, nullable=False)
    content_type: str = Field(sa_type=Text, nullable=False)
    sha256: str = Field(sa_type=Text, nullable=False)
    size_bytes: int = Field(sa_type=BigInteger, nullable=False)
    stored_bytes: int = Field(sa_type=BigInteger, nullable=False)
    width: int | None = None
    height: int | None = None
    animated: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, server_default=text("false")),
    )
    # [{name, content_type, size_bytes, width, height, key}]
    variants: list[dict[str, Any]] = Field(
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    )
    object_keys: list[str] = Field(
        sa_column=Column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    )
    # Filled in by the database (`now()`) and read back by the INSERT's RETURNING.
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )
