"""Every SQL query of command-service. Functions take the caller's session and only flush.

Rows come back as the SQLModel classes of models.py. Writes are statements (not
`session.add`), so each runs, and fails on a constraint, where it is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import and_, delete, func, insert, literal, or_, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from command_service.models import (
    AutomationRow,
    AutomationRunRow,
    BotSettingsRow,
    CommandRow,
    ConnectionRow,
    PromptRow,
    ScheduleRow,
    VariableRow,
)
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


# ---- automations (#18) -------------------------------------------------------------------


async def list_automations(s: AsyncSession, bot_id: UUID) -> Sequence[AutomationRow]:
    q = (
        select(AutomationRow)
        .where(AutomationRow.bot_id == bot_id)
        .order_by(col(AutomationRow.created_at), col(AutomationRow.id))
    )
    return (await s.execute(q)).scalars().all()


async def get_automation(
    s: AsyncSession, bot_id: UUID, automation_id: UUID
) -> AutomationRow | None:
    q = select(AutomationRow).where(
        AutomationRow.bot_id == bot_id, AutomationRow.id == automation_id
    )
    return (await s.execute(q)).scalars().first()


async def automation_named(s: AsyncSession, bot_id: UUID, name: str) -> AutomationRow | None:
    q = select(AutomationRow).where(AutomationRow.bot_id == bot_id, AutomationRow.name == name)
    return (await s.execute(q)).scalars().first()


async def _one_at_a_time(s: AsyncSession, *scope: object) -> None:
    """Serialize the transactions that count and then insert into one scope: under READ
    COMMITTED two inserts counting at once would both see room for one more."""
    key = ":".join(str(p) for p in scope)
    await s.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def insert_automation_within(s: AsyncSession, values: dict[str, Any], limit: int) -> bool:
    """Insert unless the bot has `limit` automations already, counted in the same statement
    as the insert. False: the limit."""
    await _one_at_a_time(s, "automations", values["bot_id"])
    count = (
        select(func.count())
        .select_from(AutomationRow)
        .where(col(AutomationRow.bot_id) == values["bot_id"])
        .scalar_subquery()
    )
    names = list(values)
    source = select(*(literal(values[n], AutomationRow.__table__.c[n].type) for n in names))
    res = await s.execute(
        insert(AutomationRow)
        .from_select(names, source.where(count < limit))
        .returning(col(AutomationRow.id))
    )
    return res.first() is not None


async def update_automation(s: AsyncSession, automation_id: UUID, values: dict[str, Any]) -> None:
    await s.execute(
        update(AutomationRow).where(col(AutomationRow.id) == automation_id).values(**values)
    )


async def delete_automation(s: AsyncSession, bot_id: UUID, automation_id: UUID) -> bool:
    res = await s.execute(
        delete(AutomationRow)
        .where(col(AutomationRow.bot_id) == bot_id, col(AutomationRow.id) == automation_id)
        .returning(col(AutomationRow.id))
    )
    return res.first() is not None


async def put_schedule(s: AsyncSession, values: dict[str, Any]) -> None:
    stmt = pg_insert(ScheduleRow).values(**values)
    await s.execute(
        stmt.on_conflict_do_update(
            index_elements=[col(ScheduleRow.automation_id)],
            set_={"next_due_at": values["next_due_at"]},
        )
    )


async def delete_schedule(s: AsyncSession, automation_id: UUID) -> None:
    await s.execute(delete(ScheduleRow).where(col(ScheduleRow.automation_id) == automation_id))


async def get_schedule(s: AsyncSession, automation_id: UUID) -> ScheduleRow | None:
    q = select(ScheduleRow).where(ScheduleRow.automation_id == automation_id)
    return (await s.execute(q)).scalars().first()


# ---- runs ---------------------------------------------------------------------------------


async def insert_run(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(insert(AutomationRunRow).values(**values))


async def list_runs(
    s: AsyncSession,
    automation_id: UUID,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> Sequence[AutomationRunRow]:
    """Finished runs, newest first; `before`: the (started_at, id) of the last row seen."""
    q = select(AutomationRunRow).where(
        AutomationRunRow.automation_id == automation_id,
        col(AutomationRunRow.outcome).is_not(None),
    )
    if before is not None:
        q = q.where(
            tuple_(col(AutomationRunRow.started_at), col(AutomationRunRow.id))
            < tuple_(literal(before[0]), literal(before[1]))
        )
    q = q.order_by(col(AutomationRunRow.started_at).desc(), col(AutomationRunRow.id).desc())
    return (await s.execute(q.limit(limit))).scalars().all()


async def last_runs(
    s: AsyncSession, automation_ids: Sequence[UUID]
) -> dict[UUID, AutomationRunRow]:
    """The newest finished run of each automation."""
    if not automation_ids:
        return {}
    q = (
        select(AutomationRunRow)
        .distinct(col(AutomationRunRow.automation_id))
        .where(
            col(AutomationRunRow.automation_id).in_(automation_ids),
            col(AutomationRunRow.outcome).is_not(None),
        )
        .order_by(
            col(AutomationRunRow.automation_id),
            col(AutomationRunRow.started_at).desc(),
            col(AutomationRunRow.id).desc(),
        )
    )
    return {r.automation_id: r for r in (await s.execute(q)).scalars().all()}


# ---- variables ----------------------------------------------------------------------------


def _live(now: datetime) -> Any:
    return or_(col(VariableRow.expires_at).is_(None), col(VariableRow.expires_at) > now)


async def list_variables(
    s: AsyncSession,
    bot_id: UUID,
    now: datetime,
    *,
    guild_id: str | None,
    user_id: str | None,
    prefix: str | None,
    limit: int,
) -> Sequence[VariableRow]:
    q = select(VariableRow).where(VariableRow.bot_id == bot_id, _live(now))
    if guild_id is not None:
        q = q.where(VariableRow.guild_id == guild_id)
    if user_id is not None:
        q = q.where(VariableRow.user_id == user_id)
    if prefix:
        # A key is [a-z0-9_]: `_` is LIKE's one-character wildcard, so escape it.
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(col(VariableRow.key).like(escaped + "%", escape="\\"))
    q = q.order_by(col(VariableRow.guild_id), col(VariableRow.user_id), col(VariableRow.key)).limit(
        limit
    )
    return (await s.execute(q)).scalars().all()


async def get_variable(
    s: AsyncSession, bot_id: UUID, guild_id: str, user_id: str, key: str, now: datetime
) -> VariableRow | None:
    q = select(VariableRow).where(
        VariableRow.bot_id == bot_id,
        VariableRow.guild_id == guild_id,
        VariableRow.user_id == user_id,
        VariableRow.key == key,
        _live(now),
    )
    return (await s.execute(q)).scalars().first()


async def put_variable_within(
    s: AsyncSession, values: dict[str, Any], now: datetime, limit: int
) -> bool:
    """Insert or replace a variable. A new key is refused (False) when its (bot, guild) has
    `limit` live keys already, counted in the same statement as the insert; replacing a key
    (or one that expired) always passes."""
    bot_id, guild_id = values["bot_id"], values["guild_id"]
    await _one_at_a_time(s, "variables", bot_id, guild_id)
    same = and_(
        col(VariableRow.bot_id) == bot_id,
        col(VariableRow.guild_id) == guild_id,
        col(VariableRow.user_id) == values["user_id"],
        col(VariableRow.key) == values["key"],
    )
    count = (
        select(func.count())
        .select_from(VariableRow)
        .where(
            col(VariableRow.bot_id) == bot_id,
            col(VariableRow.guild_id) == guild_id,
            _live(now),
            ~same,
        )
        .scalar_subquery()
    )
    names = list(values)
    table = VariableRow.__table__
    source = select(*(literal(values[n], table.c[n].type) for n in names)).where(count < limit)
    stmt = pg_insert(VariableRow).from_select(names, source)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            col(VariableRow.bot_id),
            col(VariableRow.guild_id),
            col(VariableRow.user_id),
            col(VariableRow.key),
        ],
        set_={
            "value": stmt.excluded.value,
            "expires_at": stmt.excluded.expires_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    res = await s.execute(stmt.returning(col(VariableRow.key)))
    return res.first() is not None


async def delete_variable(
    s: AsyncSession, bot_id: UUID, guild_id: str, user_id: str, key: str, now: datetime
) -> bool:
    """False when there was no live variable (an expired one is removed all the same)."""
    res = await s.execute(
        delete(VariableRow)
        .where(
            col(VariableRow.bot_id) == bot_id,
            col(VariableRow.guild_id) == guild_id,
            col(VariableRow.user_id) == user_id,
            col(VariableRow.key) == key,
        )
        .returning(col(VariableRow.expires_at))
    )
    row = res.first()
    return row is not None and (row[0] is None or row[0] > now)


# ---- purge ------------------------------------------------------------------------------


async def purge_workspace(s: AsyncSession, workspace_id: UUID) -> int:
    """Every row of the workspace (commands first: they refer to prompts and connections)."""
    removed = 0
    # Automations before nothing: their runs and schedules go with them (on delete cascade).
    for model in (
        CommandRow,
        BotSettingsRow,
        PromptRow,
        ConnectionRow,
        AutomationRow,
        VariableRow,
    ):
        res = await s.execute(delete(model).where(col(model.workspace_id) == workspace_id))
        removed += rows_touched(res) or 0
    return removed


async def purge_bot(s: AsyncSession, bot_id: UUID) -> int:
    removed = 0
    for model in (CommandRow, BotSettingsRow, AutomationRow, VariableRow):
        res = await s.execute(delete(model).where(col(model.bot_id) == bot_id))
        removed += rows_touched(res) or 0
    return removed
