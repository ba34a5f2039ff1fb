"""Signing-key rotation is publish-then-use: a rotated key is in the JWKS at once, signs
only after `AUTH_KEY_ACTIVATION_S`, and tokens of the previous key keep working. With
two auth replicas and two gateways, rotating over and over never refuses a fresh token."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import orjson

from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll


async def _rotate(nc) -> list[str]:
    reply = await nc.request("rpc.auth.keys.rotate", b"{}", timeout=10)
    return [k["kid"] for k in orjson.loads(reply.data)["keys"]]


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def test_rotated_key_is_published_first_and_signs_later(stack, sandbox, nc) -> None:
    before = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url) as api:

        async def nothing_pending() -> bool:
            # A rotation by an earlier test may still be pending: wait until the newest
            # published key is the one that signs.
            jwks = (await api.get("/.well-known/jwks.json")).json()["keys"]
            r = await api.post("/v1/auth/refresh", json={"refresh_token": before.refresh_token})
            assert r.status_code == 200, r.text
            before.refresh_token = r.json()["refresh_token"]
            before.access_token = r.json()["access_token"]
            return _kid(before.access_token) == jwks[0]["kid"]

        await apoll(nothing_pending, timeout_s=15, interval_s=0.5, what="no pending key")
    old_kid = _kid(before.access_token)
    published = await _rotate(nc)
    new_kid = published[0]
    assert new_kid != old_kid
    assert old_kid in published

    async with httpx.AsyncClient(base_url=stack.url) as api:
        jwks = [k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]]
        assert new_kid in jwks
        assert old_kid in jwks
        # Published, not signing yet: a sign-in right after the rotation uses the old key.
        rotated_at = time.monotonic()
        during = await sign_in(stack.url, sandbox, person=before.sandbox_user)
        if time.monotonic() - rotated_at < 2.5:
            assert _kid(during.access_token) == old_kid

        async def new_key_signs() -> bool:
            r = await api.post("/v1/auth/refresh", json={"refresh_token": during.refresh_token})
            assert r.status_code == 200, r.text
            during.refresh_token = r.json()["refresh_token"]
            during.access_token = r.json()["access_token"]
            return _kid(during.access_token) == new_kid

        await apoll(new_key_signs, timeout_s=15, interval_s=0.5, what="the new key signs")
        assert (await api.get("/v1/me", headers=during.headers)).status_code == 200
        assert (await api.get("/v1/me", headers=before.headers)).status_code == 200
        # The old key stays published while its tokens live.
        jwks = [k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]]
        assert jwks[0] == new_kid
        assert old_kid in jwks


async def test_repeated_rotation_with_two_auth_replicas_and_two_gateways(
    stack, sandbox, nc
) -> None:
    second_auth = stack.extra_auth()
    second_gateway = stack.extra_gateway()
    gateways = [stack.url, second_gateway.url]
    try:
        users = [await sign_in(url, sandbox) for url in gateways]
        kids: set[str] = set()
        refusals: list[str] = []
        checks = 0
        stop_at = time.monotonic() + 11  # >= 3 activations of 3 s each

        async def rotate_forever() -> None:
            while time.monotonic() < stop_at:
                await _rotate(nc)  # a no-op while a key is pending
                await asyncio.sleep(0.7)

        async def use(i: int) -> None:
            nonlocal checks
            user = users[i]
            async with httpx.AsyncClient(timeout=10) as api:
                while time.monotonic() < stop_at:
                    # A refresh goes to either auth replica; the fresh token is checked at
                    # both gateways at once (no waiting for caches).
                    r = await api.post(
                        f"{gateways[i]}/v1/auth/refresh",
                        json={"refresh_token": user.refresh_token},
                    )
                    if r.status_code != 200:
                        refusals.append(f"refresh {r.status_code} {r.text}")
                        return
                    user.refresh_token = r.json()["refresh_token"]
                    user.access_token = r.json()["access_token"]
                    kids.add(_kid(user.access_token))
                    for url in gateways:
                        me = await api.get(f"{url}/v1/me", headers=user.headers)
                        checks += 1
                        if me.status_code != 200:
                            refusals.append(f"{url} {me.status_code} {me.text}")
                    await asyncio.sleep(0.1)

        await asyncio.gather(rotate_forever(), use(0), use(1))
        # Sign-ins (new sessions) through both gateways right at the end, too.
        for url in gateways:
            fresh = await sign_in(url, sandbox)
            async with httpx.AsyncClient() as api:
                for other in gateways:
                    r = await api.get(f"{other}/v1/me", headers=fresh.headers)
                    assert r.status_code == 200, r.text
        assert refusals == []
        assert checks > 20
        assert len(kids) >= 3, kids
    finally:
        second_gateway.stop()
        second_auth.stop()
