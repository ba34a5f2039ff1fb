"""command-service in workspaces (#17 slice C), on real PostgreSQL, NATS and bot-service, with
hand-built `bc-access` headers (no gateway, no auth-service): the migration keeps every row
in its owner's personal workspace; 403 naming the permission vs 404 for another workspace;
a command uses only its bot's workspace's prompts and connections; one audit record per
change, never a secret; the workspace purge is idempotent."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from sqlalchemy.engine import make_url

import command_service
from proto import commands as C
from proto import headers as H
from proto.access import BUILTIN_ROLES, Access, Grant
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.registry import RpcSpec
from proto.system import PurgeWorkspace, workspace_purge_spec
from services.audit import client_header
from services.bus.rpc import RpcClient
from services.db.bootstrap import bootstrap
from services.db.engine import plain_url
from services.db.migrate import upgrade
from services.errors import RpcError
from tests.fixtures.infra import apoll
from tests.integration.commands.conftest import Events, collecting
from tests.integration.test_schema_matches_models import fresh_database

MIGRATIONS = Path(command_service.__file__).parent / "migrations"

__all__ = ["fresh_database"]


# ---- migration ------------------------------------------------------------------------------


async def test_rows_at_0003_move_into_their_owners_personal_workspace(
    infra: Any, fresh_database: str
) -> None:
    await bootstrap(fresh_database, ["command"], infra.role_password)
    await upgrade(fresh_database, "command", MIGRATIONS, "0003")
    alice, bob, bot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    prompt, conn, cmd = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    admin = await asyncpg.connect(plain_url(fresh_database))
    try:
        await admin.execute(
            "insert into command.prompts (id, owner_id, name, spec) values ($1, $2, 'p', '{}')",
            prompt,
            alice,
        )
        # Bob may have a prompt of the same name: names were unique per owner, now per
        # workspace.
        await admin.execute(
            "insert into command.prompts (id, owner_id, name, spec) values ($1, $2, 'p', '{}')",
            uuid.uuid4(),
            bob,
        )
        await admin.execute(
            "insert into command.connections (id, owner_id, name, spec, secret_enc) "
            "values ($1, $2, 'c', '{}', '\\x01')",
            conn,
            alice,
        )
        await admin.execute(
            "insert into command.commands (id, owner_id, bot_id, kind, name, spec, "
            "connection_id, prompt_id) values ($1, $2, $3, 'slash', 'ask', '{}', $4, $5)",
            cmd,
            alice,
            bot,
            conn,
            prompt,
        )
        await admin.execute(
            "insert into command.bot_settings (bot_id, owner_id, prefix) values ($1, $2, '?')",
            bot,
            alice,
        )
        await upgrade(fresh_database, "command", MIGRATIONS)
        rows = {
            table: [tuple(r) for r in await admin.fetch(f"select {cols} from command.{table}")]
            for table, cols in (
                ("prompts", "id, workspace_id, name"),
                ("connections", "id, workspace_id, secret_enc"),
                ("commands", "id, workspace_id, bot_id, connection_id, prompt_id"),
                ("bot_settings", "bot_id, workspace_id, prefix"),
            )
        }
    finally:
        await admin.close()
    assert (prompt, alice, "p") in rows["prompts"]
    assert len(rows["prompts"]) == 2
    assert rows["connections"] == [(conn, alice, b"\x01")]
    assert rows["commands"] == [(cmd, alice, bot, conn, prompt)]
    assert rows["bot_settings"] == [(bot, alice, "?")]

    # As the service's role: rows are visible to members of their workspace only.
    url = make_url(fresh_database).set(username="bc_command", password=infra.role_password)
    conn_ = await asyncpg.connect(plain_url(url.render_as_string(hide_password=False)))
    try:
        for ws, expected in ((alice, 1), (bob, 1), (uuid.uuid4(), 0)):
            async with conn_.transaction():
                await conn_.execute("select set_config('app.ws', $1, true)", "{" + str(ws) + "}")
                await conn_.execute(
                    "select set_config('app.ws_all_bots', $1, true)", "{" + str(ws) + "}"
                )
                assert len(await conn_.fetch("select id from prompts")) == expected
                assert len(await conn_.fetch("select id from commands")) == (
                    expected if ws == alice else 0
                )
    finally:
        await conn_.close()


# ---- over NATS, with hand-built access ------------------------------------------------------


def grant(workspace: uuid.UUID, role: str, bots: list[uuid.UUID] | None = None) -> Grant:
    return Grant(
        workspace_id=workspace,
        role=role,
        permissions=BUILTIN_ROLES[role].mask,
        bot_ids=bots or [],
    )


def member(user: uuid.UUID, *grants: Grant) -> Access:
    return Access(user_id=user, grants=[grant(user, "owner"), *grants])


class As:
    """Calls command-service as a member with the given access, like the gateway will."""

    def __init__(self, nc: NATS, access: Access) -> None:
        self.client = RpcClient(nc, "gateway", timeout_s=20.0)
        self.access = access

    async def __call__(self, spec: RpcSpec[Any, Any], req: Any) -> Any:
        return await self.client.call(spec, req, access=self.access)

    async def error(self, spec: RpcSpec[Any, Any], req: Any) -> RpcError:
        with pytest.raises(RpcError) as info:
            await self(spec, req)
        return info.value


def forbidden(err: RpcError, permission: str) -> None:
    assert err.code is ErrorCode.FORBIDDEN, err
    assert err.details[MISSING_PERMISSION] == permission


def not_found(err: RpcError) -> None:
    assert err.code is ErrorCode.NOT_FOUND, err


class Audit:
    """The audit records command-service publishes on `aud.*.command`."""

    def __init__(self, events: Events) -> None:
        self.events = events

    @property
    def records(self) -> list[dict[str, Any]]:
        return [record for _, record in self.events.items]

    def of(self, target_id: Any) -> list[dict[str, Any]]:
        return [r for r in self.records if r["target_id"] == str(target_id)]

    async def wait(self, target_id: Any, n: int) -> list[dict[str, Any]]:
        await apoll(lambda: len(self.of(target_id)) >= n, timeout_s=10)
        return self.of(target_id)


@pytest.fixture
async def audit(nc: NATS) -> AsyncIterator[Audit]:
    async with collecting(nc, "aud.*.command") as events:
        yield Audit(events)


def _prompt(name: str, workspace: uuid.UUID | None = None) -> C.CreatePrompt:
    return C.CreatePrompt(name=name, user="{{ options.q }}", model="m", workspace_id=workspace)


def _conn(name: str, workspace: uuid.UUID | None = None, **extra: Any) -> C.CreateConnection:
    return C.CreateConnection(
        name=name, base_url="https://api.example.com", workspace_id=workspace, **extra
    )


async def test_prompts_and_connections_in_a_team_workspace(
    nc: NATS, command_service: Any, audit: Audit
) -> None:
    team = uuid.uuid4()
    owner = As(nc, member(uuid.uuid4(), grant(team, "owner")))
    dev = As(nc, member(uuid.uuid4(), grant(team, "developer")))
    viewer = As(nc, member(uuid.uuid4(), grant(team, "viewer")))
    outsider = As(nc, member(uuid.uuid4()))

    shared = await owner(C.PROMPT_CREATE, _prompt("greeting", team))
    mine = await owner(C.PROMPT_CREATE, _prompt("greeting"))  # same name, personal: fine
    assert (shared.workspace_id, mine.workspace_id) == (team, owner.access.user_id)
    both = await owner(C.PROMPT_LIST, C.WorkspaceFilter())
    assert {p.id for p in both.items} >= {shared.id, mine.id}
    only_team = await owner(C.PROMPT_LIST, C.WorkspaceFilter(workspace_id=team))
    assert [(p.id, p.workspace_id) for p in only_team.items] == [(shared.id, team)]
    assert [p.id for p in (await viewer(C.PROMPT_LIST, C.WorkspaceFilter())).items] == [shared.id]
    not_found(await outsider.error(C.PROMPT_LIST, C.WorkspaceFilter(workspace_id=team)))

    # a developer edits prompts; a viewer reads them; an outsider does not see them at all
    patch = C.UpdatePrompt(prompt_id=shared.id, patch=C.PromptPatch(model="m2"))
    assert (await dev(C.PROMPT_UPDATE, patch)).model == "m2"
    assert (await viewer(C.PROMPT_GET, C.PromptRef(prompt_id=shared.id))).model == "m2"
    forbidden(await viewer.error(C.PROMPT_UPDATE, patch), "prompts.edit")
    forbidden(await viewer.error(C.PROMPT_CREATE, _prompt("x", team)), "prompts.edit")
    forbidden(await viewer.error(C.PROMPT_DELETE, C.PromptRef(prompt_id=shared.id)), "prompts.edit")
    not_found(await outsider.error(C.PROMPT_GET, C.PromptRef(prompt_id=shared.id)))
    not_found(await outsider.error(C.PROMPT_UPDATE, patch))
    not_found(await outsider.error(C.PROMPT_CREATE, _prompt("x", team)))
    dup = await dev.error(C.PROMPT_CREATE, _prompt("greeting", team))
    assert dup.code is ErrorCode.VALIDATION
    assert "already exists" in dup.fields[0].message

    # connections: a developer edits them but sets no secret (connections.secrets)
    conn = await dev(C.CONNECTION_CREATE, _conn("api", team))
    assert conn.workspace_id == team
    secret = "sk-canary-0123456789abcdef"
    forbidden(
        await dev.error(
            C.CONNECTION_CREATE,
            _conn("api2", team, auth_type="bearer", secret=secret),
        ),
        "connections.secrets",
    )
    set_secret = C.UpdateConnection(
        connection_id=conn.id,
        patch=C.ConnectionPatch(auth_type="bearer", secret=secret),
    )
    forbidden(await dev.error(C.CONNECTION_UPDATE, set_secret), "connections.secrets")
    assert (await owner(C.CONNECTION_UPDATE, set_secret)).secret_set
    rotated = "sk-canary-rotated-9876543210"
    rotate = C.UpdateConnection(connection_id=conn.id, patch=C.ConnectionPatch(secret=rotated))
    forbidden(await dev.error(C.CONNECTION_UPDATE, rotate), "connections.secrets")
    assert (await owner(C.CONNECTION_UPDATE, rotate)).secret_hint == "…" + rotated[-4:]
    moved = C.UpdateConnection(
        connection_id=conn.id, patch=C.ConnectionPatch(base_url="https://api2.example.com")
    )
    assert (await dev(C.CONNECTION_UPDATE, moved)).base_url == "https://api2.example.com"
    forbidden(
        await viewer.error(C.CONNECTION_TEST, C.ConnectionRef(connection_id=conn.id)),
        "connections.edit",
    )
    not_found(await outsider.error(C.CONNECTION_GET, C.ConnectionRef(connection_id=conn.id)))

    # one record per change, in the team's chain, with who did it; refusals wrote none
    await dev(C.PROMPT_DELETE, C.PromptRef(prompt_id=shared.id))
    prompt_records = await audit.wait(shared.id, 3)
    assert [(r["action"], r["workspace_id"], r["actor_user_id"]) for r in prompt_records] == [
        ("prompt.create", str(team), str(owner.access.user_id)),
        ("prompt.update", str(team), str(dev.access.user_id)),
        ("prompt.delete", str(team), str(dev.access.user_id)),
    ]
    assert prompt_records[1]["changes"] == {"model": {"old": "m", "new": "m2"}}
    conn_records = await audit.wait(conn.id, 4)
    assert [r["action"] for r in conn_records] == [
        "connection.create",
        "connection.update",
        "connection.secret_set",
        "connection.update",
    ]
    assert conn_records[1]["changes"] == {
        "auth_type": {"old": "none", "new": "bearer"},
        "secret": {"changed": True},
    }
    assert conn_records[2]["changes"] == {"secret": {"changed": True}}
    assert conn_records[3]["changes"] == {
        "base_url": {"old": "https://api.example.com", "new": "https://api2.example.com"}
    }
    published = json.dumps(audit.records)
    assert secret not in published
    assert rotated not in published
    assert [r["workspace_id"] for r in audit.of(mine.id)] == [str(owner.access.user_id)]
    # each record's id is its message's (JetStream de-duplication, the gateway's bc-audit)
    assert [r["id"] for r in audit.records] == [h[H.MSG_ID] for h in audit.events.headers]


async def test_a_record_names_the_client_and_the_request(
    nc: NATS, command_service: Any, audit: Audit
) -> None:
    """What the gateway saw of the person (`bc-client`) and the request id reach the record;
    a user agent longer than a record holds is cut, never a refused change."""
    agent = "agent/" + "x" * 600
    headers = {H.CLIENT: client_header("203.0.113.7", agent), H.REQUEST_ID: "req-audited-1"}
    client = RpcClient(nc, "gateway", timeout_s=20.0)
    access = member(uuid.uuid4())
    prompt = await client.call(C.PROMPT_CREATE, _prompt("traced"), access=access, headers=headers)
    [record] = await audit.wait(prompt.id, 1)
    assert record["actor_user_id"] == str(access.user_id)
    assert record["ip"] == "203.0.113.7"
    assert record["user_agent"] == agent[:512]
    assert record["request_id"] == "req-audited-1"


async def test_commands_need_bots_view_to_read_and_commands_edit_to_change(
    nc: NATS, owned_bot: Any, audit: Audit
) -> None:
    bot, owner_id = owned_bot.bot_id, owned_bot.owner

    # The bot is in its owner's personal workspace (bot-service has no team bots yet), so
    # the owner's own access is narrowed to a role there.
    def as_role(role: str, bots: list[uuid.UUID] | None = None) -> As:
        return As(nc, Access(user_id=owner_id, grants=[grant(owner_id, role, bots)]))

    owner, viewer = as_role("owner"), as_role("viewer")
    spec = C.CommandIn.model_validate(
        {"name": "ping", "description": "d", "response": {"type": "template", "content": "ok"}}
    )
    created = await owner(C.CREATE, C.CreateCommand(bot_id=bot, command=spec))
    ref = C.BotCommandRef(bot_id=bot)
    assert [c.id for c in (await viewer(C.LIST, ref)).items] == [created.id]
    forbidden(
        await viewer.error(C.CREATE, C.CreateCommand(bot_id=bot, command=spec)), "commands.edit"
    )
    patch = C.UpdateCommand(
        bot_id=bot, command_id=created.id, patch=C.CommandPatch(description="new")
    )
    forbidden(await viewer.error(C.UPDATE, patch), "commands.edit")
    forbidden(
        await viewer.error(C.DELETE, C.CommandRef(bot_id=bot, command_id=created.id)),
        "commands.edit",
    )
    settings = C.BotCommandSettings(bot_id=bot, settings=C.CommandSettings(prefix="?"))
    forbidden(await viewer.error(C.SETTINGS_PUT, settings), "commands.edit")
    forbidden(
        await viewer.error(C.PREVIEW, C.PreviewCommand(bot_id=bot, command=spec)),
        "commands.edit",
    )
    forbidden(
        await viewer.error(C.TEST, C.TestCommand(bot_id=bot, command_id=created.id)),
        "commands.edit",
    )
    assert (await viewer(C.SETTINGS_GET, ref)).prefix == "!"

    # a member limited to other bots, and someone of another workspace, do not see it
    limited = as_role("owner", [uuid.uuid4()])
    not_found(await limited.error(C.LIST, ref))
    not_found(await limited.error(C.CREATE, C.CreateCommand(bot_id=bot, command=spec)))
    stranger = As(nc, member(uuid.uuid4()))
    not_found(await stranger.error(C.LIST, ref))

    assert (await owner(C.UPDATE, patch)).description == "new"
    assert (await owner(C.SETTINGS_PUT, settings)).prefix == "?"
    await owner(C.DELETE, C.CommandRef(bot_id=bot, command_id=created.id))
    records = await audit.wait(created.id, 3)
    assert [r["action"] for r in records] == ["command.create", "command.update", "command.delete"]
    assert all(r["workspace_id"] == str(owner_id) for r in records)
    assert records[1]["changes"] == {"description": {"old": "d", "new": "new"}}
    (prefix,) = await audit.wait(bot, 1)
    assert prefix["action"] == "command.settings_update"
    assert prefix["changes"] == {"prefix": {"old": "!", "new": "?"}}


async def test_a_command_uses_only_its_bots_workspace(nc: NATS, owned_bot: Any) -> None:
    bot, owner_id = owned_bot.bot_id, owned_bot.owner
    team = uuid.uuid4()
    both = As(nc, member(owner_id, grant(team, "owner")))
    foreign_prompt = await both(C.PROMPT_CREATE, _prompt("team-prompt", team))
    foreign_conn = await both(C.CONNECTION_CREATE, _conn("team-api", team))
    own_conn = await both(C.CONNECTION_CREATE, _conn("own-api"))

    def ask(prompt_id: uuid.UUID, connection_id: uuid.UUID) -> C.CreateCommand:
        return C.CreateCommand(
            bot_id=bot,
            command=C.CommandIn.model_validate(
                {
                    "name": "ask",
                    "description": "d",
                    "response": {
                        "type": "ai",
                        "connection_id": str(connection_id),
                        "prompt_id": str(prompt_id),
                    },
                }
            ),
        )

    err = await both.error(C.CREATE, ask(foreign_prompt.id, own_conn.id))
    assert err.code is ErrorCode.VALIDATION
    assert {tuple(f.loc): f.message for f in err.fields} == {
        ("body", "response", "prompt_id"): "the prompt is not in the bot's workspace"
    }
    err = await both.error(C.CREATE, ask(foreign_prompt.id, foreign_conn.id))
    assert {tuple(f.loc) for f in err.fields} == {
        ("body", "response", "prompt_id"),
        ("body", "response", "connection_id"),
    }
    assert (await both(C.LIST, C.BotCommandRef(bot_id=bot))).items == []


async def test_workspace_purge_is_idempotent_and_keeps_other_workspaces(
    nc: NATS, command_service: Any
) -> None:
    team = uuid.uuid4()
    owner = As(nc, member(uuid.uuid4(), grant(team, "owner")))
    await owner(C.PROMPT_CREATE, _prompt("p", team))
    await owner(C.CONNECTION_CREATE, _conn("c", team))
    kept = await owner(C.PROMPT_CREATE, _prompt("p"))

    auth = RpcClient(nc, "auth", timeout_s=20.0)
    spec = workspace_purge_spec("command")
    first = await auth.call(spec, PurgeWorkspace(workspace_id=team))
    assert (first.service, first.removed) == ("command", 2)
    again = await auth.call(spec, PurgeWorkspace(workspace_id=team))
    assert again.removed == 0
    assert (await owner(C.PROMPT_LIST, C.WorkspaceFilter(workspace_id=team))).items == []
    assert (await owner(C.CONNECTION_LIST, C.WorkspaceFilter(workspace_id=team))).items == []
    assert [p.id for p in (await owner(C.PROMPT_LIST, C.WorkspaceFilter())).items] == [kept.id]
