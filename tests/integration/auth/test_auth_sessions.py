"""Sessions: refresh rotation, reuse detection, logout, logout-all, cookie sessions + CSRF."""

from __future__ import annotations

import httpx

from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll


async def _refresh(url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as api:
        return await api.post("/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    first = await _refresh(stack.url, alice.refresh_token)
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != alice.refresh_token
    assert rotated["user"]["id"] == str(alice.user_id)
    async with httpx.AsyncClient(
        base_url=stack.url, headers={"Authorization": f"Bearer {rotated['access_token']}"}
    ) as api:
        assert (await api.get("/v1/me")).status_code == 200

    # The old refresh token comes back (stolen copy): refused, and the family is revoked,
    # so the legitimate holder's newer token stops working too.
    reuse = await _refresh(stack.url, alice.refresh_token)
    assert reuse.status_code == 401
    assert reuse.json()["error"]["details"]["reason"] == "refresh_reuse"
    after = await _refresh(stack.url, rotated["refresh_token"])
    assert after.status_code == 401

    # Other sessions of the same user are not affected.
    other = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    assert (await _refresh(stack.url, other.refresh_token)).status_code == 200


async def test_unknown_refresh_token_is_401(stack) -> None:
    response = await _refresh(stack.url, "bcr_not-a-real-token")
    assert response.status_code == 401
    assert "sign in again" in response.json()["error"]["message"]


async def test_logout_ends_only_this_session(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    other = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    async with httpx.AsyncClient(base_url=stack.url) as api:
        out = await api.post("/v1/auth/logout", json={"refresh_token": alice.refresh_token})
        assert out.status_code == 204
    assert (await _refresh(stack.url, alice.refresh_token)).status_code == 401
    assert (await _refresh(stack.url, other.refresh_token)).status_code == 200


async def test_logout_all_revokes_every_session_and_access_token(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    second = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    async with httpx.AsyncClient(base_url=stack.url) as api:
        assert (await api.get("/v1/me", headers=second.headers)).status_code == 200
        out = await api.post("/v1/auth/logout-all", headers=alice.headers)
        assert out.status_code == 204

        async def refused() -> bool:
            r = await api.get("/v1/me", headers=second.headers)
            return r.status_code == 401

        # Access tokens are checked locally; the SessionsRevoked event reaches the gateway.
        await apoll(refused, timeout_s=5, what="access token refused after logout-all")
        assert (await api.get("/v1/me", headers=alice.headers)).status_code == 401
    assert (await _refresh(stack.url, alice.refresh_token)).status_code == 401
    assert (await _refresh(stack.url, second.refresh_token)).status_code == 401
    # Signing in again works at once.
    again = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    async with httpx.AsyncClient(base_url=stack.url, headers=again.headers) as api:
        assert (await api.get("/v1/me")).status_code == 200


async def _cookie_login(
    url: str, sandbox, client: httpx.AsyncClient, next_path: str
) -> httpx.Response:
    person = await sandbox.control.create_user("cookie-user", email="cookie@example.test")
    start = await client.get("/v1/auth/discord/login", params={"next": next_path})
    assert start.status_code == 302
    authorize = await client.get(start.headers["location"] + f"&login_hint={person.id}")
    assert authorize.status_code == 302
    callback = authorize.headers["location"]
    assert callback.startswith(f"{url}/v1/auth/discord/callback")
    return await client.get(callback)


async def test_cookie_session_with_csrf_and_cookie_refresh(stack, sandbox) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as browser:
        done = await _cookie_login(stack.url, sandbox, browser, "/bots?tab=all")
        assert done.status_code == 302
        assert done.headers["location"] == "/bots?tab=all"
        set_cookie = " ".join(done.headers.get_list("set-cookie")).lower()
        assert "bc_access=" in set_cookie
        assert "httponly" in set_cookie
        assert "samesite=lax" in set_cookie
        me = await browser.get("/v1/me")
        assert me.status_code == 200, me.text

        # Unsafe method with the cookie but without the CSRF header: refused.
        no_csrf = await browser.patch("/v1/me", json={"display_name": "Cookie Person"})
        assert no_csrf.status_code == 403
        assert "CSRF" in no_csrf.json()["error"]["message"]
        csrf = browser.cookies["bc_csrf"]
        ok = await browser.patch(
            "/v1/me", json={"display_name": "Cookie Person"}, headers={"X-CSRF-Token": csrf}
        )
        assert ok.status_code == 200
        assert ok.json()["display_name"] == "Cookie Person"
        evil = await browser.patch(
            "/v1/me",
            json={"display_name": "x"},
            headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        )
        assert evil.status_code == 403

        old_access = browser.cookies["bc_access"]
        refreshed = await browser.post("/v1/auth/refresh", headers={"X-CSRF-Token": csrf})
        assert refreshed.status_code == 200, refreshed.text
        assert "access_token" not in refreshed.json()
        assert browser.cookies["bc_access"] != old_access

        out = await browser.post(
            "/v1/auth/logout", headers={"X-CSRF-Token": browser.cookies["bc_csrf"]}
        )
        assert out.status_code == 204
        assert "bc_access" not in browser.cookies
        assert (await browser.get("/v1/me")).status_code == 401


async def test_secure_cookie_flag_follows_settings(stack) -> None:
    secure = stack.extra_gateway(GATEWAY_COOKIE_SECURE="true")
    async with httpx.AsyncClient(base_url=secure.url) as browser:
        start = await browser.get("/v1/auth/discord/login")
    assert start.status_code == 302
    state_cookie = start.headers["set-cookie"].lower()
    assert state_cookie.startswith("bc_oauth=")
    assert "secure" in state_cookie
    assert "httponly" in state_cookie
    secure.stop()


async def test_logout_refuses_that_sessions_access_token_only(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    other = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    async with httpx.AsyncClient(base_url=stack.url) as api:
        assert (await api.get("/v1/me", headers=alice.headers)).status_code == 200
        out = await api.post("/v1/auth/logout", json={"refresh_token": alice.refresh_token})
        assert out.status_code == 204

        async def refused() -> bool:
            r = await api.get("/v1/me", headers=alice.headers)
            return r.status_code == 401

        # The access JWT carries the session id; the SessionRevoked event reaches the gateway.
        await apoll(refused, timeout_s=5, what="the signed-out session's access token refused")
        r = await api.get("/v1/me", headers=alice.headers)
        assert "signed out" in r.json()["error"]["message"]
        assert (await api.get("/v1/me", headers=other.headers)).status_code == 200


async def test_revocations_survive_a_gateway_restart(stack, sandbox) -> None:
    gateway = stack.extra_gateway()
    alice = await sign_in(gateway.url, sandbox)  # signs out everywhere
    bob = await sign_in(gateway.url, sandbox)  # signs out one session
    carol = await sign_in(gateway.url, sandbox)  # stays signed in
    async with httpx.AsyncClient(base_url=gateway.url) as api:
        for user in (alice, bob, carol):
            assert (await api.get("/v1/me", headers=user.headers)).status_code == 200
        assert (await api.post("/v1/auth/logout-all", headers=alice.headers)).status_code == 204
        out = await api.post("/v1/auth/logout", json={"refresh_token": bob.refresh_token})
        assert out.status_code == 204

        async def both_refused() -> bool:
            a = await api.get("/v1/me", headers=alice.headers)
            b = await api.get("/v1/me", headers=bob.headers)
            return a.status_code == b.status_code == 401

        await apoll(both_refused, timeout_s=5, what="revocations applied live")
    gateway.stop()

    # A gateway (re)started after the revocations learns them from JetStream before ready.
    restarted = stack.extra_gateway()
    try:
        async with httpx.AsyncClient(base_url=restarted.url) as api:
            ready = await api.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert (await api.get("/v1/me", headers=alice.headers)).status_code == 401
            assert (await api.get("/v1/me", headers=bob.headers)).status_code == 401
            assert (await api.get("/v1/me", headers=carol.headers)).status_code == 200
    finally:
        restarted.stop()
