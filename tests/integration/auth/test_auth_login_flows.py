"""Sign-in through the gateway over HTTP, against the discord-sandbox's OAuth2 and OIDC."""

from __future__ import annotations

import httpx

from tests.fixtures.auth import sign_in


async def test_discord_sign_in_in_token_mode_gives_a_working_bearer_token(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox, username="alice-discord")
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        me = await api.get("/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["id"] == str(alice.user_id)
    assert body["display_name"] == "alice-discord"
    assert body["email"] == "alice-discord@example.test"
    assert [i["provider"] for i in body["identities"]] == ["discord"]
    assert body["identities"][0]["subject"] == alice.sandbox_user.id


async def test_signing_in_again_finds_the_same_user(stack, sandbox) -> None:
    first = await sign_in(stack.url, sandbox)
    again = await sign_in(stack.url, sandbox, person=first.sandbox_user)
    assert again.user_id == first.user_id
    assert again.access_token != first.access_token


async def test_google_sign_in_with_oidc(stack, sandbox) -> None:
    bob = await sign_in(stack.url, sandbox, provider="google", username="bob-google")
    async with httpx.AsyncClient(base_url=stack.url, headers=bob.headers) as api:
        me = (await api.get("/v1/me")).json()
    assert me["identities"][0]["provider"] == "google"
    assert me["email"] == "bob-google@example.test"
    assert me["avatar_url"].startswith(f"{sandbox.base_url}/google/picture/")


async def test_providers_and_jwks_are_public(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        providers = (await api.get("/v1/auth/providers")).json()["providers"]
        keys = (await api.get("/.well-known/jwks.json")).json()["keys"]
    assert {p["name"] for p in providers} == {"discord", "google"}
    assert keys
    assert all("d" not in k for k in keys)
    assert keys[0]["alg"] in ("EdDSA", "ES256")
    assert keys[0]["kid"]


async def test_no_credentials_is_401(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        response = await api.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
