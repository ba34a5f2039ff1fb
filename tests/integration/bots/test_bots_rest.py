"""The REST routes of the bots area, in-process FastAPI over real NATS to a real
bot-service. The signed-in user is stubbed at the `current_user` dependency only, with the
access `authenticate` would send (a personal token's narrowed by its scopes); bot-service
checks the permissions (the full sign-in path is in test_bots_gateway.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from gateway.access import effective_access, token_restriction
from gateway.auth import SESSION_SCOPES, Principal, current_user, expand_scopes
from gateway.deps import get_bus
from gateway.errors import install_error_handlers
from gateway.routes import bots as routes
from proto.access import ALL_PERMISSIONS_MASK, AccessSnapshot, WorkspaceGrant
from services.access import access_var
from services.bus.rpc import RpcClient
from services.devstack.stack import ServiceProcess
from tests.fixtures.sandbox import SandboxControl


def session_of(user_id: uuid.UUID) -> Principal:
    return Principal(user_id=user_id, kind="session", scopes=SESSION_SCOPES)


def api_token_of(user_id: uuid.UUID, *scopes: str) -> Principal:
    token_id = uuid.uuid4()
    owner = AccessSnapshot(
        user_id=user_id,
        version=1,
        grants=[WorkspaceGrant(workspace_id=user_id, role="owner",
                               permissions=ALL_PERMISSIONS_MASK, name="Personal", personal=True)],
    )
    access = effective_access(owner, token_id=token_id, restriction=token_restriction(scopes))
    return Principal(
        user_id=user_id,
        kind="pat",
        scopes=expand_scopes(list(scopes)),
        token_id=token_id,
        access=access,
        access_header=access.encode(),
    )


@dataclass
class Api:
    client: httpx.AsyncClient
    who: dict[str, Principal]

    def act_as(self, principal: Principal) -> None:
        self.who["p"] = principal


@pytest.fixture
async def api(nc: NATS, bot_service: ServiceProcess) -> AsyncIterator[Api]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes.router)
    bus = RpcClient(nc, "gateway", timeout_s=20.0)
    who: dict[str, Principal] = {"p": session_of(uuid.uuid4())}
    app.dependency_overrides[get_bus] = lambda: bus


    async def signed_in() -> Principal:
        # As `authenticate` does: the calls of the request carry the caller's access.
        access_var.set(who["p"].access_header)
        return who["p"]

    app.dependency_overrides[current_user] = signed_in
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield Api(client, who)


async def test_rest_lifecycle_of_a_bot(api: Api, sandbox_control: SandboxControl) -> None:
    app = await sandbox_control.create_application("Rest Bot", privileged_intents=["GUILD_MEMBERS"])
    c = api.client
    created = await c.post(
        "/v1/bots",
        json={"token": app.token, "name": "Mine", "intents": ["GUILDS", "GUILD_MEMBERS"]},
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    assert app.token not in created.text
    assert bot["token_hint"] == "…" + app.token[-4:]
    assert bot["privileged_intents"] == ["GUILD_MEMBERS"]
    assert bot["warnings"] == []  # enabled in the portal
    bot_id = bot["id"]

    listed = await c.get("/v1/bots")
    assert [b["id"] for b in listed.json()["bots"]] == [bot_id]

    started = await c.post(f"/v1/bots/{bot_id}/start")
    assert started.status_code == 202
    assert started.json()["desired_state"] == "running"
    restarted = await c.post(f"/v1/bots/{bot_id}/restart")
    assert restarted.json()["generation"] == bot["generation"] + 1

    patched = await c.patch(f"/v1/bots/{bot_id}", json={"shard_count": 3, "tags": ["prod"]})
    assert patched.status_code == 200
    assert (patched.json()["shard_count"], patched.json()["tags"]) == (3, ["prod"])
    auto = await c.patch(f"/v1/bots/{bot_id}", json={"shard_count": None})
    assert auto.json()["shard_count"] is None
    assert (await c.get("/v1/bots", params={"tag": "prod"})).json()["bots"][0]["id"] == bot_id
    assert (await c.get("/v1/bots", params={"tag": "dev"})).json()["bots"] == []

    bad = await c.patch(f"/v1/bots/{bot_id}", json={"intents": ["GUILDS", "NOT_AN_INTENT"]})
    assert bad.status_code == 422
    assert "NOT_AN_INTENT" in bad.json()["error"]["message"]
    too_long = await c.patch(f"/v1/bots/{bot_id}", json={"name": "x" * 101})
    assert too_long.status_code == 422

    # Another user sees nothing and can change nothing.
    api.act_as(session_of(uuid.uuid4()))
    assert (await c.get(f"/v1/bots/{bot_id}")).status_code == 404
    assert (await c.post(f"/v1/bots/{bot_id}/stop")).status_code == 404
    assert (await c.delete(f"/v1/bots/{bot_id}")).status_code == 404
    dup = await c.post("/v1/bots", json={"token": app.token})
    assert dup.status_code == 409


async def test_rest_errors_are_clear(api: Api, sandbox_control: SandboxControl) -> None:
    c = api.client
    bad = await c.post(
        "/v1/bots", json={"token": "MTIz" + "x" * 30 + ".abcdef.0123456789abcdefghijklmnopqrstu"}
    )
    assert bad.status_code == 422
    assert "Discord rejected this token" in bad.json()["error"]["message"]
    missing = await c.post("/v1/bots", json={})
    assert missing.status_code == 422
    assert (await c.get(f"/v1/bots/{uuid.uuid4()}")).status_code == 404
    assert (await c.get("/v1/bots/not-a-uuid")).status_code == 422

    # A personal API token without bots:write may read but not write: bot-service names
    # the permission its scopes do not give.
    api.act_as(api_token_of(uuid.uuid4(), "bots:read"))
    assert (await c.get("/v1/bots")).status_code == 200
    app = await sandbox_control.create_application("Scoped")
    refused = await c.post("/v1/bots", json={"token": app.token})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["missing_permission"] in ("bots.edit", "bots.token")


async def test_rest_token_replacement_and_delete(api: Api, sandbox_control: SandboxControl) -> None:
    c = api.client
    app = await sandbox_control.create_application("Replace Me")
    bot = (await c.post("/v1/bots", json={"token": app.token, "auto_start": True})).json()
    new_token = await sandbox_control.reset_token(app.application_id)
    replaced = await c.put(f"/v1/bots/{bot['id']}/token", json={"token": new_token})
    assert replaced.status_code == 200
    assert replaced.json()["token_hint"] == "…" + new_token[-4:]
    assert new_token not in replaced.text
    old = await c.put(f"/v1/bots/{bot['id']}/token", json={"token": app.token})
    assert old.status_code == 422  # the old token was reset on Discord
    gone = await c.delete(f"/v1/bots/{bot['id']}")
    assert gone.status_code == 200
    assert gone.json()["bot_id"] == bot["id"]
    assert (await c.get(f"/v1/bots/{bot['id']}")).status_code == 404
