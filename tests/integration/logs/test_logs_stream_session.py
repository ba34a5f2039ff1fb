"""A live stream lives no longer than the credential that opened it (issue #23, items 2, 5):
logout and refresh-token reuse close it (4401), so does revoking the personal token a
ticket was asked with; its token's expiry closes it (4419, "reconnect with a fresh token");
a restarted log-service knows earlier sign-outs (replay) before it accepts streams; one
user may hold `LOG_STREAM_MAX_PER_USER` streams per replica (4429), others are unaffected.

Access tokens live at least 30 s (`AUTH_ACCESS_TTL_S`), and the session's auth-service is
shared by every test of a run (queue group `auth`: a second one with a short lifetime would
answer only some sign-ins), so expiry is driven through a ticket whose expiry is set the
way the gateway sets it; that the gateway and the bearer path pass the real token's expiry
is checked from the `hello` frame.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from proto.logs import StreamClose
from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll
from tests.fixtures.logs import (
    close_code,
    events_until,
    log_line,
    next_frame,
    open_stream,
    opened,
    stream_url,
    subscribe,
    ticket_for,
)

LEEWAY_S = 10  # services.authn.AccessTokenVerifier's default, the gateway's and log-service's


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


async def _gateway_ticket(url: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=url, headers=headers) as api:
        answer = await api.post("/v1/stream/ticket")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["ticket"])


async def _refused(url: str, headers: dict[str, str]) -> bool:
    async with httpx.AsyncClient(base_url=url, headers=headers) as api:
        return (await api.get("/v1/me")).status_code == 401


async def test_logout_closes_the_sessions_streams_and_no_other(
    auth_stack, sandbox, start_service, publisher
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    laptop = await sign_in(auth_stack.url, sandbox, person=alice.sandbox_user)
    by_token = await open_stream(auth_stack.url, token=alice.access_token)
    by_ticket = await open_stream(
        auth_stack.url, ticket=await _gateway_ticket(auth_stack.url, alice.headers)
    )
    other = await open_stream(auth_stack.url, token=laptop.access_token)
    for ws in (by_token, by_ticket, other):
        assert (await next_frame(ws))["type"] == "hello"
        await subscribe(ws)

    async with httpx.AsyncClient(base_url=auth_stack.url) as api:
        out = await api.post("/v1/auth/logout", json={"refresh_token": alice.refresh_token})
        assert out.status_code == 204
    for ws in (by_token, by_ticket):
        code, reason = await close_code(ws)
        assert code == StreamClose.UNAUTHORIZED == 4401
        assert "signed out" in reason

    # The same token cannot open a new one; the other session's stream goes on.
    again = await open_stream(auth_stack.url, token=alice.access_token)
    assert (await close_code(again))[0] == 4401
    marker = log_line(alice.user_id, None, "still here on the laptop")
    await publisher.publish("log", "info", marker)
    # (It saw the other session's `session_revoked` event go by: an event of its user.)
    assert (await events_until(other, marker.id))[-1]["event"]["message"] == marker.message
    await other.close()


async def test_refresh_token_reuse_closes_the_familys_streams(
    auth_stack, sandbox, start_service
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url) as api:
        rotated = (
            await api.post("/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
        ).json()
        # Same family: the rotated access token carries the same session id.
        assert _claims(rotated["access_token"])["sid"] == _claims(alice.access_token)["sid"]
        ws = await open_stream(auth_stack.url, token=rotated["access_token"])
        assert (await next_frame(ws))["type"] == "hello"
        await subscribe(ws)
        reuse = await api.post("/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
        assert reuse.json()["error"]["details"]["reason"] == "refresh_reuse"
    code, reason = await close_code(ws)
    assert code == 4401
    assert "signed out" in reason


async def test_revoking_a_personal_token_closes_streams_of_its_tickets(
    auth_stack, sandbox, start_service
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as api:
        created = await api.post("/v1/me/tokens", json={"name": "tail", "scopes": ["logs:read"]})
        assert created.status_code == 201, created.text
        pat, token_id = created.json()["token"], created.json()["info"]["id"]
        ws = await open_stream(
            auth_stack.url,
            ticket=await _gateway_ticket(auth_stack.url, {"Authorization": f"Bearer {pat}"}),
        )
        assert (await next_frame(ws))["type"] == "hello"
        await subscribe(ws)
        assert (await api.delete(f"/v1/me/tokens/{token_id}")).status_code == 204
    code, reason = await close_code(ws)
    assert code == 4401
    assert "revoked" in reason


async def test_the_token_expiry_travels_with_bearer_and_ticket_streams(
    auth_stack, sandbox, start_service
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    until = datetime.fromtimestamp(_claims(alice.access_token)["exp"] + LEEWAY_S, UTC)
    by_token = await open_stream(auth_stack.url, token=alice.access_token)
    by_ticket = await open_stream(
        auth_stack.url, ticket=await _gateway_ticket(auth_stack.url, alice.headers)
    )
    for ws in (by_token, by_ticket):
        hello = await next_frame(ws)
        assert hello["type"] == "hello"
        # Closed then: when the gateway starts answering 401 to the same token.
        assert datetime.fromisoformat(hello["expires_at"]) == until
        await ws.close()


@pytest.mark.parametrize("server", ["picows", "asgi"])
async def test_a_stream_closes_when_its_token_expires(start_service, rpc, server) -> None:
    log = start_service("log", LOG_STREAM_SERVER=server)
    alice, session = uuid.uuid4(), uuid.uuid4()
    soon = datetime.now(UTC) + timedelta(seconds=2)
    ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice, expires_at=soon))
    assert (await next_frame(ws))["type"] == "hello"
    await subscribe(ws)
    code, reason = await close_code(ws)
    assert code == StreamClose.TOKEN_EXPIRED == 4419
    assert "fresh token" in reason
    assert datetime.now(UTC) >= soon

    # A ticket for a credential that has already expired opens nothing; a ticket of the
    # same session with a fresh expiry opens a stream.
    stale = datetime.now(UTC) - timedelta(seconds=1)
    late = await open_stream(
        log.url, ticket=await ticket_for(rpc, alice, session_id=session, expires_at=stale)
    )
    assert (await opened(late))[:2] == (False, 4419)
    later = datetime.now(UTC) + timedelta(minutes=15)
    fresh = await open_stream(
        log.url, ticket=await ticket_for(rpc, alice, session_id=session, expires_at=later)
    )
    assert (await opened(fresh))[0]
    await fresh.close()


async def test_a_restarted_log_service_refuses_a_signed_out_session(
    auth_stack, sandbox, start_service, rpc
) -> None:
    first = start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url) as api:
        out = await api.post("/v1/auth/logout", json={"refresh_token": alice.refresh_token})
        assert out.status_code == 204
    await apoll(
        lambda: _refused(auth_stack.url, alice.headers), timeout_s=10, what="logout applied"
    )
    first.stop()

    log = start_service("log")  # knows nothing of the logout but from the replay
    by_token = await open_stream(log.url, token=alice.access_token)
    ok, code, reason = await opened(by_token)
    assert (ok, code) == (False, 4401)
    assert "signed out" in reason
    # It said "ready" only once the replay was done (and accepts no stream before).
    async with httpx.AsyncClient(base_url=log.url) as probe:
        ready = (await probe.get("/readyz")).json()
    assert ready["checks"]["revocations"] is True
    # A ticket the gateway gave that session before the logout is refused too.
    sid = uuid.UUID(_claims(alice.access_token)["sid"])
    ticket = await ticket_for(rpc, alice.user_id, session_id=sid)
    assert (await opened(await open_stream(log.url, ticket=ticket)))[:2] == (False, 4401)


@pytest.mark.parametrize("server", ["picows", "asgi"])
async def test_the_21st_stream_of_a_user_is_refused_and_others_are_not(
    start_service, rpc, server
) -> None:
    log = start_service("log", LOG_STREAM_SERVER=server)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    url = await stream_url(log.url)
    assert url  # one lookup; every stream below goes to the same server

    async def one(user: uuid.UUID):  # type: ignore[no-untyped-def]
        return await open_stream(log.url, ticket=await ticket_for(rpc, user))

    # All at once: the cap holds for concurrent opens too (checked where they register).
    mine = await asyncio.gather(*(one(alice) for _ in range(25)))
    results = await asyncio.gather(*(opened(ws) for ws in mine))
    accepted = [ws for ws, r in zip(mine, results, strict=True) if r[0]]
    refused = [r for r in results if not r[0]]
    assert len(accepted) == 20
    assert len(refused) == 5
    for _, code, reason in refused:
        assert code == StreamClose.TOO_MANY_STREAMS == 4429
        assert "20 live streams" in reason

    bobs = await one(bob)
    assert (await opened(bobs))[0]
    # Closing one of alice's makes room for another.
    await accepted[0].close()

    async def room() -> bool:
        ws = await one(alice)
        ok = (await opened(ws))[0]
        if ok:
            accepted[0] = ws
        return ok

    await apoll(room, timeout_s=10, what="a slot freed by a closed stream")
    for ws in [*accepted, bobs]:
        await ws.close()
