"""Attacks on the front door: forged and tampered JWTs, open redirects, state and code
replay, brute force, cross-user access on every /v1/me route, provider failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from services.settings import with_credentials
from services.vault import Vault, aad
from tests.fixtures.auth import sign_in


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def _signing_key(infra) -> tuple[str, str, Any]:
    """The real current signing key, read the way only an operator could (admin + vault)."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        row = await conn.fetchrow(
            "select kid, alg, private_key from auth.signing_keys where active_from <= now() "
            "order by active_from desc limit 1"
        )
    finally:
        await conn.close()
    vault = Vault.from_spec(infra.service_env("auth")["VAULT_KEYS"])
    pem = vault.decrypt(
        bytes(row["private_key"]), aad("auth.signing_keys", row["kid"], "private_key")
    )
    return row["kid"], row["alg"], serialization.load_pem_private_key(pem, password=None)


def _claims(user_id: uuid.UUID, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "botcenter",
        "aud": "botcenter-api",
        "sub": str(user_id),
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(over)
    return claims


async def _status(url: str, token: str) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=url) as api:
        r = await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json().get("error", {}).get("message", "")


async def test_forged_and_tampered_jwts_are_refused(stack, sandbox, infra) -> None:
    alice = await sign_in(stack.url, sandbox)
    kid, alg, private = await _signing_key(infra)
    # Control: a token made with the real key and right claims is accepted, so every
    # refusal below is about the one thing that was changed.
    good = jwt.encode(_claims(alice.user_id), private, algorithm=alg, headers={"kid": kid})
    assert (await _status(stack.url, good))[0] == 200

    none_token = (
        f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims(alice.user_id))}."
    )
    status, message = await _status(stack.url, none_token)
    assert (status, message) == (401, "the token's algorithm is not accepted")

    # HS256 "signed" with the public key (the classic RS/HS confusion).
    async with httpx.AsyncClient(base_url=stack.url) as api:
        jwk = (await api.get("/.well-known/jwks.json")).json()["keys"][0]
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, jwk["x"].encode(), json.dumps(jwk).encode()):
        signing_input = (
            f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims(alice.user_id))}"
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{_b64(mac)}"
        assert await _status(stack.url, forged) == (401, "the token's algorithm is not accepted")

    attacker = ed25519.Ed25519PrivateKey.generate()
    unknown_kid = jwt.encode(
        _claims(alice.user_id), attacker, algorithm="EdDSA", headers={"kid": "nope"}
    )
    assert await _status(stack.url, unknown_kid) == (
        401,
        "the token was signed with an unknown key",
    )
    wrong_key = jwt.encode(
        _claims(alice.user_id), attacker, algorithm="EdDSA", headers={"kid": kid}
    )
    assert (await _status(stack.url, wrong_key))[0] == 401

    expired = jwt.encode(
        _claims(alice.user_id, iat=int(time.time()) - 4000, exp=int(time.time()) - 3000),
        private,
        algorithm=alg,
        headers={"kid": kid},
    )
    assert await _status(stack.url, expired) == (401, "the token has expired")
    wrong_aud = jwt.encode(
        _claims(alice.user_id, aud="other-api"), private, algorithm=alg, headers={"kid": kid}
    )
    assert await _status(stack.url, wrong_aud) == (401, "the token is meant for another audience")
    wrong_iss = jwt.encode(
        _claims(alice.user_id, iss="evil"), private, algorithm=alg, headers={"kid": kid}
    )
    assert await _status(stack.url, wrong_iss) == (401, "the token comes from another issuer")
    no_exp = _claims(alice.user_id)
    del no_exp["exp"]
    missing = jwt.encode(no_exp, private, algorithm=alg, headers={"kid": kid})
    assert (await _status(stack.url, missing))[0] == 401

    # Tampering: Bob's id put into Alice's real token keeps Alice's signature.
    bob = await sign_in(stack.url, sandbox)
    head, body, sig = alice.access_token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = str(bob.user_id)
    assert (await _status(stack.url, f"{head}.{_b64(payload)}.{sig}"))[0] == 401
    assert (await _status(stack.url, "not.a.jwt"))[0] == 401
    async with httpx.AsyncClient(base_url=stack.url) as api:
        basic = await api.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/%0d%0aSet-Cookie:x=1\r\n",
        "http:/evil.example",
    ],
)
async def test_open_redirects_on_next_are_refused(stack, target: str) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        response = await api.get("/v1/auth/discord/login", params={"next": target})
    assert response.status_code == 400, (target, response.status_code)
    assert "location" not in response.headers
    assert "next" in response.json()["error"]["message"]


async def test_a_same_site_next_path_is_kept(stack, sandbox) -> None:
    person = await sandbox.control.create_user("next-user")
    async with httpx.AsyncClient(base_url=stack.url) as browser:
        start = await browser.get("/v1/auth/discord/login", params={"next": "/bots/1?x=y#z"})
        approve = await browser.get(start.headers["location"] + f"&login_hint={person.id}")
        done = await browser.get(approve.headers["location"])
    assert done.status_code == 302
    assert done.headers["location"] == "/bots/1?x=y#z"


async def _callback_url(
    stack_url: str, person_id: str, browser: httpx.AsyncClient, provider: str = "discord"
) -> str:
    start = await browser.get(f"/v1/auth/{provider}/login", params={"mode": "token"})
    approve = await browser.get(start.headers["location"] + f"&login_hint={person_id}")
    assert approve.status_code == 302
    return approve.headers["location"]


async def test_state_mismatch_and_replays_are_refused(stack, sandbox) -> None:
    person = await sandbox.control.create_user("replay-user")
    async with httpx.AsyncClient(base_url=stack.url) as browser:
        callback = await _callback_url(stack.url, person.id, browser)
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        # A different browser (no state cookie) cannot finish this sign-in (login CSRF).
        async with httpx.AsyncClient(base_url=stack.url) as other:
            stranger = await other.get(callback)
        assert stranger.status_code == 400
        assert stranger.json()["error"]["details"]["reason"] == "state_mismatch"
        # A forged state with a matching cookie is unknown to the server.
        browser.cookies.set("bc_oauth", "forged", path="/v1/auth")
        forged = await browser.get(
            "/v1/auth/discord/callback", params={"state": "forged", "code": params["code"]}
        )
        assert forged.status_code == 400
        assert forged.json()["error"]["details"]["reason"] == "bad_state"

    async with httpx.AsyncClient(base_url=stack.url) as browser:
        callback = await _callback_url(stack.url, person.id, browser)
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        first = await browser.get(callback)
        assert first.status_code == 200
        # Replaying the same callback: the state was consumed.
        browser.cookies.set("bc_oauth", params["state"], path="/v1/auth")
        replay = await browser.get(callback)
        assert replay.status_code == 400
        assert "already used" in replay.json()["error"]["message"]
        # Replaying the code inside a fresh, valid sign-in: the provider refuses it.
        browser.cookies.clear()
        fresh = await browser.get("/v1/auth/discord/login", params={"mode": "token"})
        state = parse_qs(urlsplit(fresh.headers["location"]).query)["state"][0]
        code_replay = await browser.get(
            "/v1/auth/discord/callback", params={"state": state, "code": params["code"]}
        )
        assert code_replay.status_code == 400
        assert "expired or was already used" in code_replay.json()["error"]["message"]


async def test_consent_denied_is_a_clear_error_page(stack, sandbox) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as browser:
        start = await browser.get("/v1/auth/google/login")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        denied = await browser.get(
            "/v1/auth/google/callback",
            params={"state": state, "error": "access_denied"},
            headers={"Accept": "text/html"},
        )
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("text/html")
    assert "cancelled at Google" in denied.text


async def test_provider_failure_is_503_not_500(stack, sandbox) -> None:
    person = await sandbox.control.create_user("fault-user")
    await sandbox.control.set_faults(rest_error_rate=1.0)
    try:
        async with httpx.AsyncClient(base_url=stack.url) as browser:
            callback = await _callback_url(stack.url, person.id, browser)
            failed = await browser.get(callback)
    finally:
        await sandbox.control.clear_faults()
    assert failed.status_code == 503
    assert "Discord" in failed.json()["error"]["message"]


async def test_unknown_provider_is_404(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        response = await api.get("/v1/auth/myspace/login")
    assert response.status_code == 404


async def test_brute_force_hits_the_rate_limits(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    strict = stack.extra_gateway(
        GATEWAY_RATE_LOGIN_BURST="3",
        GATEWAY_RATE_LOGIN_PER_MIN="1",
        GATEWAY_RATE_USER_BURST="5",
        GATEWAY_RATE_USER_PER_S="0.1",
    )
    try:
        async with httpx.AsyncClient(base_url=strict.url) as api:
            codes = [
                (
                    await api.get(
                        "/v1/auth/discord/callback", params={"state": "x", "code": "guess"}
                    )
                ).status_code
                for _ in range(6)
            ]
            assert codes[:3] == [400, 400, 400]
            assert codes[3:] == [429, 429, 429]
            limited = await api.get("/v1/auth/discord/login")
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["error"]["code"] == "rate_limited"
            # Ordinary endpoints are not affected by the sign-in limit.
            assert (await api.get("/v1/auth/providers")).status_code == 200

            statuses = [
                (await api.get("/v1/me", headers=alice.headers)).status_code for _ in range(7)
            ]
            assert statuses[:5] == [200] * 5
            assert statuses[5:] == [429, 429]
            last = await api.get("/v1/me", headers=alice.headers)
            assert int(last.headers["retry-after"]) >= 1
    finally:
        strict.stop()


async def test_no_cross_user_access_on_me_routes(stack, sandbox, infra) -> None:
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox)
    async with (
        httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as a,
        httpx.AsyncClient(base_url=stack.url, headers=bob.headers) as b,
    ):
        await a.put("/v1/me/settings", json={"settings": {"secret": "alice"}})
        await a.patch("/v1/me", json={"display_name": "Alice"})
        token = (await a.post("/v1/me/tokens", json={"name": "a", "scopes": ["bots:read"]})).json()

        assert (await b.get("/v1/me")).json()["id"] == str(bob.user_id)
        assert (await b.get("/v1/me/settings")).json()["settings"] == {}
        assert (await b.get("/v1/me/tokens")).json()["tokens"] == []
        assert (await b.delete(f"/v1/me/tokens/{token['info']['id']}")).status_code == 404
        await b.patch("/v1/me", json={"display_name": "Bob"})
        await b.put("/v1/me/settings", json={"settings": {"secret": "bob"}})
        # A body cannot name another user: unknown fields are refused.
        sneaky = await b.patch("/v1/me", json={"display_name": "x", "id": str(alice.user_id)})
        assert sneaky.status_code in (200, 422)
        assert (await b.delete("/v1/me")).status_code == 200

        me = (await a.get("/v1/me")).json()
        assert me["display_name"] == "Alice"
        assert (await a.get("/v1/me/settings")).json()["settings"] == {"secret": "alice"}
        pat = {"Authorization": f"Bearer {token['token']}"}
        assert (await a.get("/v1/me", headers=pat)).status_code == 200

    # Row-level security underneath: as the service role acting for Bob, Alice's rows are
    # invisible even without a WHERE clause.
    url = with_credentials(infra.database_url, "bc_auth", infra.role_password)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.user_id', $1, true)", str(bob.user_id))
            for table in ("users", "identities", "api_tokens", "refresh_tokens"):
                count = await conn.fetchval(f"select count(*) from auth.{table}")
                assert count == 0, table
            updated = await conn.execute(
                "update auth.users set display_name = 'pwned' where id = $1", alice.user_id
            )
            assert updated == "UPDATE 0"
    finally:
        await conn.close()
