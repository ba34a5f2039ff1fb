"""Every SQL query of command-service. Functions take the caller's session and only flush.

Rows come back as the SQLModel classes of models.py. Writes are statements (not
`session.add`), so each runs, and fails on a constraint, where it is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import delete, func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from command_service.models import BotSettingsRow, CommandRow, ConnectionRow, PromptRow
from services.db import rows_touched

# ---- commands ---------------------------------------------------------------------------


async def list_commands(s: AsyncSession, bot_id: UUID) -> Sequence[CommandRow]:
    q = select(CommandRow).where(CommandRow.bot_id == bot_id).order_by(col(CommandRow.created_at))
    return (await s.execute(q)).scalars().all()


async def get_command(s: AsyncSession, bot_id: UUID, command_id: UUID) -> CommandRow | None:
    q = select(CommandRow).where(CommandRow.bot_id == bot_id, CommandRow.id == command_id)
    return (await s.execute(q)).scalars().first()


async def insert_command(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(insert(CommandRow).values(**values))


async def update_command(s: AsyncSession, command_id: UUID, values: dict[str, Any]) -> None:
    await s.execute(update(CommandRow).where(col(CommandRow.id) == command_id).values(**values))


async def delete_command(s: AsyncSession, bot_id: UUID, command_id: UUID) -> bool:
    res = await s.execute(
        delete(CommandRow)
        .where(col(CommandRow.bot_id) == bot_id, col(CommandRow.id) == command_id)
        .returning(col(CommandRow.id))
    )
    return res.first() is not None


# ---- prompts and connections ----------------------------------------------------------

ItemT = TypeVar("ItemT", PromptRow, ConnectionRow)


class Library(Generic[ItemT]):
    """The queries of a table of a workspace's named items that commands refer to by id:
    prompts and connections share every one of them. Row-level security already limits
    each query to the caller's workspaces; a name is unique within one workspace."""

    def __init__(self, model: type[ItemT], referenced_by: Mapped[UUID | None]) -> None:
        self.model: type[ItemT] = model
        # The column of `commands` that points at an item of this table.
        self.referenced_by = referenced_by

    async def list_all(self, s: AsyncSession, workspaces: Sequence[UUID]) -> Sequence[ItemT]:
        q = (
            select(self.model)
            .where(col(self.model.workspace_id).in_(workspaces))
            .order_by(col(self.model.created_at))
        )
        return (await s.execute(q)).scalars().all()

    async def get(self, s: AsyncSession, item_id: UUID) -> ItemT | None:
        q = select(self.model).where(self.model.id == item_id)
        return (await s.execute(q)).scalars().first()

    async def by_ids(self, s: AsyncSession, ids: Sequence[UUID]) -> Sequence[ItemT]:
        if not ids:
            return []
        q = select(self.model).where(col(self.model.id).in_(ids))
        return (await s.execute(q)).scalars().all()

    async def by_name(self, s: AsyncSession, workspace_id: UUID, name: str) -> ItemT | None:
        q = select(self.model).where(
            self.model.workspace_id == workspace_id, self.model.name == name
        )
        return (await s.execute(q)).scalars().first()

    async def insert(self, s: AsyncSession, values: dict[str, Any]) -> None:
        await s.execute(insert(self.model).values(**values))

    async def update(self, s: AsyncSession, item_id: UUID, values: dict[str, Any]) -> None:
        await s.execute(update(self.model).where(col(self.model.id) == item_id).values(**values))

    async def delete(self, s: AsyncSession, item_id: UUID) -> bool:
        res = await s.execute(
            delete(self.model).where(col(self.model.id) == item_id).returning(col(self.model.id))
        )
        return res.first() is not None

    async def in_use(self, s: AsyncSession, item_id: UUID) -> int:
        """How many commands refer to the item."""
        q = select(func.count()).select_from(CommandRow).where(self.referenced_by == item_id)
        return int((await s.execute(q)).scalar_one())

    async def bots_using(self, s: AsyncSession, item_id: UUID) -> list[UUID]:
        q = select(CommandRow.bot_id).distinct().where(self.referenced_by == item_id)
        return list((await s.execute(q)).scalars().all())


PROMPTS = Library(PromptRow, col(CommandRow.prompt_id))
CONNECTIONS = Library(ConnectionRow, col(CommandRow.connection_id))


# ---- per-bot settings ----------------------------------------------------------------------


async def get_settings(s: AsyncSession, bot_id: UUID) -> BotSettingsRow | None:
    q = select(BotSettingsRow).where(BotSettingsRow.bot_id == bot_id)
    return (await s.execute(q)).scalars().first()


async def upsert_settings(
    s: AsyncSession, bot_id: UUID, workspace_id: UUID, now: datetime, values: dict[str, Any]
) -> None:
    stmt = pg_insert(BotSettingsRow).values(
        bot_id=bot_id, workspace_id=workspace_id, updated_at=now, **values
    )
    await s.execute(
        stmt.on_conflict_do_update(
            index_elements=[col(BotSettingsRow.bot_id)], set_={"updated_at": now, **values}
        )
    )


# ---- purge ------------------------------------------------------------------------------


async def purge_workspace(s: AsyncSession, workspace_id: UUID) -> int:
    """Every row of the workspace (commands first: they refer to prompts and connections)."""
    removed = 0
    for model in (CommandRow, BotSettingsRow, PromptRow, ConnectionRow):
        res = await s.execute(delete(model).where(col(model.workspace_id) == workspace_id))
        removed += rows_touched(res) or 0
    return removed


async def purge_bot(s: AsyncSession, bot_id: UUID) -> int:
    removed = 0
    for model in (CommandRow, BotSettingsRow):
        res = await s.execute(delete(model).where(col(model.bot_id) == bot_id))
        removed += rows_touched(res) or 0
    return removed
