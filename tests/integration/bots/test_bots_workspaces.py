"""bot-service in workspaces (#17): a bot belongs to a workspace; members see it, a
non-member gets 404, a member without the operation's permission 403 naming it; lists,
`rpc.bot.ids.check`, the workspace purge, and one audit record per change on the AUDIT
stream. Callers send hand-built `bc-access` headers, as the gateway will."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import SecretStr
from sqlalchemy.engine import make_url

import bot_service
from bot_service.service import BotService, Caller
from proto import bots as P
from proto import headers as H
from proto.access import ALL_PERMISSIONS_MASK, BUILTIN_ROLES, Access, Grant, permission_mask
from proto.audit import AuditRecord
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.fleet import GET_STATUS
from proto.registry import RpcSpec
from proto.system import PurgeWorkspace, workspace_purge_spec
from services.access import personal_access
from services.audit import audit_subject
from services.bus.events import AUDIT_STREAM
from services.bus.rpc import RpcClient
from services.db.bootstrap import bootstrap
from services.db.engine import Database, plain_url
from services.db.migrate import upgrade
from services.devstack.stack import ServiceProcess
from services.errors import RpcError
from services.outbox import Outbox
from services.settings import with_credentials
from tests.fixtures.infra import apoll
from tests.fixtures.sandbox import SandboxControl
from tests.fixtures.storage import png
from tests.integration.bots.test_bots_api import desired
from tests.integration.test_schema_matches_models import fresh_database

__all__ = ["fresh_database"]

MIGRATIONS = Path(bot_service.__file__).parent / "migrations"
PURGE_WS = workspace_purge_spec("bot")


def member(
    user: uuid.UUID, ws: uuid.UUID, role: str, bot_ids: list[uuid.UUID] | None = None
) -> Access:
    """`user` as a member of `ws` with a built-in role, and owner of their personal one."""
    return Access(
        user_id=user,
        grants=[
            Grant(workspace_id=user, role="owner", permissions=ALL_PERMISSIONS_MASK),
            Grant(
                workspace_id=ws,
                role=role,
                permissions=permission_mask(BUILTIN_ROLES[role].permissions),
                bot_ids=bot_ids or [],
            ),
        ],
    )


class Team:
    """Calls bot-service as a given access (and client), like the gateway."""

    def __init__(self, nc: NATS) -> None:
        self.client = RpcClient(nc, "gateway", timeout_s=15.0)

    async def __call__(self, spec: RpcSpec[Any, Any], req: Any, access: Access) -> Any:
        client = orjson.dumps({"ip": "198.51.100.4", "ua": "pytest"}).decode()
        return await self.client.call(spec, req, access=access, headers={H.CLIENT: client})

    async def refused(self, spec: RpcSpec[Any, Any], req: Any, access: Access) -> RpcError:
        with pytest.raises(RpcError) as err:
            await self(spec, req, access)
        return err.value


@pytest.fixture
def team(nc: NATS, bot_service: ServiceProcess) -> Team:
    return Team(nc)


async def add_bot(
    team: Team, sandbox: SandboxControl, name: str, access: Access, **fields: Any
) -> Any:
    """A new sandbox application added as a bot by `access` (CreateBot's other fields)."""
    token = SecretStr((await sandbox.create_application(name)).token)
    return await team(P.CREATE_BOT, P.CreateBot(token=token, **fields), access)


async def records(nc: NATS, ws: uuid.UUID) -> list[AuditRecord]:
    """Every audit record bot-service published for `ws`, in order."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        audit_subject(ws, "bot"),
        stream=AUDIT_STREAM,
        config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, mem_storage=True
        ),
    )
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        out: list[AuditRecord] = []
        while len(out) < pending:
            for msg in await sub.fetch(pending - len(out), timeout=5):
                out.append(AuditRecord.model_validate_json(msg.data))
        return out
    finally:
        await sub.unsubscribe()


async def records_of(nc: NATS, ws: uuid.UUID, count: int) -> list[AuditRecord]:
    """The workspace's records once there are `count` (the relay publishes after commit)."""
    found: list[AuditRecord] = []

    async def enough() -> bool:
        found[:] = await records(nc, ws)
        return len(found) >= count

    await apoll(enough, timeout_s=10.0, what=f"{count} audit records of {ws}")
    return found


async def test_members_see_a_team_bot_others_get_404_and_each_operation_names_its_permission(
    team: Team, sandbox_control: SandboxControl
) -> None:
    ws, owner_id = uuid.uuid4(), uuid.uuid4()
    owner = member(owner_id, ws, "owner")
    app = await sandbox_control.create_application("Team Bot")
    bot = await team(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token), workspace_id=ws), owner)
    assert bot.workspace_id == ws
    ref = P.BotRef(bot_id=bot.id)

    viewer = member(uuid.uuid4(), ws, "viewer")
    assert (await team(P.READ_BOT, ref, viewer)).id == bot.id
    assert (await team(GET_STATUS, ref, viewer)).bot_id == bot.id
    assert (await team(P.GET_BOT, ref, viewer)).workspace_id == ws
    refused: list[tuple[RpcSpec[Any, Any], Any, str]] = [
        (P.START_BOT, ref, "bots.control"),
        (P.STOP_BOT, ref, "bots.control"),
        (P.RESTART_BOT, ref, "bots.control"),
        (P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, name="renamed"), "bots.edit"),
        (P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(app.token)), "bots.token"),
        (P.DELETE_BOT, ref, "bots.delete"),
    ]
    for spec, req, permission in refused:
        err = await team.refused(spec, req, viewer)
        assert err.code is ErrorCode.FORBIDDEN, spec.subject
        assert err.details == {MISSING_PERMISSION: permission}, spec.subject
        assert permission in err.message
    other_app = await sandbox_control.create_application("Not Added")
    err = await team.refused(
        P.CREATE_BOT, P.CreateBot(token=SecretStr(other_app.token), workspace_id=ws), viewer
    )
    assert (err.code, err.details) == (ErrorCode.FORBIDDEN, {MISSING_PERMISSION: "bots.edit"})

    # Not a member, or a member limited to another bot: the bot does not exist for them.
    outsider = member(uuid.uuid4(), uuid.uuid4(), "owner")
    limited = member(uuid.uuid4(), ws, "operator", bot_ids=[uuid.uuid4()])
    hidden: list[tuple[RpcSpec[Any, Any], Any]] = [
        (P.READ_BOT, ref),
        (P.GET_BOT, ref),
        (GET_STATUS, ref),
        (P.START_BOT, ref),
        (P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, name="x")),
        (P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(app.token))),
        (P.DELETE_BOT, ref),
    ]
    for caller in (outsider, limited):
        for spec, req in hidden:
            assert (await team.refused(spec, req, caller)).code is ErrorCode.NOT_FOUND
    err = await team.refused(
        P.CREATE_BOT, P.CreateBot(token=SecretStr(other_app.token), workspace_id=ws), outsider
    )
    assert err.code is ErrorCode.NOT_FOUND
    err = await team.refused(
        P.CREATE_BOT, P.CreateBot(token=SecretStr(other_app.token), workspace_id=ws), limited
    )
    assert err.code is ErrorCode.FORBIDDEN

    # An operator controls it; nothing anyone was refused changed the bot.
    operator = member(uuid.uuid4(), ws, "operator")
    assert (await team(P.START_BOT, ref, operator)).desired_state == "running"
    after = await team(P.STOP_BOT, ref, operator)
    assert (after.name, after.generation, after.token_hint) == (
        bot.name,
        bot.generation,
        bot.token_hint,
    )


async def test_list_shows_every_workspace_the_caller_may_view_and_narrows_by_workspace(
    team: Team, sandbox_control: SandboxControl
) -> None:
    ws, user = uuid.uuid4(), uuid.uuid4()
    me = member(user, ws, "owner")
    mine = await add_bot(team, sandbox_control, "Mine", me)
    shared = await add_bot(team, sandbox_control, "Shared", me, workspace_id=ws)
    assert mine.workspace_id == user  # default: the personal workspace

    listed = await team(P.LIST_BOTS, P.ListBots(), me)
    assert [(b.id, b.workspace_id) for b in listed.bots] == [(mine.id, user), (shared.id, ws)]
    narrowed = await team(P.LIST_BOTS, P.ListBots(workspace_id=ws), me)
    assert [b.id for b in narrowed.bots] == [shared.id]

    # A member without bots.view lists nothing there; a workspace one is not in is 404.
    blind = Access(
        user_id=uuid.uuid4(),
        grants=[Grant(workspace_id=ws, role=str(uuid.uuid4()), permissions=0)],
    )
    assert (await team(P.LIST_BOTS, P.ListBots(), blind)).bots == []
    err = await team.refused(P.LIST_BOTS, P.ListBots(workspace_id=uuid.uuid4()), me)
    assert err.code is ErrorCode.NOT_FOUND
    assert (await team(P.LIST_BOTS, P.ListBots(), member(uuid.uuid4(), ws, "viewer"))).bots[
        0
    ].id == shared.id

    # rpc.bot.ids.check: which ids are not bots of the workspace, for its members only.
    stranger = uuid.uuid4()
    checked = await team(
        P.CHECK_BOT_IDS,
        P.CheckBotIds(workspace_id=ws, bot_ids=[stranger, shared.id, mine.id]),
        member(uuid.uuid4(), ws, "viewer", bot_ids=[uuid.uuid4()]),
    )
    assert checked.unknown == [stranger, mine.id]
    err = await team.refused(
        P.CHECK_BOT_IDS,
        P.CheckBotIds(workspace_id=ws, bot_ids=[shared.id]),
        personal_access(user),
    )
    assert err.code is ErrorCode.NOT_FOUND


async def test_every_change_writes_one_audit_record_without_the_token(
    team: Team, nc: NATS, sandbox_control: SandboxControl
) -> None:
    ws, user = uuid.uuid4(), uuid.uuid4()
    owner = member(user, ws, "owner")
    app = await sandbox_control.create_application("Audited")
    bot = await team(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token), workspace_id=ws), owner)
    ref = P.BotRef(bot_id=bot.id)
    await team(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, name="Audited 2", tags=["x"]), owner)
    # Refused and no-op changes record nothing.
    await team.refused(P.START_BOT, ref, member(uuid.uuid4(), ws, "viewer"))
    await team(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, name="Audited 2"), owner)
    await team(P.START_BOT, ref, owner)
    await team(P.RESTART_BOT, ref, owner)
    await team(P.STOP_BOT, ref, owner)
    await team(P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(app.token)), owner)
    await team(P.DELETE_BOT, ref, owner)

    actions = [
        "bot.create",
        "bot.update",
        "bot.start",
        "bot.restart",
        "bot.stop",
        "bot.token_replace",
        "bot.delete",
    ]
    found = await records_of(nc, ws, len(actions))
    assert [r.action for r in found] == actions
    assert all(
        (r.workspace_id, r.actor_user_id, r.target_type, r.target_id)
        == (ws, user, "bot", str(bot.id))
        for r in found
    )
    assert all((r.ip, r.user_agent) == ("198.51.100.4", "pytest") for r in found)
    by_action = {r.action: r.changes for r in found}
    assert by_action["bot.update"] == {
        "name": {"old": bot.name, "new": "Audited 2"},
        "tags": {"old": [], "new": ["x"]},
    }
    assert by_action["bot.start"] == {"running": {"old": False, "new": True}}
    assert by_action["bot.token_replace"] == {"token": {"changed": True}}
    assert by_action["bot.delete"]["name"] == {"old": "Audited 2", "new": None}
    assert app.token not in orjson.dumps([r.model_dump(mode="json") for r in found]).decode()
    assert len({r.id for r in found}) == len(found)


async def test_workspace_purge_stops_and_removes_its_bots_only_and_is_idempotent(
    team: Team, nc: NATS, sandbox_control: SandboxControl
) -> None:
    ws, user = uuid.uuid4(), uuid.uuid4()
    owner = member(user, ws, "owner")
    running = await add_bot(
        team, sandbox_control, "Doomed 1", owner, workspace_id=ws, auto_start=True
    )
    idle = await add_bot(team, sandbox_control, "Doomed 2", owner, workspace_id=ws)
    kept = await add_bot(team, sandbox_control, "Kept", owner)
    client = RpcClient(nc, "auth", timeout_s=30.0)
    first = await client.call(PURGE_WS, PurgeWorkspace(workspace_id=ws))
    assert (first.service, first.removed) == ("bot", 2)
    assert await desired(nc, running.id) is None
    assert await desired(nc, idle.id) is None
    assert (await client.call(PURGE_WS, PurgeWorkspace(workspace_id=ws))).removed == 0
    assert [b.id for b in (await team(P.LIST_BOTS, P.ListBots(), owner)).bots] == [kept.id]
    assert (await desired(nc, kept.id)) is not None
    found = await records_of(nc, ws, 4)
    assert [r.action for r in found][-2:] == ["bot.delete", "bot.delete"]
    assert {r.actor_user_id for r in found[-2:]} == {None}  # system work, no person


async def test_migration_moves_every_bot_into_its_owners_personal_workspace(
    infra: Any, fresh_database: str
) -> None:
    await bootstrap(fresh_database, ["bot"], infra.role_password)
    await upgrade(fresh_database, "bot", MIGRATIONS, "0004")
    owners = [uuid.uuid4(), uuid.uuid4()]
    bots = [uuid.uuid4(), uuid.uuid4()]
    admin = await asyncpg.connect(plain_url(fresh_database))
    try:
        for i, (bot_id, owner_id) in enumerate(zip(bots, owners, strict=True)):
            await admin.execute(
                "insert into bot.bots (id, owner_id, name, intents, presence, token_enc, "
                "token_last4, application_id, discord_user_id, username, running) "
                "values ($1, $2, $3, 1, '{}', '\\x00', 'abcd', $4, $5, 'u', $6)",
                bot_id,
                owner_id,
                f"bot {i}",
                f"app{i}",
                f"user{i}",
                i == 0,
            )
        await upgrade(fresh_database, "bot", MIGRATIONS)
        rows = await admin.fetch(
            "select id, workspace_id, created_by, name, running from bot.bots order by name"
        )
    finally:
        await admin.close()
    assert [tuple(r) for r in rows] == [
        (bots[0], owners[0], owners[0], "bot 0", True),
        (bots[1], owners[1], owners[1], "bot 1", False),
    ]

    # As the service's role: the personal workspace's member sees their bot, nobody else's.
    url = make_url(fresh_database).set(username="bc_bot", password=infra.role_password)
    conn = await asyncpg.connect(plain_url(url.render_as_string(hide_password=False)))
    try:
        async with conn.transaction():
            assert await conn.fetch("select id from bot.bots") == []
            await conn.execute("select set_config('app.ws', $1, true)", "{" + str(owners[0]) + "}")
            await conn.execute(
                "select set_config('app.ws_all_bots', $1, true)", "{" + str(owners[0]) + "}"
            )
            assert [r["id"] for r in await conn.fetch("select id from bot.bots")] == [bots[0]]
    finally:
        await conn.close()


async def test_applying_an_avatar_needs_bots_edit_and_is_recorded(
    team: Team, nc: NATS, sandbox_control: SandboxControl
) -> None:
    ws, user = uuid.uuid4(), uuid.uuid4()
    owner = member(user, ws, "owner")
    bot = await add_bot(team, sandbox_control, "Face", owner, workspace_id=ws)
    req = P.ApplyAvatar(bot_id=bot.id, content_type="image/png")
    image = png(64, 64)
    with pytest.raises(RpcError) as err:
        await team.client.call_raw(
            P.APPLY_AVATAR, req, body=image, access=member(uuid.uuid4(), ws, "operator")
        )
    assert (err.value.code, err.value.details) == (
        ErrorCode.FORBIDDEN,
        {MISSING_PERMISSION: "bots.edit"},
    )
    # The bot is not running: the fleet sets it through Discord's REST API.
    applied, _ = await team.client.call_raw(P.APPLY_AVATAR, req, body=image, access=owner)
    assert applied.avatar_hash
    # The same image again changes nothing and records nothing.
    again, _ = await team.client.call_raw(P.APPLY_AVATAR, req, body=image, access=owner)
    assert again.unchanged
    found = await records_of(nc, ws, 2)
    assert [r.action for r in found] == ["bot.create", "bot.avatar_apply"]
    assert found[1].changes == {"avatar": {"old": None, "new": applied.avatar_hash}}
    assert found[1].actor_user_id == user


async def test_a_change_rolled_back_publishes_no_record(
    team: Team, nc: NATS, infra: Any, sandbox_control: SandboxControl
) -> None:
    ws, user = uuid.uuid4(), uuid.uuid4()
    owner = member(user, ws, "owner")
    bot = await add_bot(team, sandbox_control, "Undone", owner, workspace_id=ws)
    assert infra.database_url
    db = Database(with_credentials(infra.database_url, "bc_bot", infra.role_password))
    # The service layer as bot-service wires it (no token is checked by an update).
    bots = BotService(None, None, max_bots_per_user=10, outbox=Outbox("bot"))  # type: ignore[arg-type]

    async def update_then_fail() -> None:
        async with db.access_scope(owner) as session:
            change = await bots.update(
                session, Caller(owner), P.UpdateBot(bot_id=bot.id, name="Never")
            )
            assert change.fields == ["name"]
            raise RuntimeError("fails after the record was written")

    try:
        with pytest.raises(RuntimeError, match="after the record"):
            await update_then_fail()
    finally:
        await db.dispose()
    await team(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, name="Kept"), owner)
    found = await records_of(nc, ws, 2)
    assert [(r.action, r.changes["name"]["new"]) for r in found] == [
        ("bot.create", "Undone"),
        ("bot.update", "Kept"),
    ]
    assert (await team(P.READ_BOT, P.BotRef(bot_id=bot.id), owner)).name == "Kept"
