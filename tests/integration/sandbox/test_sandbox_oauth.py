"""Sign-in flows against the sandbox with authlib, as the product's auth-service runs them:
Discord-style OAuth2 (PKCE, refresh rotation, revoke) and a Google-style OIDC issuer
(discovery, RS256 id_token with nonce checked against the JWKS, userinfo)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.starlette_client import OAuth

from tests.fixtures.sandbox import SandboxControl, SandboxProcess

REDIRECT = "http://127.0.0.1:5173/auth/callback"
DEFAULT_ID, DEFAULT_SECRET = "botcenter-local", "botcenter-local-secret"


def _discord(
    sandbox: SandboxProcess, client_id: str = DEFAULT_ID, secret: str = DEFAULT_SECRET
) -> Any:
    oauth = OAuth()
    return oauth.register(
        "discord",
        client_id=client_id,
        client_secret=secret,
        authorize_url=f"{sandbox.base_url}/oauth2/authorize",
        access_token_url=f"{sandbox.base_url}/api/oauth2/token",
        api_base_url=f"{sandbox.api_url}/",
        client_kwargs={"scope": "identify email", "code_challenge_method": "S256"},
    )


def _google(sandbox: SandboxProcess) -> Any:
    oauth = OAuth()
    return oauth.register(
        "google",
        client_id=DEFAULT_ID,
        client_secret=DEFAULT_SECRET,
        server_metadata_url=f"{sandbox.base_url}/google/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )


async def _redirected(url: str, *, data: dict[str, str] | None = None) -> dict[str, str]:
    """Follow one step of the browser: GET (or POST the consent form) and read the redirect."""
    async with httpx.AsyncClient() as browser:
        response = await (browser.post(url, data=data) if data is not None else browser.get(url))
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_discord_flow_with_login_hint_pkce_refresh_and_revoke(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    person = await sandbox_control.create_user("oauth-alice", email="alice@example.test")
    client = _discord(sandbox)
    started = await client.create_authorization_url(REDIRECT, login_hint=person.id)
    assert started["code_verifier"]
    params = await _redirected(started["url"])
    assert params["state"] == started["state"]
    token = await client.fetch_access_token(
        redirect_uri=REDIRECT, code=params["code"], code_verifier=started["code_verifier"]
    )
    assert token["token_type"] == "Bearer"
    me = (await client.get("users/@me", token=token)).json()
    assert me["id"] == person.id
    assert me["username"] == "oauth-alice"
    assert me["email"] == "alice@example.test"

    async with httpx.AsyncClient() as raw:
        replay = await raw.post(
            f"{sandbox.base_url}/api/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": started["code_verifier"],
            },
            auth=(DEFAULT_ID, DEFAULT_SECRET),
        )
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        # The replay also revoked what the code had produced.
        revoked = await raw.get(
            f"{sandbox.api_url}/users/@me",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert revoked.status_code == 401

        refreshed = await raw.post(
            f"{sandbox.base_url}/api/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(DEFAULT_ID, DEFAULT_SECRET),
        )
        assert refreshed.status_code == 400  # revoked by the replay as well

    second = await client.create_authorization_url(REDIRECT, login_hint=person.id)
    code = (await _redirected(second["url"]))["code"]
    token = await client.fetch_access_token(
        redirect_uri=REDIRECT, code=code, code_verifier=second["code_verifier"]
    )
    async with httpx.AsyncClient() as raw:
        rotated = await raw.post(
            f"{sandbox.base_url}/api/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token["refresh_token"],
                "client_id": DEFAULT_ID,
                "client_secret": DEFAULT_SECRET,
            },
        )
        assert rotated.status_code == 200
        new = rotated.json()
        assert new["refresh_token"] != token["refresh_token"]
        again = await raw.post(
            f"{sandbox.base_url}/api/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(DEFAULT_ID, DEFAULT_SECRET),
        )
        assert again.json()["error"] == "invalid_grant"  # refresh tokens rotate
        await raw.post(
            f"{sandbox.base_url}/api/oauth2/token/revoke",
            data={"token": new["access_token"]},
            auth=(DEFAULT_ID, DEFAULT_SECRET),
        )
        gone = await raw.get(
            f"{sandbox.api_url}/users/@me",
            headers={"Authorization": f"Bearer {new['access_token']}"},
        )
        assert gone.status_code == 401
        assert gone.headers["Content-Type"] == "application/json"


async def test_consent_page_lists_users_and_deny_redirects_with_access_denied(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    person = await sandbox_control.create_user("oauth-bob")
    client = _discord(sandbox)
    started = await client.create_authorization_url(REDIRECT)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(started["url"])
    assert page.status_code == 200
    assert "oauth-bob" in page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    denied = await _redirected(
        f"{sandbox.base_url}/oauth2/authorize", data={**fields, "decision": "deny"}
    )
    assert denied == {"error": "access_denied", "state": started["state"]}
    approved = await _redirected(
        f"{sandbox.base_url}/oauth2/authorize",
        data={**fields, "user_id": person.id, "decision": "approve"},
    )
    token = await client.fetch_access_token(
        redirect_uri=REDIRECT, code=approved["code"], code_verifier=started["code_verifier"]
    )
    me = (await client.get("users/@me", token=token)).json()
    assert me["id"] == person.id


async def test_a_typed_new_user_wins_over_the_pre_checked_user_and_the_page_says_who(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    await sandbox_control.create_user("oauth-dave")
    client = _discord(sandbox)
    started = await client.create_authorization_url(REDIRECT)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(started["url"])
        assert page.status_code == 200
        checked = re.search(
            r'name="user_id" value="(\d+)" data-username="([^"]+)" checked', page.text
        )
        assert checked is not None  # the first user is pre-checked ...
        said = re.search(r'<p id="who"[^>]*>([^<]*)</p>', page.text)
        assert said is not None
        assert said.group(1) == f"You will be signed in as {checked.group(2)}."  # ... and named
        fields = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        )
        # A name too short for a sandbox user: the page again, saying why, with the name kept.
        refused = await browser.post(
            f"{sandbox.base_url}/oauth2/authorize",
            data={
                **fields,
                "user_id": checked.group(1),
                "new_username": "x",
                "decision": "approve",
            },
        )
    assert refused.status_code == 400
    assert "username must be 2-32 characters" in refused.text
    assert 'value="x"' in refused.text
    # The browser posts the pre-checked radio along with the typed name: the typed name wins.
    approved = await _redirected(
        f"{sandbox.base_url}/oauth2/authorize",
        data={
            **fields,
            "user_id": checked.group(1),
            "new_username": "  oauth-newcomer ",
            "decision": "approve",
        },
    )
    token = await client.fetch_access_token(
        redirect_uri=REDIRECT, code=approved["code"], code_verifier=started["code_verifier"]
    )
    me = (await client.get("users/@me", token=token)).json()
    assert me["username"] == "oauth-newcomer"
    assert me["id"] != checked.group(1)


async def test_registered_clients_need_their_exact_redirect_uri(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    registered = await sandbox_control.register_oauth_client([REDIRECT], client_id="exact-client")
    person = await sandbox_control.create_user("oauth-carol")
    client = _discord(sandbox, registered["client_id"], registered["client_secret"])
    wrong = await client.create_authorization_url(
        "http://127.0.0.1:9999/elsewhere", login_hint=person.id
    )
    async with httpx.AsyncClient() as browser:
        refused = await browser.get(wrong["url"])
    assert refused.status_code == 400  # shown, never redirected to an unregistered URI
    right = await client.create_authorization_url(REDIRECT, login_hint=person.id)
    code = (await _redirected(right["url"]))["code"]
    bad_secret = _discord(sandbox, registered["client_id"], "wrong")
    with pytest.raises(Exception, match="invalid_client"):
        await bad_secret.fetch_access_token(
            redirect_uri=REDIRECT, code=code, code_verifier=right["code_verifier"]
        )


async def test_google_oidc_flow_with_nonce_and_jwks(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    person = await sandbox_control.create_user("oidc-dana", email="dana@example.test")
    client = _google(sandbox)
    started = await client.create_authorization_url(
        REDIRECT, nonce="nonce-123", login_hint="dana@example.test"
    )
    params = await _redirected(started["url"])
    token = await client.fetch_access_token(
        redirect_uri=REDIRECT, code=params["code"], code_verifier=started["code_verifier"]
    )
    claims = await client.parse_id_token(token, nonce="nonce-123")
    assert claims["iss"] == f"{sandbox.base_url}/google"
    assert claims["aud"] == DEFAULT_ID
    assert claims["sub"] == person.id
    assert claims["email"] == "dana@example.test"
    assert claims["email_verified"] is True
    assert claims["name"] == "oidc-dana"
    info = await client.userinfo(token=token)
    assert info["sub"] == person.id
    async with httpx.AsyncClient() as raw:
        picture = await raw.get(info["picture"])
    assert picture.headers["Content-Type"] == "image/png"
    with pytest.raises(Exception, match="nonce"):
        await client.parse_id_token(token, nonce="another-nonce")
