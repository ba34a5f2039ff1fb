"""Every SQL query of command-service. Functions take the caller's session and only flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, RowMapping, Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from command_service.models import bot_settings, commands, connections, prompts
from services.db import rows_touched

# ---- commands ---------------------------------------------------------------------------


async def list_commands(s: AsyncSession, bot_id: UUID) -> Sequence[RowMapping]:
    rows = await s.execute(
        select(commands).where(commands.c.bot_id == bot_id).order_by(commands.c.created_at)
    )
    return rows.mappings().all()


async def get_command(s: AsyncSession, bot_id: UUID, command_id: UUID) -> RowMapping | None:
    row = await s.execute(
        select(commands).where(commands.c.bot_id == bot_id, commands.c.id == command_id)
    )
    return row.mappings().first()


async def insert_command(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(insert(commands).values(**values))


async def update_command(s: AsyncSession, command_id: UUID, values: dict[str, Any]) -> None:
    await s.execute(update(commands).where(commands.c.id == command_id).values(**values))


async def delete_command(s: AsyncSession, bot_id: UUID, command_id: UUID) -> bool:
    res = await s.execute(
        delete(commands)
        .where(commands.c.bot_id == bot_id, commands.c.id == command_id)
        .returning(commands.c.id)
    )
    return res.first() is not None


# ---- prompts and connections ----------------------------------------------------------


class Library:
    """The queries of a table of the owner's named items that commands refer to by id:
    prompts and connections share every one of them."""

    def __init__(self, table: Table, referenced_by: Column[Any]) -> None:
        self.table = table
        # The column of `commands` that points at an item of this table.
        self.referenced_by = referenced_by

    async def list_all(self, s: AsyncSession) -> Sequence[RowMapping]:
        rows = await s.execute(select(self.table).order_by(self.table.c.created_at))
        return rows.mappings().all()

    async def get(self, s: AsyncSession, item_id: UUID) -> RowMapping | None:
        q = select(self.table).where(self.table.c.id == item_id)
        return (await s.execute(q)).mappings().first()

    async def by_ids(self, s: AsyncSession, ids: Sequence[UUID]) -> Sequence[RowMapping]:
        if not ids:
            return []
        q = select(self.table).where(self.table.c.id.in_(ids))
        return (await s.execute(q)).mappings().all()

    async def by_name(self, s: AsyncSession, name: str) -> RowMapping | None:
        q = select(self.table).where(self.table.c.name == name)
        return (await s.execute(q)).mappings().first()

    async def insert(self, s: AsyncSession, values: dict[str, Any]) -> None:
        await s.execute(insert(self.table).values(**values))

    async def update(self, s: AsyncSession, item_id: UUID, values: dict[str, Any]) -> None:
        await s.execute(update(self.table).where(self.table.c.id == item_id).values(**values))

    async def delete(self, s: AsyncSession, item_id: UUID) -> bool:
        res = await s.execute(
            delete(self.table).where(self.table.c.id == item_id).returning(self.table.c.id)
        )
        return res.first() is not None

    async def in_use(self, s: AsyncSession, item_id: UUID) -> int:
        """How many commands refer to the item."""
        q = select(func.count()).select_from(commands).where(self.referenced_by == item_id)
        return int((await s.execute(q)).scalar_one())

    async def bots_using(self, s: AsyncSession, item_id: UUID) -> list[UUID]:
        q = select(commands.c.bot_id).distinct().where(self.referenced_by == item_id)
        return list((await s.execute(q)).scalars().all())


PROMPTS = Library(prompts, commands.c.prompt_id)
CONNECTIONS = Library(connections, commands.c.connection_id)


# ---- per-bot settings ----------------------------------------------------------------------


async def get_settings(s: AsyncSession, bot_id: UUID) -> RowMapping | None:
    q = select(bot_settings).where(bot_settings.c.bot_id == bot_id)
    return (await s.execute(q)).mappings().first()


async def upsert_settings(
    s: AsyncSession, bot_id: UUID, owner_id: UUID, now: datetime, values: dict[str, Any]
) -> None:
    stmt = pg_insert(bot_settings).values(
        bot_id=bot_id, owner_id=owner_id, updated_at=now, **values
    )
    await s.execute(
        stmt.on_conflict_do_update(
            index_elements=[bot_settings.c.bot_id], set_={"updated_at": now, **values}
        )
    )


# ---- purge ------------------------------------------------------------------------------


async def purge_owner(s: AsyncSession, owner_id: UUID) -> int:
    removed = 0
    for table in (commands, bot_settings, prompts, connections):
        res = await s.execute(delete(table).where(table.c.owner_id == owner_id))
        removed += rows_touched(res) or 0
    return removed


async def purge_bot(s: AsyncSession, bot_id: UUID) -> int:
    removed = 0
    for table in (commands, bot_settings):
        res = await s.execute(delete(table).where(table.c.bot_id == bot_id))
        removed += rows_touched(res) or 0
    return removed
