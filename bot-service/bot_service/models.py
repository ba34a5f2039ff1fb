"""Tables of bot-service (schema `bot`). The token is stored only as vault ciphertext."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.outbox import outbox_model

SCHEMA = "bot"

# SQLModel.metadata is one MetaData for the whole process: every service's tables would
# land in it (and in each service's alembic autogenerate). This service's own registry
# holds only its tables; `metadata` is the migrations' target_metadata.
metadata = MetaData()
# Audit records leave with the change's transaction (migration 0005).
outbox = outbox_model(metadata, schema=SCHEMA)


class BotTable(SQLModel, registry=registry(metadata=metadata)):
    """The base of bot-service's tables."""


class Bot(BotTable, table=True):
    """One Discord bot of one workspace, with its desired state (`running`, `generation`)."""

    __tablename__ = "bots"
    # As migrations 0002-0005 create them (a test compares the two).
    __table_args__ = (
        UniqueConstraint("application_id", name="bots_application_id_key"),
        CheckConstraint(
            "shard_count is null or shard_count between 1 and 1024", name="bots_shard_count_check"
        ),
        Index("bots_workspace_idx", "workspace_id", "created_at"),
        {"schema": SCHEMA},
    )

    id: UUID = Field(sa_column=Column(Uuid, primary_key=True))
    workspace_id: UUID = Field(sa_column=Column(Uuid, nullable=False))
    # The user who added it (bots from before #17: their owner).
    created_by: UUID = Field(sa_column=Column(Uuid, nullable=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    description: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="", server_default=text("''"))
    )
    intents: int = Field(sa_column=Column(BigInteger, nullable=False))
    presence: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    shard_count: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    auto_start: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, default=False, server_default=text("false")),
    )
    tags: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, default=list, server_default=text("'{}'")),
    )
    running: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, default=False, server_default=text("false")),
    )
    generation: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, default=0, server_default=text("0"))
    )
    # Vault ciphertext; AAD = ("bot.bots", id, "token_enc"). Never decrypted outside tokens.py.
    # Kept out of repr() (pydantic's shows every field; the ORM's showed none).
    token_enc: bytes = Field(repr=False, sa_column=Column(LargeBinary, nullable=False))
    token_last4: str = Field(sa_column=Column(String(4), nullable=False))
    application_id: str = Field(sa_column=Column(String(32), nullable=False))
    discord_user_id: str = Field(sa_column=Column(String(32), nullable=False))
    username: str = Field(sa_column=Column(String(100), nullable=False))
    # The bot user's avatar hash on Discord (None: the default avatar).
    avatar_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # SHA-256 of the image bytes this service sent when Discord answered `avatar_hash`
    # (None: the avatar was set elsewhere, or never by us).
    avatar_sha256: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    application_flags: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default=text("0"))
    )
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
