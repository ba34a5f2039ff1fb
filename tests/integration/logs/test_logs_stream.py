"""The live stream: per-user isolation, filters, auth (tokens, tickets, revocation), origin."""

from __future__ import annotations

import uuid

import pytest
from websockets.exceptions import InvalidStatus

from proto.auth import SessionsRevoked
from tests.fixtures.logs import (
    close_code,
    events_until,
    log_line,
    next_frame,
    open_stream,
    subscribe,
    ticket_for,
)


@pytest.mark.parametrize("server", ["picows", "asgi"])
async def test_each_user_gets_only_their_events_and_filters_change_live(
    start_service, rpc, publisher, server
) -> None:
    log = start_service("log", LOG_STREAM_SERVER=server)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a_bots, b_bots = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]
    wa = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    wb = await open_stream(log.url, ticket=await ticket_for(rpc, bob))
    assert wa.subprotocol == "botcenter.v1"
    assert (await next_frame(wa))["type"] == "hello"
    await subscribe(wa)
    await subscribe(wb)

    sent: dict[uuid.UUID, list[str]] = {alice: [], bob: []}
    for i in range(20):
        for owner, bots in ((alice, a_bots), (bob, b_bots)):
            ev = log_line(owner, bots[i % 2], f"{owner} {i}", "error" if i % 3 == 0 else "info")
            await publisher.publish("log", ev.level, ev)
            sent[owner].append(str(ev.id))
    got_a = await events_until(wa, sent[alice][-1])
    got_b = await events_until(wb, sent[bob][-1])
    assert [f["id"] for f in got_a] == sent[alice]
    assert [f["id"] for f in got_b] == sent[bob]
    assert all(f["event"]["workspace_id"] == str(alice) for f in got_a)
    assert [f["seq"] for f in got_a] == sorted(f["seq"] for f in got_a)

    # New filters apply from the next event on: only errors of alice's first bot.
    await subscribe(wa, bot_ids=[str(a_bots[0])], levels=["error"])
    expected = []
    for i in range(12):
        ev = log_line(alice, a_bots[i % 2], f"filtered {i}", "error" if i % 2 == 0 else "info")
        await publisher.publish("log", ev.level, ev)
        if i % 2 == 0:
            expected.append(str(ev.id))
    got = await events_until(wa, expected[-1])
    assert [f["id"] for f in got] == expected
    await wa.close()
    await wb.close()


async def test_credentials_tickets_revocation_and_origin(
    auth_stack, start_service, publisher, rpc
) -> None:
    # auth_stack: verifying a token (even a forged one) needs auth-service's JWKS; without
    # it the stream answers 1013 (try again later), not 4401.
    del auth_stack
    log = start_service("log", LOG_STREAM_ALLOWED_ORIGINS="https://console.example")
    alice = uuid.uuid4()

    # No credentials, a forged token, an unknown ticket: closed with 4401 and a reason.
    forged = "eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    for kwargs in ({}, {"token": forged}, {"ticket": "no-such-ticket"}):
        ws = await open_stream(log.url, **kwargs)
        code, reason = await close_code(ws)
        assert code == 4401
        assert reason

    # A browser page from another origin cannot open the stream; the allowed one can.
    with pytest.raises(InvalidStatus):
        await open_stream(
            log.url, ticket=await ticket_for(rpc, alice), origin="https://evil.example"
        )
    ok = await open_stream(
        log.url, ticket=await ticket_for(rpc, alice), origin="https://console.example"
    )
    assert (await next_frame(ok))["type"] == "hello"
    await ok.close()

    # A ticket opens one stream, once.
    value = await ticket_for(rpc, alice)
    wt = await open_stream(log.url, ticket=value)
    assert (await next_frame(wt))["type"] == "hello"
    again = await open_stream(log.url, ticket=value)
    code, _ = await close_code(again)
    assert code == 4401

    # Log out everywhere: open streams close, and a credential issued before it is refused.
    unused = await ticket_for(rpc, alice)
    await subscribe(wt)
    await publisher.publish("auth", "sessions_revoked", SessionsRevoked(owner_id=alice))
    code, reason = await close_code(wt)
    assert code == 4401
    assert "signed out" in reason
    refused = await open_stream(log.url, ticket=unused)
    code, _ = await close_code(refused)
    assert code == 4401
    fresh = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    assert (await next_frame(fresh))["type"] == "hello"
    await fresh.close()
