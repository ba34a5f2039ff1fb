"""A leaked signing key is retired at once with `botcenter keys retire KID`: tokens it
signed are refused by every gateway within seconds (also those a gateway had already
checked and cached, and although a second auth replica still had the key loaded), it
leaves the JWKS, and new tokens are signed with a new key — not after two rotations."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import jwt

from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll

BOTCENTER = str(Path(sys.executable).with_name("botcenter"))


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def _cli(infra, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "NATS_URL": infra.admin_nats_url,
        "BOTCENTER_DATA_DIR": str(infra.data_dir),
    }
    proc = await asyncio.create_subprocess_exec(
        BOTCENTER,
        "keys",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def _me(url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        r = await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def test_retired_key_stops_verifying_everywhere_at_once(stack, sandbox, infra) -> None:
    second_auth = stack.extra_auth()
    second_gateway = stack.extra_gateway()
    gateways = [stack.url, second_gateway.url]
    try:
        alice = await sign_in(stack.url, sandbox)
        leaked = _kid(alice.access_token)
        for url in gateways:  # checked, hence cached, at both
            assert await _me(url, alice.access_token) == 200

        code, out = await _cli(infra, "retire", leaked)
        assert code == 0, out
        assert f"retired signing key {leaked}" in out

        async def refused_everywhere() -> bool:
            return all([await _me(url, alice.access_token) == 401 for url in gateways])

        await apoll(refused_everywhere, timeout_s=5, interval_s=0.1, what="retired key refused")
        async with httpx.AsyncClient(timeout=10) as api:
            r = await api.get(f"{stack.url}/v1/me", headers=alice.headers)
            assert "retired key" in r.json()["error"]["message"]
            for url in gateways:
                published = (await api.get(f"{url}/.well-known/jwks.json")).json()["keys"]
                assert leaked not in [k["kid"] for k in published]

            # New tokens (a new sign-in, a refresh of the same session) use another key and
            # work at every gateway right away.
            bob = await sign_in(stack.url, sandbox)
            refreshed = await api.post(
                f"{second_gateway.url}/v1/auth/refresh",
                json={"refresh_token": alice.refresh_token},
            )
            assert refreshed.status_code == 200, refreshed.text
            for token in (bob.access_token, refreshed.json()["access_token"]):
                assert _kid(token) != leaked
                for url in gateways:
                    assert await _me(url, token) == 200, f"{url} refused a token of the new key"
        # Both auth replicas dropped it: whichever answers, no token is signed with it.
        for _ in range(6):
            fresh = await sign_in(gateways[_ % 2], sandbox)
            assert _kid(fresh.access_token) != leaked

        unknown, message = await _cli(infra, "retire", leaked)
        assert unknown == 1
        assert "no signing key" in message
    finally:
        second_gateway.stop()
        second_auth.stop()
