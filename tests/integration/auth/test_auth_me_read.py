"""`GET /v1/me`, the hottest call: a Bearer access token and a cookie session get exactly
the same answer; auth-service reads the account on connections of its own that keep no
user scope between reads."""

from __future__ import annotations

import uuid

import httpx
import orjson

from auth_service.repository import UserReader
from services.settings import with_credentials
from tests.fixtures.auth import sign_in


async def test_bearer_and_cookie_get_the_same_answer(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    async with (
        httpx.AsyncClient(base_url=stack.url) as api,
        httpx.AsyncClient(base_url=stack.url, cookies={"bc_access": alice.access_token}) as web,
    ):
        bearer = await api.get("/v1/me", headers=alice.headers)
        cookie = await web.get("/v1/me")
        assert bearer.status_code == cookie.status_code == 200
        assert bearer.content == cookie.content
        assert bearer.headers["content-type"] == cookie.headers["content-type"]
        assert bearer.headers["content-length"] == cookie.headers["content-length"]
        me = bearer.json()
        assert me["id"] == str(alice.user_id)
        assert [i["provider"] for i in me["identities"]] == ["discord"]
        assert len(bearer.headers["x-request-id"]) == 32

        # Refusals come from the route, with its words and headers.
        forged = await api.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "unauthenticated"
        assert forged.headers["www-authenticate"].startswith("Bearer")
        scheme = await api.get("/v1/me", headers={"Authorization": "Basic abc"})
        assert scheme.status_code == 401
        assert "Bearer <token>" in scheme.json()["error"]["message"]

        metrics = (await api.get("/metrics")).text
        assert 'botcenter_http_requests_total{method="GET",route="/v1/me",status="200"}' in metrics


async def test_the_me_read_keeps_no_user_scope_on_its_connections(stack, sandbox, infra) -> None:
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox)
    url = with_credentials(infra.database_url, "bc_auth", infra.role_password)
    reader = UserReader(url, size=1)  # one connection: every read below shares it
    try:
        row = await reader.user_with_identities(alice.user_id)
        assert row is not None
        assert row["id"] == alice.user_id
        assert [i["provider"] for i in orjson.loads(row["identities"])] == ["discord"]
        row = await reader.user_with_identities(bob.user_id)
        assert row is not None
        assert row["id"] == bob.user_id
        assert await reader.user_with_identities(uuid.uuid4()) is None

        # After a read the connection acts for nobody: row-level security shows no rows.
        pool = await reader._get_pool()
        async with pool.acquire() as conn:
            assert not await conn.fetchval("select current_setting('app.user_id', true)")
            assert await conn.fetchval("select count(*) from users") == 0
            assert await conn.fetchval("select count(*) from identities") == 0
    finally:
        await reader.close()
