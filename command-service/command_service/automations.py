"""Rules of automations and variables (#18): who may read and change them, the checks made
at save time, schedules' next due times, the limits per bot and per server, the audit trail.

Functions take the caller's session (row-level security already hides other workspaces'
rows) and only flush; the handler commits. docs/design/automations.md §0, §5.2.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from command_service import repository as repo
from command_service.execution.matching import check_pattern
from command_service.execution.schedule import check_schedule, next_runs
from command_service.execution.triggers import trigger_manifest
from command_service.models import AutomationRow, AutomationRunRow, VariableRow
from command_service.service import Actor, Auditor, BotScope, from_validation, invalid, new_id, now
from proto import automations as a
from proto.access import Permission
from proto.base import Empty
from proto.commands import Loc
from proto.errors import FieldError
from services.audit import diff
from services.errors import conflict, not_found

EDIT: Permission = "automations.edit"
VIEW: Permission = "bots.view"
# A list of variables is one page: a server holds at most MAX_VARIABLES_PER_GUILD keys.
VARIABLE_PAGE = a.MAX_VARIABLES_PER_GUILD


# ---- save-time checks ---------------------------------------------------------------------


def trigger_errors(trigger: a.Trigger, at: datetime) -> list[FieldError]:
    """What the contract cannot check alone: cron values, an `at` in the past, a regular
    expression RE2 refuses. Each at its field."""
    problems: list[tuple[Loc, str]] = []
    if isinstance(trigger, a.ScheduleTrigger):
        problems = check_schedule(trigger, at)
    elif isinstance(trigger, a.MessageTrigger):
        problems = check_pattern(trigger)
    return [FieldError(loc=["body", *loc], message=message) for loc, message in problems]


# ---- rows to contracts ---------------------------------------------------------------------


def run_out(row: AutomationRunRow) -> a.AutomationRunOut:
    return a.AutomationRunOut(
        id=row.id,
        automation_id=row.automation_id,
        trigger_summary=row.trigger_summary,
        outcome=row.outcome,  # finished runs only (the queries)
        steps_done=row.steps_done,
        error=row.error,
        started_at=row.started_at,
        duration_ms=row.duration_ms or 0.0,
    )


def spec_of(row: AutomationRow) -> a.AutomationIn:
    return a.AutomationIn.model_validate(
        {
            "name": row.name,
            "enabled": row.enabled,
            "trigger": row.trigger,
            "actions": row.actions,
            "cooldown_user_s": row.cooldown_user_s,
            "cooldown_guild_s": row.cooldown_guild_s,
        }
    )


def _stored(spec: a.AutomationIn) -> dict[str, Any]:
    dumped = spec.model_dump(mode="json", by_alias=True)
    return {k: dumped[k] for k in ("name", "enabled", "trigger", "actions",
                                   "cooldown_user_s", "cooldown_guild_s")}  # fmt: skip


def _cursor(row: AutomationRunRow) -> str:
    raw = f"{row.started_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, run_id = raw.partition("|")
        return datetime.fromisoformat(at), UUID(run_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid(
            [FieldError(loc=["cursor"], message="not a cursor this list gave")], "bad cursor"
        ) from None


class AutomationService:
    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    # -- reading

    def out(
        self, row: AutomationRow, last: AutomationRunRow | None, at: datetime
    ) -> a.AutomationOut:
        spec = spec_of(row)
        upcoming = None
        if isinstance(spec.trigger, a.ScheduleTrigger):
            # A disabled schedule fires never: no times to show.
            upcoming = (
                next_runs(spec.trigger, at, a.SCHEDULE_PREVIEW, row.created_at)
                if spec.enabled
                else []
            )
        return a.AutomationOut(
            **spec.model_dump(by_alias=True),
            id=row.id,
            bot_id=row.bot_id,
            workspace_id=row.workspace_id,
            status=a.AutomationStatus(
                active=row.enabled and row.status_reason is None, reason=row.status_reason
            ),
            next_runs=upcoming,
            last_run=run_out(last) if last is not None else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def _out(self, s: AsyncSession, row: AutomationRow) -> a.AutomationOut:
        last = await repo.last_runs(s, [row.id])
        return self.out(row, last.get(row.id), now())

    @staticmethod
    async def _row(s: AsyncSession, bot: BotScope, automation_id: UUID) -> AutomationRow:
        if (row := await repo.get_automation(s, bot.bot_id, automation_id)) is None:
            raise not_found("automation")
        return row

    @staticmethod
    async def manifest(s: AsyncSession, bot: BotScope) -> a.TriggerManifest:
        """What bot-service must forward for the bot: its enabled automations' triggers."""
        rows = await repo.list_automations(s, bot.bot_id)
        return trigger_manifest(bot.bot_id, [spec_of(r).trigger for r in rows if r.enabled])

    async def list(
        self, s: AsyncSession, actor: Actor, bot: BotScope, req: a.BotAutomationRef
    ) -> a.AutomationList:
        actor.require(VIEW, bot.workspace_id, bot.bot_id)
        rows = await repo.list_automations(s, bot.bot_id)
        last = await repo.last_runs(s, [r.id for r in rows])
        at = now()
        return a.AutomationList(items=[self.out(r, last.get(r.id), at) for r in rows])

    async def get(
        self, s: AsyncSession, actor: Actor, bot: BotScope, req: a.AutomationRef
    ) -> a.AutomationOut:
        actor.require(VIEW, bot.workspace_id, bot.bot_id)
        return await self._out(s, await self._row(s, bot, req.automation_id))

    async def runs(
        self, s: AsyncSession, actor: Actor, bot: BotScope, query: a.RunsQuery
    ) -> a.RunPage:
        actor.require(VIEW, bot.workspace_id, bot.bot_id)
        await self._row(s, bot, query.automation_id)
        before = _after(query.cursor) if query.cursor else None
        rows = await repo.list_runs(s, query.automation_id, query.limit + 1, before)
        page = list(rows[: query.limit])
        more = len(rows) > query.limit
        return a.RunPage(
            items=[run_out(r) for r in page],
            next_cursor=_cursor(page[-1]) if more and page else None,
        )

    # -- changing

    @staticmethod
    def _check(spec: a.AutomationIn) -> None:
        fields = trigger_errors(spec.trigger, now())
        if fields:
            raise invalid(fields, fields[0].message)

    @staticmethod
    async def _name_free(s: AsyncSession, bot: BotScope, name: str, own: UUID | None) -> None:
        row = await repo.automation_named(s, bot.bot_id, name)
        if row is not None and row.id != own:
            raise _name_taken(name)

    async def _schedule(self, s: AsyncSession, row: AutomationRow) -> None:
        """A schedule trigger of an enabled automation has its next due time (from now);
        anything else has no schedule row."""
        spec = spec_of(row)
        if not (spec.enabled and isinstance(spec.trigger, a.ScheduleTrigger)):
            await repo.delete_schedule(s, row.id)
            return
        due = next_runs(spec.trigger, now(), 1, row.created_at)
        await repo.put_schedule(
            s,
            {
                "automation_id": row.id,
                "workspace_id": row.workspace_id,
                "bot_id": row.bot_id,
                "next_due_at": due[0] if due else None,
            },
        )

    async def create(
        self, s: AsyncSession, actor: Actor, bot: BotScope, req: a.CreateAutomation
    ) -> a.AutomationOut:
        actor.require(EDIT, bot.workspace_id, bot.bot_id)
        spec = req.automation
        self._check(spec)
        await self._name_free(s, bot, spec.name, None)
        automation_id, at = new_id(), now()
        stored = _stored(spec)
        values = {
            "id": automation_id,
            "workspace_id": bot.workspace_id,
            "bot_id": bot.bot_id,
            **stored,
            "status_reason": None,
            "created_at": at,
            "updated_at": at,
        }
        try:
            async with s.begin_nested():
                added = await repo.insert_automation_within(s, values, a.MAX_AUTOMATIONS_PER_BOT)
        except IntegrityError:
            # A concurrent create of the same name won the race.
            raise _name_taken(spec.name) from None
        if not added:
            raise invalid(
                [
                    FieldError(
                        loc=["body"],
                        message=f"a bot has at most {a.MAX_AUTOMATIONS_PER_BOT} automations",
                    )
                ],
                f"a bot has at most {a.MAX_AUTOMATIONS_PER_BOT} automations",
            )
        row = await self._row(s, bot, automation_id)
        await self._schedule(s, row)
        changes = diff(None, {"bot_id": str(bot.bot_id), **stored})
        await self.auditor.record(
            s, actor, bot.workspace_id, "automation.create", ("automation", automation_id), changes
        )
        return await self._out(s, row)

    async def update(
        self, s: AsyncSession, actor: Actor, bot: BotScope, req: a.UpdateAutomation
    ) -> a.AutomationOut:
        actor.require(EDIT, bot.workspace_id, bot.bot_id)
        automation_id, patch = req.automation_id, req.patch
        row = await self._row(s, bot, automation_id)
        before = _stored(spec_of(row))
        changes = patch.model_dump(mode="json", by_alias=True, exclude_unset=True)
        changes = {k: v for k, v in changes.items() if v is not None}
        try:
            spec = a.AutomationIn.model_validate({**before, **changes})
        except ValidationError as exc:
            raise from_validation(exc, ["body"]) from None
        if patch.trigger is not None:
            # An unchanged trigger passed when it was saved (an `at` since past included).
            self._check(spec)
        await self._name_free(s, bot, spec.name, automation_id)
        stored = _stored(spec)
        try:
            async with s.begin_nested():
                await repo.update_automation(s, automation_id, {**stored, "updated_at": now()})
        except IntegrityError:
            raise _name_taken(spec.name) from None
        await s.refresh(row)
        await self._schedule(s, row)
        target = ("automation", automation_id)
        await self.auditor.record(
            s, actor, bot.workspace_id, "automation.update", target, diff(before, stored)
        )
        return await self._out(s, row)

    async def delete(
        self, s: AsyncSession, actor: Actor, bot: BotScope, req: a.AutomationRef
    ) -> Empty:
        actor.require(EDIT, bot.workspace_id, bot.bot_id)
        automation_id = req.automation_id
        before = _stored(spec_of(await self._row(s, bot, automation_id)))
        if not await repo.delete_automation(s, bot.bot_id, automation_id):
            raise not_found("automation")
        target = ("automation", automation_id)
        await self.auditor.record(
            s, actor, bot.workspace_id, "automation.delete", target, diff(before, None)
        )
        return Empty()

    # -- variables

    async def variables(
        self, s: AsyncSession, actor: Actor, bot: BotScope, query: a.VariablesQuery
    ) -> a.VariableList:
        actor.require(VIEW, bot.workspace_id, bot.bot_id)
        rows = await repo.list_variables(
            s,
            bot.bot_id,
            now(),
            guild_id=query.guild_id,
            user_id=query.user_id,
            prefix=query.prefix,
            limit=VARIABLE_PAGE,
        )
        return a.VariableList(items=[variable_out(r) for r in rows])

    async def put_variable(
        self, s: AsyncSession, actor: Actor, bot: BotScope, req: a.PutVariable
    ) -> a.VariableOut:
        actor.require(EDIT, bot.workspace_id, bot.bot_id)
        value = req.variable.value
        size = len(json.dumps(value, ensure_ascii=False).encode())
        if size > a.MAX_VARIABLE_BYTES:
            message = f"a value holds at most {a.MAX_VARIABLE_BYTES} bytes as JSON ({size})"
            raise invalid([FieldError(loc=["body", "value"], message=message)], message)
        at = now()
        expires = (
            at + timedelta(seconds=req.variable.expires_in_s)
            if req.variable.expires_in_s is not None
            else None
        )
        user = req.user_id or ""
        old = await repo.get_variable(s, bot.bot_id, req.guild_id, user, req.key, at)
        values = {
            "bot_id": bot.bot_id,
            "guild_id": req.guild_id,
            "user_id": user,
            "key": req.key,
            "workspace_id": bot.workspace_id,
            "value": value,
            "expires_at": expires,
            "updated_at": at,
        }
        if not await repo.put_variable_within(s, values, at, a.MAX_VARIABLES_PER_GUILD):
            message = (
                f"a server holds at most {a.MAX_VARIABLES_PER_GUILD} variables of a bot; "
                "delete some first"
            )
            raise invalid([FieldError(loc=["body", "key"], message=message)], message)
        kind, target = _variable_target(bot, req.guild_id, user, req.key)
        after = {"value": value, "expires_at": expires.isoformat() if expires else None}
        changes = diff(None if old is None else {"value": old.value}, after)
        await self.auditor.record(
            s, actor, bot.workspace_id, f"{kind}.put", (kind, target), changes
        )
        return a.VariableOut(
            guild_id=req.guild_id,
            user_id=req.user_id,
            key=req.key,
            value=value,
            expires_at=expires,
            updated_at=at,
        )

    async def delete_variable(
        self, s: AsyncSession, actor: Actor, bot: BotScope, ref: a.VariableRef
    ) -> Empty:
        actor.require(EDIT, bot.workspace_id, bot.bot_id)
        user = ref.user_id or ""
        at = now()
        old = await repo.get_variable(s, bot.bot_id, ref.guild_id, user, ref.key, at)
        if not await repo.delete_variable(s, bot.bot_id, ref.guild_id, user, ref.key, at):
            raise not_found("variable")
        kind, target = _variable_target(bot, ref.guild_id, user, ref.key)
        changes = diff({"value": old.value if old else None}, None)
        await self.auditor.record(
            s, actor, bot.workspace_id, f"{kind}.delete", (kind, target), changes
        )
        return Empty()


def _name_taken(name: str) -> Exception:
    return conflict(f"an automation named {name!r} exists", field="name")


def _variable_target(bot: BotScope, guild_id: str, user_id: str, key: str) -> tuple[str, str]:
    """An audit record's target type (`variable`: a server's; `member_variable`) and id: the
    bot, the server, the member (if any) and the key."""
    kind = "member_variable" if user_id else "variable"
    return kind, "/".join(p for p in (str(bot.bot_id), guild_id, user_id, key) if p)


def variable_out(row: VariableRow) -> a.VariableOut:
    return a.VariableOut(
        guild_id=row.guild_id,
        user_id=row.user_id or None,
        key=row.key,
        value=row.value,
        expires_at=row.expires_at,
        updated_at=row.updated_at,
    )
