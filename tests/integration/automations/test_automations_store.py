"""Automations and variables stored and served by command-service (#18 slice V), over NATS on
real PostgreSQL with bot-service answering for the bot: create/list/get/patch/delete with
`bots.view` to read and `automations.edit` to change, save-time field errors, the next fire
times of a schedule, variables with their limits and expiry, and the runs list's pages."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from nats.aio.client import Client as NATS
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from command_service import repository as repo
from command_service.execution.triggers import trigger_manifest
from command_service.models import AutomationRow, ScheduleRow, VariableRow
from proto import automations as A
from proto import bots as B
from proto.access import Access
from proto.errors import ErrorCode
from services.errors import RpcError
from tests.fixtures.infra import apoll
from tests.integration.commands.conftest import collecting
from tests.integration.commands.test_commands_workspaces import (
    As,
    Audit,
    forbidden,
    grant,
    member,
    not_found,
)

GUILD = "111111111111111111"
OTHER_GUILD = "222222222222222222"
USER = "333333333333333333"


def welcome(name: str = "welcome", **extra: Any) -> A.AutomationIn:
    return A.AutomationIn.model_validate(
        {
            "name": name,
            "trigger": {"type": "member_join"},
            "actions": [{"type": "send_message", "content": "Welcome {{ user.mention }}!"}],
            **extra,
        }
    )


def as_role(nc: NATS, bot: Any, role: str) -> As:
    """The bot's owner narrowed to one role in the bot's (personal) workspace."""
    return As(nc, Access(user_id=bot.owner, grants=[grant(bot.owner, role)]))


def invalid_at(err: RpcError, *loc: str | int, code: ErrorCode = ErrorCode.VALIDATION) -> str:
    """The message of the field error at LOC. VALIDATION (422) for command-service's own
    checks; a body that breaks the contract is INVALID at the RPC, which the gateway's own
    validation of the same model answers with a 422 at the same field."""
    assert err.code is code, err
    for field in err.fields:
        if tuple(field.loc[-len(loc) :]) == loc:
            return field.message
    raise AssertionError(f"no field error at {loc}: {err.fields}")


async def test_an_automation_is_created_listed_changed_and_deleted(
    nc: NATS, owned_bot: Any, audit: Audit
) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    created = await owner(
        A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome(cooldown_user_s=30))
    )
    assert (created.name, created.enabled, created.cooldown_user_s) == ("welcome", True, 30)
    assert created.trigger.type == "member_join"
    assert created.actions[0].content == "Welcome {{ user.mention }}!"
    assert created.status == A.AutomationStatus(active=True, reason=None)
    assert created.next_runs is None
    assert created.last_run is None

    ref = A.AutomationRef(bot_id=bot, automation_id=created.id)
    listed = await owner(A.AUTOMATION_LIST, A.BotAutomationRef(bot_id=bot))
    assert [x.id for x in listed.items] == [created.id]
    assert (await owner(A.AUTOMATION_GET, ref)) == created

    # A name is unique per bot: 409 naming it.
    dup = await owner.error(
        A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome())
    )
    assert dup.code is ErrorCode.CONFLICT
    assert dup.message == "an automation named 'welcome' exists"

    patch = A.AutomationPatch.model_validate(
        {
            "name": "greet",
            "enabled": False,
            "actions": [{"type": "condition", "if": "user.bot", "then": [{"type": "stop"}]}],
        }
    )
    changed = await owner(
        A.AUTOMATION_UPDATE, A.UpdateAutomation(bot_id=bot, automation_id=created.id, patch=patch)
    )
    assert (changed.name, changed.enabled, changed.cooldown_user_s) == ("greet", False, 30)
    [condition] = changed.actions
    assert (condition.if_, [s.type for s in condition.then]) == ("user.bot", ["stop"])
    assert changed.status.active is False
    assert changed.updated_at > created.updated_at
    assert (await owner(A.AUTOMATION_GET, ref)).name == "greet"

    # Renaming onto another automation's name is the same 409.
    other = await owner(
        A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome("other"))
    )
    clash = await owner.error(
        A.AUTOMATION_UPDATE,
        A.UpdateAutomation(
            bot_id=bot, automation_id=other.id, patch=A.AutomationPatch(name="greet")
        ),
    )
    assert clash.code is ErrorCode.CONFLICT

    await owner(A.AUTOMATION_DELETE, ref)
    not_found(await owner.error(A.AUTOMATION_GET, ref))
    not_found(await owner.error(A.AUTOMATION_DELETE, ref))
    assert [
        x.id for x in (await owner(A.AUTOMATION_LIST, A.BotAutomationRef(bot_id=bot))).items
    ] == [other.id]

    records = await audit.wait(created.id, 3)
    assert [r["action"] for r in records] == [
        "automation.create",
        "automation.update",
        "automation.delete",
    ]
    assert records[1]["changes"]["name"] == {"old": "welcome", "new": "greet"}
    assert {r["workspace_id"] for r in records} == {str(owned_bot.owner)}


async def test_each_change_announces_the_bots_trigger_manifest(nc: NATS, owned_bot: Any) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    joins = trigger_manifest(bot, [A.MemberJoinTrigger()]).hash
    both = trigger_manifest(bot, [A.MemberJoinTrigger(), A.MessageTrigger(pattern="hi")]).hash
    async with collecting(nc, f"evt.command.*.{bot}.triggers_changed") as changed:

        async def announced(n: int) -> str:
            await apoll(lambda: len(changed.items) >= n, timeout_s=10, what=f"{n} events")
            return str(changed.items[n - 1][1]["hash"])

        await owner(A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome()))
        assert await announced(1) == joins
        # A disabled automation needs nothing forwarded.
        quiet = welcome("echo", enabled=False, trigger={"type": "message", "pattern": "hi"})
        made = await owner(A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=quiet))
        assert await announced(2) == joins
        on = A.UpdateAutomation(
            bot_id=bot, automation_id=made.id, patch=A.AutomationPatch(enabled=True)
        )
        await owner(A.AUTOMATION_UPDATE, on)
        assert await announced(3) == both
        await owner(A.AUTOMATION_DELETE, A.AutomationRef(bot_id=bot, automation_id=made.id))
        assert await announced(4) == joins
    assert {subject.split(".")[2] for subject, _ in changed.items} == {str(owned_bot.owner)}


async def test_reading_needs_bots_view_and_changing_needs_automations_edit(
    nc: NATS, owned_bot: Any
) -> None:
    bot = owned_bot.bot_id
    owner, developer = as_role(nc, owned_bot, "owner"), as_role(nc, owned_bot, "developer")
    created = await developer(
        A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome())
    )
    ref = A.AutomationRef(bot_id=bot, automation_id=created.id)
    update = A.UpdateAutomation(
        bot_id=bot, automation_id=created.id, patch=A.AutomationPatch(enabled=False)
    )
    put = A.PutVariable(bot_id=bot, guild_id=GUILD, key="count", variable=A.VariablePut(value=1))
    for role in ("viewer", "operator"):
        reader = as_role(nc, owned_bot, role)
        assert [
            x.id for x in (await reader(A.AUTOMATION_LIST, A.BotAutomationRef(bot_id=bot))).items
        ] == [created.id]
        assert (await reader(A.AUTOMATION_GET, ref)).id == created.id
        assert (
            await reader(A.AUTOMATION_RUNS, A.RunsQuery(bot_id=bot, automation_id=created.id))
        ).items == []
        assert (await reader(A.VARIABLE_LIST, A.VariablesQuery(bot_id=bot))).items == []
        create = A.CreateAutomation(bot_id=bot, automation=welcome("mine"))
        forbidden(await reader.error(A.AUTOMATION_CREATE, create), "automations.edit")
        forbidden(await reader.error(A.AUTOMATION_UPDATE, update), "automations.edit")
        forbidden(await reader.error(A.AUTOMATION_DELETE, ref), "automations.edit")
        forbidden(await reader.error(A.VARIABLE_PUT, put), "automations.edit")
        forbidden(
            await reader.error(
                A.VARIABLE_DELETE, A.VariableRef(bot_id=bot, guild_id=GUILD, key="count")
            ),
            "automations.edit",
        )
    assert (await owner(A.AUTOMATION_GET, ref)).enabled is True

    # Someone of another workspace does not learn that the bot exists.
    outsider = As(nc, member(uuid.uuid4()))
    not_found(await outsider.error(A.AUTOMATION_LIST, A.BotAutomationRef(bot_id=bot)))
    not_found(await outsider.error(A.AUTOMATION_GET, ref))
    not_found(
        await outsider.error(
            A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome("x"))
        )
    )
    not_found(await outsider.error(A.VARIABLE_PUT, put))
    not_found(await outsider.error(A.VARIABLE_LIST, A.VariablesQuery(bot_id=bot)))


async def test_bad_automations_are_refused_at_their_fields(nc: NATS, owned_bot: Any) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id

    async def refused(body: dict[str, Any]) -> RpcError:
        # Sent as JSON, as the gateway forwards a request body: the model is checked by
        # command-service, not by this test's client.
        raw = {"name": "bad", "trigger": {"type": "member_join"}, "actions": [{"type": "stop"}]}
        req = {"bot_id": str(bot), "automation": {**raw, **body}}
        with pytest.raises(RpcError) as info:
            await owner.client.call(A.AUTOMATION_CREATE, _Raw(req), access=owner.access)
        return info.value

    steps = [{"type": "stop"}] * 13
    nested = [{"type": "condition", "if": "true", "then": steps, "else": steps}]
    contract = ErrorCode.INVALID
    assert "at most 25 steps" in invalid_at(
        await refused({"actions": nested}), "actions", code=contract
    )
    assert "time zone" in invalid_at(
        await refused(
            {"trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Base"}}
        ),
        "timezone",
        code=contract,
    )
    assert invalid_at(
        await refused({"trigger": {"type": "schedule", "cron": "61 9 * * *"}}), "trigger", "cron"
    )
    past = {"type": "schedule", "at": "2020-01-01T09:00:00+00:00"}
    assert invalid_at(await refused({"trigger": past}), "trigger", "at") == "is in the past"
    assert invalid_at(
        await refused({"trigger": {"type": "message", "match": "regex", "pattern": "(a+)+\\1"}}),
        "trigger",
        "pattern",
    )
    # Nothing was stored by the refusals.
    assert (await owner(A.AUTOMATION_LIST, A.BotAutomationRef(bot_id=bot))).items == []


class _Raw:
    """A request body as plain JSON, so the server (not this client) validates it: the
    client serializes a request with its `__pydantic_serializer__`."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.__pydantic_serializer__ = self

    def to_json(self, _: Any) -> bytes:
        return orjson.dumps(self.body)


async def test_a_schedule_shows_its_next_five_fire_times_and_is_due_while_enabled(
    nc: NATS, owned_bot: Any, admin_db: AsyncSession
) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    spec = welcome(
        "morning",
        trigger={"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
    )
    created = await owner(A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=spec))
    runs = created.next_runs
    assert runs is not None
    assert len(runs) == A.SCHEDULE_PREVIEW
    assert runs == sorted(runs)
    assert runs[0] > datetime.now(UTC)
    berlin = [r.astimezone(ZoneInfo("Europe/Berlin")) for r in runs]
    assert all((t.hour, t.minute, t.weekday() < 5) == (9, 0, True) for t in berlin)
    assert len({t.date() for t in berlin}) == 5

    async def due() -> datetime | None:
        row = await admin_db.get(ScheduleRow, created.id, populate_existing=True)
        next_due = None if row is None else row.next_due_at
        await admin_db.commit()
        return next_due

    assert await due() == runs[0]
    ref = A.UpdateAutomation(
        bot_id=bot, automation_id=created.id, patch=A.AutomationPatch(enabled=False)
    )
    disabled = await owner(A.AUTOMATION_UPDATE, ref)
    assert disabled.next_runs == []
    assert await due() is None
    ref.patch = A.AutomationPatch(enabled=True)
    assert (await owner(A.AUTOMATION_UPDATE, ref)).next_runs == runs
    assert await due() == runs[0]
    # Another trigger has no schedule.
    ref.patch = A.AutomationPatch.model_validate({"trigger": {"type": "member_join"}})
    assert (await owner(A.AUTOMATION_UPDATE, ref)).next_runs is None
    assert await due() is None


async def test_a_bot_has_at_most_max_automations(
    nc: NATS, owned_bot: Any, admin_db: AsyncSession
) -> None:
    stored = welcome().model_dump(mode="json", by_alias=True)
    now, bot = datetime.now(UTC), owned_bot.bot_id
    await bulk(
        admin_db,
        AutomationRow,
        [
            {
                "id": uuid.uuid4(),
                "workspace_id": owned_bot.owner,
                "bot_id": bot,
                "name": f"a{i}",
                "enabled": True,
                "trigger": stored["trigger"],
                "actions": stored["actions"],
                "cooldown_user_s": 0,
                "cooldown_guild_s": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(A.MAX_AUTOMATIONS_PER_BOT)
        ],
    )
    err = await as_role(nc, owned_bot, "owner").error(
        A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome("one_more"))
    )
    assert err.code is ErrorCode.VALIDATION
    assert f"at most {A.MAX_AUTOMATIONS_PER_BOT} automations" in err.message


async def bulk(admin_db: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows in one INSERT statement, committed."""
    await admin_db.execute(insert(model), rows)
    await admin_db.commit()


# ---- variables ------------------------------------------------------------------------------


def put(
    bot: uuid.UUID, key: str, value: Any, user: str | None = None, **extra: Any
) -> A.PutVariable:
    return A.PutVariable(
        bot_id=bot,
        guild_id=extra.pop("guild", GUILD),
        user_id=user,
        key=key,
        variable=A.VariablePut(value=value, **extra),
    )


async def test_variables_are_put_listed_and_deleted(nc: NATS, owned_bot: Any, audit: Audit) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    joined = await owner(A.VARIABLE_PUT, put(bot, "joined_total", 41))
    assert (joined.guild_id, joined.user_id, joined.key, joined.value) == (
        GUILD,
        None,
        "joined_total",
        41,
    )
    assert (await owner(A.VARIABLE_PUT, put(bot, "joined_total", 42))).value == 42
    await owner(A.VARIABLE_PUT, put(bot, "join_channel", "welcome"))
    await owner(A.VARIABLE_PUT, put(bot, "joinxchannel", "no"))
    await owner(A.VARIABLE_PUT, put(bot, "warnings", 2.5, user=USER))
    await owner(A.VARIABLE_PUT, put(bot, "joined_total", 7, guild=OTHER_GUILD))

    async def keys(**query: Any) -> list[tuple[str, str | None, str, Any]]:
        page = await owner(A.VARIABLE_LIST, A.VariablesQuery(bot_id=bot, **query))
        return [(v.guild_id, v.user_id, v.key, v.value) for v in page.items]

    assert await keys(guild_id=GUILD, prefix="join_") == [(GUILD, None, "join_channel", "welcome")]
    assert await keys(prefix="joined") == [
        (GUILD, None, "joined_total", 42),
        (OTHER_GUILD, None, "joined_total", 7),
    ]
    assert await keys(guild_id=GUILD, user_id=USER) == [(GUILD, USER, "warnings", 2.5)]
    assert len(await keys(guild_id=GUILD)) == 4

    # A value is at most 4 KiB as JSON (here: under the contract's character count, over
    # its bytes).
    big = await owner.error(A.VARIABLE_PUT, put(bot, "big", "é" * 3000))
    assert "4096 bytes" in invalid_at(big, "value")

    ref = A.VariableRef(bot_id=bot, guild_id=GUILD, user_id=USER, key="warnings")
    await owner(A.VARIABLE_DELETE, ref)
    assert await keys(guild_id=GUILD, user_id=USER) == []
    not_found(await owner.error(A.VARIABLE_DELETE, ref))

    records = await audit.wait(f"{bot}/{GUILD}/{USER}/warnings", 2)
    assert [r["action"] for r in records] == ["member_variable.put", "member_variable.delete"]
    assert [r["action"] for r in audit.of(f"{bot}/{GUILD}/joined_total")] == [
        "variable.put",
        "variable.put",
    ]


async def test_a_server_holds_at_most_max_variables(
    nc: NATS, owned_bot: Any, admin_db: AsyncSession
) -> None:
    now, bot = datetime.now(UTC), owned_bot.bot_id

    def filled(guild: str, n: int) -> list[dict[str, Any]]:
        return [
            {
                "bot_id": bot,
                "guild_id": guild,
                "user_id": "" if i % 2 else USER,
                "key": f"k{i}",
                "workspace_id": owned_bot.owner,
                "value": i,
                "updated_at": now,
            }
            for i in range(n)
        ]

    await bulk(admin_db, VariableRow, filled(GUILD, A.MAX_VARIABLES_PER_GUILD))
    owner = as_role(nc, owned_bot, "owner")
    full = await owner.error(A.VARIABLE_PUT, put(bot, "one_more", 1))
    assert f"at most {A.MAX_VARIABLES_PER_GUILD} variables" in invalid_at(full, "key")
    # Changing a key the server has, or a key in another server, still works.
    assert (await owner(A.VARIABLE_PUT, put(bot, "k1", "changed"))).value == "changed"
    assert (await owner(A.VARIABLE_PUT, put(bot, "one_more", 1, guild=OTHER_GUILD))).value == 1
    count = await admin_db.scalar(
        select(func.count()).select_from(VariableRow).where(VariableRow.bot_id == bot)
    )
    assert count == A.MAX_VARIABLES_PER_GUILD + 1


async def test_two_writers_at_the_limit_do_not_both_get_the_last_key(
    owned_bot: Any, admin_db: AsyncSession
) -> None:
    """Each insert counts the server's keys in its own statement, but under READ COMMITTED
    a second writer would not see the first one's uncommitted key: the second waits for
    the first to commit, then finds the server full."""
    now, bot, guild = datetime.now(UTC), owned_bot.bot_id, "444444444444444444"

    def row(key: str) -> dict[str, Any]:
        return {"bot_id": bot, "guild_id": guild, "user_id": "", "key": key,
                "workspace_id": owned_bot.owner, "value": 1, "updated_at": now}  # fmt: skip

    await bulk(admin_db, VariableRow, [row(f"k{i}") for i in range(A.MAX_VARIABLES_PER_GUILD - 1)])
    limit = A.MAX_VARIABLES_PER_GUILD
    bind = admin_db.bind
    async with AsyncSession(bind) as first, AsyncSession(bind) as second:
        assert await repo.put_variable_within(first, row("first"), now, limit)
        late = asyncio.create_task(repo.put_variable_within(second, row("second"), now, limit))

        async def second_waits_or_is_done() -> bool:
            waiting = await admin_db.scalar(
                text("select count(*) from pg_stat_activity where wait_event_type = 'Lock'")
            )
            await admin_db.commit()
            return late.done() or bool(waiting)

        await apoll(second_waits_or_is_done, timeout_s=10, what="the second writer")
        await first.commit()
        assert await late is False
        await second.rollback()


async def test_an_expired_variable_is_gone(nc: NATS, owned_bot: Any) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    short = await owner(A.VARIABLE_PUT, put(bot, "streak", 3, user=USER, expires_in_s=1))
    assert short.expires_at is not None
    assert short.expires_at - short.updated_at == timedelta(seconds=1)
    await owner(A.VARIABLE_PUT, put(bot, "kept", 1))
    query = A.VariablesQuery(bot_id=bot, guild_id=GUILD)

    async def listed() -> list[str]:
        return [v.key for v in (await owner(A.VARIABLE_LIST, query)).items]

    assert await listed() == ["kept", "streak"]
    await apoll(lambda: _eventually(listed, ["kept"]), timeout_s=10, what="the variable expired")
    ref = A.VariableRef(bot_id=bot, guild_id=GUILD, user_id=USER, key="streak")
    not_found(await owner.error(A.VARIABLE_DELETE, ref))


async def _eventually(read: Any, expected: Any) -> bool:
    return bool(await read() == expected)


# ---- runs -----------------------------------------------------------------------------------


async def test_runs_are_listed_newest_first_in_pages(
    nc: NATS, owned_bot: Any, admin_db: AsyncSession
) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    created = await owner(A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome()))
    query = A.RunsQuery(bot_id=bot, automation_id=created.id, limit=2)
    empty = await owner(A.AUTOMATION_RUNS, query)
    assert (empty.items, empty.next_cursor) == ([], None)

    start = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for i in range(5):
        run_id = uuid.uuid4()
        ids.append(run_id)
        await repo.insert_run(
            admin_db,
            {
                "id": run_id,
                "workspace_id": owned_bot.owner,
                "bot_id": bot,
                "automation_id": created.id,
                "trigger_key": f"join:{GUILD}:{i}",
                "trigger_summary": f"member {i} joined",
                "outcome": "failed" if i == 3 else "ok",
                "steps_done": 1,
                "error": "Missing Permissions" if i == 3 else None,
                "started_at": start + timedelta(minutes=i),
                "finished_at": start + timedelta(minutes=i, seconds=1),
                "duration_ms": 12.5,
            },
        )
    # One still running: not in the list until it ends.
    await repo.insert_run(
        admin_db,
        {
            "id": uuid.uuid4(),
            "workspace_id": owned_bot.owner,
            "bot_id": bot,
            "automation_id": created.id,
            "trigger_key": "join:running",
            "started_at": start + timedelta(minutes=10),
        },
    )
    await admin_db.commit()

    seen: list[A.AutomationRunOut] = []
    pages = 0
    while True:
        page = await owner(A.AUTOMATION_RUNS, query)
        pages += 1
        seen += page.items
        if page.next_cursor is None:
            break
        query = query.model_copy(update={"cursor": page.next_cursor})
    assert pages == 3
    assert [r.id for r in seen] == ids[::-1]
    failed = seen[1]
    assert (failed.outcome, failed.error, failed.trigger_summary) == (
        "failed",
        "Missing Permissions",
        "member 3 joined",
    )
    assert (
        await owner(A.AUTOMATION_GET, A.AutomationRef(bot_id=bot, automation_id=created.id))
    ).last_run == seen[0]

    bad = await owner.error(A.AUTOMATION_RUNS, query.model_copy(update={"cursor": "nonsense!"}))
    assert bad.code is ErrorCode.VALIDATION


async def test_a_deleted_bots_automations_runs_and_variables_go_with_it(
    nc: NATS, owned_bot: Any, admin_db: AsyncSession
) -> None:
    owner = as_role(nc, owned_bot, "owner")
    bot = owned_bot.bot_id
    created = await owner(A.AUTOMATION_CREATE, A.CreateAutomation(bot_id=bot, automation=welcome()))
    await owner(A.VARIABLE_PUT, put(bot, "count", 1))
    await owner(B.DELETE_BOT, B.BotRef(bot_id=bot))

    async def left() -> int:
        counted = 0
        for model in (AutomationRow, VariableRow):
            q = select(func.count()).select_from(model).where(model.bot_id == bot)
            counted += int(await admin_db.scalar(q) or 0)
        await admin_db.commit()
        return counted

    await apoll(lambda: _eventually(left, 0), timeout_s=15, what="the bot's rows removed")
    assert await admin_db.get(ScheduleRow, created.id) is None
