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
    """Another bot row (of any user) already uses this Discord application."""


def _is_duplicate_application(exc: IntegrityError) -> bool:
    return APPLICATION_UNIQUE in str(exc.orig)


async def add(session: AsyncSession, bot: Bot) -> None:
    """Insert a bot; a second bot for one Discord application raises DuplicateApplicationError.

    The unique index is checked across every user's rows (indexes ignore row-level
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


async def list_for_owner(session: AsyncSession, tag: str | None = None) -> Sequence[Bot]:
    """The caller's bots (row-level security scopes them), oldest first."""
    stmt = select(Bot).order_by(col(Bot.created_at), col(Bot.id))
    if tag is not None:
        stmt = stmt.where(col(Bot.tags).contains([tag]))
    return (await session.execute(stmt)).scalars().all()


async def count_for_owner(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Bot))).scalar_one())


async def remove(session: AsyncSession, bot_id: UUID) -> bool:
    result = await session.execute(delete(Bot).where(col(Bot.id) == bot_id).returning(col(Bot.id)))
    return result.first() is not None


async def token_ciphertext(session: AsyncSession, bot_id: UUID) -> bytes | None:
    result = await session.execute(select(col(Bot.token_enc)).where(col(Bot.id) == bot_id))
    blob = result.scalar_one_or_none()
    return bytes(blob) if blob is not None else None


async def all_bot_ids(session: AsyncSession) -> Sequence[UUID]:
    """Every bot id of every user: only through the system role (start-up mirror)."""
    return (await session.execute(select(col(Bot.id)))).scalars().all()
