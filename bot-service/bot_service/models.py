"""Tables of bot-service (schema `bot`). The token is stored only as vault ciphertext."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "bot"


class Base(DeclarativeBase):
    pass


class Bot(Base):
    """One Discord bot of one user, with its desired state (`running`, `generation`)."""

    __tablename__ = "bots"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    intents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    presence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    shard_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    auto_start: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    running: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Vault ciphertext; AAD = ("bot.bots", id, "token_enc"). Never decrypted outside tokens.py.
    token_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    token_last4: Mapped[str] = mapped_column(String(4), nullable=False)
    application_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    discord_user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    username: Mapped[str] = mapped_column(String(100), nullable=False)
    # The bot user's avatar hash on Discord (None: the default avatar).
    avatar_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    application_flags: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
