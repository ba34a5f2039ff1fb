"""Signing-key rotation: the JWKS publishes current and previous keys; tokens signed with
the previous key keep working and the gateway picks up the new key on first sight."""

from __future__ import annotations

import httpx
import jwt
import orjson

from tests.fixtures.auth import sign_in


async def test_rotation_keeps_old_tokens_valid_and_new_ones_accepted(stack, sandbox, nc) -> None:
    before = await sign_in(stack.url, sandbox)
    old_kid = jwt.get_unverified_header(before.access_token)["kid"]
    reply = await nc.request("rpc.auth.keys.rotate", b"{}", timeout=10)
    rotated = orjson.loads(reply.data)
    kids = [k["kid"] for k in rotated["keys"]]
    assert len(kids) == 2
    assert kids[1] == old_kid
    assert kids[0] != old_kid

    after = await sign_in(stack.url, sandbox, person=before.sandbox_user)
    assert jwt.get_unverified_header(after.access_token)["kid"] == kids[0]
    async with httpx.AsyncClient(base_url=stack.url) as api:
        published = [k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]]
        assert published == kids
        assert (await api.get("/v1/me", headers=after.headers)).status_code == 200
        assert (await api.get("/v1/me", headers=before.headers)).status_code == 200
