"""The common shape of every JetStream event and the subject scheme."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import uuid_utils
from pydantic import Field

from proto.base import Contract

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def new_event_id() -> UUID:
    """UUIDv7: time-ordered, so ids sort by creation and consumers stay idempotent."""
    return UUID(str(uuid_utils.uuid7()))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(Contract):
    """Fields every event carries. Subclasses add the payload of one kind."""

    id: UUID = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=utcnow)
    owner_id: UUID
    bot_id: UUID | None = None
    # A human-readable summary for the log view; never contains secrets.
    message: str = ""
    level: LogLevel = "info"


def event_subject(domain: str, owner_id: UUID | str, bot_id: UUID | str | None, kind: str) -> str:
    """`evt.<domain>.<owner_id>.<bot_id>.<kind>`; events about no bot use `-` for the bot."""
    return f"evt.{domain}.{owner_id}.{bot_id or '-'}.{kind}"
