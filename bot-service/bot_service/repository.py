"""Every SQL query of bot-service. Sessions come from the edge; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot_service.models import Bot

APPLICATION_UNIQUE = "bots_application_id_key"


class DuplicateApplicationError(Exception):
    """Another bot row (of any workspace) already uses this Discord application."""


def _is_duplicate_application(exc: IntegrityError) -> bool:
    return APPLICATION_UNIQUE in str(exc.orig)


async def add(session: AsyncSession, bot: Bot) -> None:
    """Insert a bot; a second bot for one Discord application raises DuplicateApplicationError.

    The unique index is checked across every workspace's rows (indexes ignore row-level
    security), inside a savepoint so the caller's transaction survives.
    """
    try:
        async with session.begin_nested():
            session.add(bot)
            await session.flush()
    except IntegrityError as exc:
        if _is_duplicate_application(exc):
            raise DuplicateApplicationError from None
        raise


async def flush(session: AsyncSession) -> None:
    await session.flush()


async def get(session: AsyncSession, bot_id: UUID, *, for_update: bool = False) -> Bot | None:
    stmt = select(Bot).where(col(Bot.id) == bot_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_in(
    session: AsyncSession, workspace_ids: Sequence[UUID], tag: str | None = None
) -> Sequence[Bot]:
    """The bots of these workspaces that row-level security lets the caller see (a
    membership limited to some bots sees those), oldest first."""
    stmt = (
        select(Bot)
        .where(col(Bot.workspace_id).in_(list(workspace_ids)))
        .order_by(col(Bot.created_at), col(Bot.id))
    )
    if tag is not None:
        stmt = stmt.where(col(Bot.tags).contains([tag]))
    return (await session.execute(stmt)).scalars().all()


async def count_in(session: AsyncSession, workspace_id: UUID) -> int:
    stmt = select(func.count()).select_from(Bot).where(col(Bot.workspace_id) == workspace_id)
    return int((await session.execute(stmt)).scalar_one())


async def unknown_ids(
    session: AsyncSession, workspace_id: UUID, bot_ids: Sequence[UUID]
) -> list[UUID]:
    """The ids in `bot_ids` that are not bots of the workspace, in the order given."""
    stmt = select(col(Bot.id)).where(
        col(Bot.workspace_id) == workspace_id, col(Bot.id).in_(list(bot_ids))
    )
    known = set((await session.execute(stmt)).scalars().all())
    return [bot_id for bot_id in bot_ids if bot_id not in known]


async def remove(session: AsyncSession, bot_id: UUID) -> bool:
    result = await session.execute(delete(Bot).where(col(Bot.id) == bot_id).returning(col(Bot.id)))
    return result.first() is not None


async def token_ciphertext(session: AsyncSession, bot_id: UUID) -> bytes | None:
    result = await session.execute(select(col(Bot.token_enc)).where(col(Bot.id) == bot_id))
    blob = result.scalar_one_or_none()
    return bytes(blob) if blob is not None else None


async def all_bot_ids(session: AsyncSession) -> Sequence[UUID]:
    """Every bot id of every workspace: only through the system role (start-up mirror)."""
    return (await session.execute(select(col(Bot.id)))).scalars().all()
