"""The common shape of every JetStream event and the subject scheme."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import uuid_utils
from pydantic import AliasChoices, ConfigDict, Field, model_validator

from proto.base import Contract

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def new_event_id() -> UUID:
    """UUIDv7: time-ordered, so ids sort by creation and consumers stay idempotent."""
    return UUID(str(uuid_utils.uuid7()))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(Contract):
    """Fields every event carries. Subclasses add the payload of one kind."""

    # Not `populate_by_name`: `workspace_id` is reached through its alias choices (which
    # include its own name), so type checkers accept both names until every caller uses
    # the new one (pydantic's mypy plugin cannot type a field with two names).
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=False)

    id: UUID = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=utcnow)
    # The workspace the event belongs to (a personal workspace's id is its user's id). Named
    # `owner_id` before teams (#17): messages still in JetStream and callers not yet moved
    # over send that name, so it is accepted on input.
    workspace_id: UUID = Field(validation_alias=AliasChoices("workspace_id", "owner_id"))
    bot_id: UUID | None = None
    # A human-readable summary for the log view; never contains secrets.
    message: str = ""
    level: LogLevel = "info"

    @model_validator(mode="before")
    @classmethod
    def _one_workspace(cls, data: Any) -> Any:
        # Callers written before the rename may pass both names (AccessChanged did): the
        # same value is one field, two values are a mistake.
        if isinstance(data, dict) and "owner_id" in data and "workspace_id" in data:
            if str(data["owner_id"]) != str(data["workspace_id"]):
                raise ValueError("owner_id (the old name) differs from the workspace id")
            data = {k: v for k, v in data.items() if k != "owner_id"}
        return data

    @property
    def owner_id(self) -> UUID:
        """The old name of `workspace_id`, for code not yet moved over (#17)."""
        return self.workspace_id


def event_subject(
    domain: str, workspace_id: UUID | str, bot_id: UUID | str | None, kind: str
) -> str:
    """`evt.<domain>.<workspace_id>.<bot_id>.<kind>`; events about no bot use `-` for the bot."""
    return f"evt.{domain}.{workspace_id}.{bot_id or '-'}.{kind}"
