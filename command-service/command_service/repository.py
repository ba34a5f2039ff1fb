"""Every SQL query of command-service. Functions take the caller's session and only flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping, delete, func, insert, select, update
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


async def bots_using(
    s: AsyncSession, *, prompt_id: UUID | None = None, connection_id: UUID | None = None
) -> list[UUID]:
    q = select(commands.c.bot_id).distinct()
    if prompt_id is not None:
        q = q.where(commands.c.prompt_id == prompt_id)
    if connection_id is not None:
        q = q.where(commands.c.connection_id == connection_id)
    return list((await s.execute(q)).scalars().all())


# ---- prompts ----------------------------------------------------------------------------


async def list_prompts(s: AsyncSession) -> Sequence[RowMapping]:
    rows = await s.execute(select(prompts).order_by(prompts.c.created_at))
    return rows.mappings().all()


async def get_prompt(s: AsyncSession, prompt_id: UUID) -> RowMapping | None:
    return (await s.execute(select(prompts).where(prompts.c.id == prompt_id))).mappings().first()


async def prompts_by_ids(s: AsyncSession, ids: Sequence[UUID]) -> Sequence[RowMapping]:
    if not ids:
        return []
    return (await s.execute(select(prompts).where(prompts.c.id.in_(ids)))).mappings().all()


async def prompt_by_name(s: AsyncSession, name: str) -> RowMapping | None:
    return (await s.execute(select(prompts).where(prompts.c.name == name))).mappings().first()


async def insert_prompt(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(insert(prompts).values(**values))


async def update_prompt(s: AsyncSession, prompt_id: UUID, values: dict[str, Any]) -> None:
    await s.execute(update(prompts).where(prompts.c.id == prompt_id).values(**values))


async def delete_prompt(s: AsyncSession, prompt_id: UUID) -> bool:
    res = await s.execute(delete(prompts).where(prompts.c.id == prompt_id).returning(prompts.c.id))
    return res.first() is not None


async def prompt_in_use(s: AsyncSession, prompt_id: UUID) -> int:
    q = select(func.count()).select_from(commands).where(commands.c.prompt_id == prompt_id)
    return int((await s.execute(q)).scalar_one())


# ---- connections ---------------------------------------------------------------------------


async def list_connections(s: AsyncSession) -> Sequence[RowMapping]:
    rows = await s.execute(select(connections).order_by(connections.c.created_at))
    return rows.mappings().all()


async def get_connection(s: AsyncSession, connection_id: UUID) -> RowMapping | None:
    q = select(connections).where(connections.c.id == connection_id)
    return (await s.execute(q)).mappings().first()


async def connections_by_ids(s: AsyncSession, ids: Sequence[UUID]) -> Sequence[RowMapping]:
    if not ids:
        return []
    q = select(connections).where(connections.c.id.in_(ids))
    return (await s.execute(q)).mappings().all()


async def connection_by_name(s: AsyncSession, name: str) -> RowMapping | None:
    q = select(connections).where(connections.c.name == name)
    return (await s.execute(q)).mappings().first()


async def insert_connection(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(insert(connections).values(**values))


async def update_connection(s: AsyncSession, connection_id: UUID, values: dict[str, Any]) -> None:
    await s.execute(update(connections).where(connections.c.id == connection_id).values(**values))


async def delete_connection(s: AsyncSession, connection_id: UUID) -> bool:
    res = await s.execute(
        delete(connections).where(connections.c.id == connection_id).returning(connections.c.id)
    )
    return res.first() is not None


async def connection_in_use(s: AsyncSession, connection_id: UUID) -> int:
    q = select(func.count()).select_from(commands).where(commands.c.connection_id == connection_id)
    return int((await s.execute(q)).scalar_one())


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
