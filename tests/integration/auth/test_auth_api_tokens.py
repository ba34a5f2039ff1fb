"""Personal API tokens: shown once, scoped, last use tracked, revocation reaches every
gateway replica within seconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from proto.auth import CHECK_API_TOKEN, TOKENS_CREATE, CheckApiToken, CreateApiToken
from proto.errors import ErrorCode
from proto.workspaces import WORKSPACE_CREATE, CreateWorkspace
from services.bus.rpc import RpcClient
from services.errors import RpcError
from tests.fixtures.auth import SignedIn, sign_in
from tests.fixtures.infra import apoll


async def _create(api: httpx.AsyncClient, **body) -> httpx.Response:
    return await api.post("/v1/me/tokens", json={"name": "ci", "scopes": ["bots:read"], **body})


async def test_create_list_use_and_scopes(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        created = await _create(api, name="deploy", scopes=["bots:write", "logs:read"])
        assert created.status_code == 201, created.text
        secret = created.json()["token"]
        info = created.json()["info"]
        assert secret.startswith("bcp_")
        assert info["last4"] == secret[-4:]
        listed = (await api.get("/v1/me/tokens")).json()["tokens"]
        assert [t["name"] for t in listed] == ["deploy"]
        assert secret not in str(listed)
        assert listed[0]["last_used_at"] is None

    pat = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=pat) as script:
        me = await script.get("/v1/me")
        assert me.status_code == 200
        assert me.json()["id"] == str(alice.user_id)
        # Account and token management need a real session, not a token.
        forbidden = await script.get("/v1/me/tokens")
        assert forbidden.status_code == 403
        assert "lacks the 'account' scope" in forbidden.json()["error"]["message"]
        assert (await script.delete("/v1/me")).status_code == 403
        assert (await script.post("/v1/auth/logout-all")).status_code == 403

    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        listed = (await api.get("/v1/me/tokens")).json()["tokens"]
        assert listed[0]["last_used_at"] is not None


async def test_invalid_token_requests_are_422(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        unknown = await _create(api, scopes=["bots:read", "root"])
        assert unknown.status_code == 422
        assert "root" in unknown.json()["error"]["fields"][0]["message"]
        assert (await _create(api, scopes=[])).status_code == 422
        assert (await _create(api, name="")).status_code == 422


async def test_revocation_reaches_every_gateway_replica(stack, sandbox) -> None:
    second = stack.extra_gateway()
    try:
        alice = await sign_in(stack.url, sandbox)
        async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
            created = (await _create(api)).json()
        pat = {"Authorization": f"Bearer {created['token']}"}
        async with (
            httpx.AsyncClient(base_url=stack.url, headers=pat) as one,
            httpx.AsyncClient(base_url=second.url, headers=pat) as two,
        ):
            # Both replicas have the token cached now.
            assert (await one.get("/v1/me")).status_code == 200
            assert (await two.get("/v1/me")).status_code == 200
            async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
                revoked = await api.delete(f"/v1/me/tokens/{created['info']['id']}")
                assert revoked.status_code == 204
                again = await api.delete(f"/v1/me/tokens/{created['info']['id']}")
                assert again.status_code == 404

            async def refused() -> bool:
                return (await two.get("/v1/me")).status_code == 401

            await apoll(refused, timeout_s=5, what="revoked token refused by the other replica")
            assert (await one.get("/v1/me")).status_code == 401
    finally:
        second.stop()


async def test_unknown_personal_token_is_401(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        response = await api.get("/v1/me", headers={"Authorization": "Bearer bcp_nope"})
    assert response.status_code == 401


async def test_settings_need_their_own_scopes(stack, sandbox) -> None:
    """A personal token reads settings only with `settings:read` and replaces them only with
    `settings:write` (which implies read); a session holds both."""
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        stored = {"settings": {"theme": "dark"}}
        assert (await api.put("/v1/me/settings", json=stored)).status_code == 200
        secrets = {}
        for scopes in (["bots:read", "logs:read"], ["settings:read"], ["settings:write"]):
            created = await _create(api, name="+".join(scopes), scopes=scopes)
            assert created.status_code == 201, created.text
            secrets[scopes[0]] = {"Authorization": f"Bearer {created.json()['token']}"}

    async with httpx.AsyncClient(base_url=stack.url) as script:
        other = secrets["bots:read"]
        for r in (
            await script.get("/v1/me/settings", headers=other),
            await script.put("/v1/me/settings", json=stored, headers=other),
        ):
            assert r.status_code == 403, r.text
            assert "settings:" in r.json()["error"]["message"]
        reader = secrets["settings:read"]
        assert (await script.get("/v1/me/settings", headers=reader)).json() == stored
        refused = await script.put("/v1/me/settings", json=stored, headers=reader)
        assert refused.status_code == 403
        assert "'settings:write'" in refused.json()["error"]["message"]
        writer = secrets["settings:write"]
        changed = {"settings": {"theme": "light"}}
        written = await script.put("/v1/me/settings", json=changed, headers=writer)
        assert written.status_code == 200, written.text
        assert (await script.get("/v1/me/settings", headers=writer)).json() == changed


async def test_a_token_limited_to_a_workspace_and_permissions(stack, sandbox, nc) -> None:
    """#17: `workspace_id?` (a member's only: 404 otherwise) and `permissions?` (known
    names only: 422 naming each) are kept with the token and come back with its check;
    `expires_in_days` defaults to 90 and may not exceed 365; older tokens keep None."""
    client = RpcClient(nc, "gateway", timeout_s=15.0)
    alice, bob = await sign_in(stack.url, sandbox), await sign_in(stack.url, sandbox)
    team = await client.call(WORKSPACE_CREATE, CreateWorkspace(name="Ops"), user_id=alice.user_id)

    async def create(user: SignedIn, **fields: Any) -> Any:
        body = CreateApiToken(name="ci", scopes=["bots:read"], **fields)
        return await client.call(TOKENS_CREATE, body, user_id=user.user_id)

    async def refused(user: SignedIn, **fields: Any) -> RpcError:
        with pytest.raises(RpcError) as caught:
            await create(user, **fields)
        return caught.value

    made = await create(
        alice, workspace_id=team.id, permissions=["logs.view", "bots.view", "logs.view"]
    )
    checked = await client.call(CHECK_API_TOKEN, CheckApiToken(token=made.token))
    assert (checked.user_id, checked.workspace_id) == (alice.user_id, team.id)
    assert checked.permissions == ["bots.view", "logs.view"]
    assert made.info.workspace_id == team.id
    in_90_days = datetime.now(UTC) + timedelta(days=90)
    assert abs((checked.expires_at - in_90_days).total_seconds()) < 60
    # A token made without a ceiling is as before: every workspace, every permission.
    plain = await create(alice, expires_in_days=None)
    plain_check = await client.call(CHECK_API_TOKEN, CheckApiToken(token=plain.token))
    assert (plain_check.workspace_id, plain_check.permissions) == (None, None)
    assert plain_check.expires_at is not None

    not_member = await refused(bob, workspace_id=team.id)
    assert not_member.code == ErrorCode.NOT_FOUND
    assert (await refused(alice, workspace_id=uuid.uuid4())).code == ErrorCode.NOT_FOUND
    unknown = await refused(alice, permissions=["bots.view", "bots.fly", "root"])
    assert unknown.code == ErrorCode.VALIDATION
    named = {(tuple(f.loc), f.message) for f in unknown.fields}
    assert named == {
        (("permissions", 1), "unknown permission 'bots.fly'"),
        (("permissions", 2), "unknown permission 'root'"),
    }
    assert (await refused(alice, permissions=[])).code == ErrorCode.VALIDATION
    too_long = await refused(alice, expires_in_days=366)
    assert [f.loc for f in too_long.fields] == [["expires_in_days"]]
    assert (await create(alice, expires_in_days=365)) is not None
