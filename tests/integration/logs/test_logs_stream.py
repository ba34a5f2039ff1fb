"""The live stream: per-user isolation, filters, auth (tokens, tickets, revocation), origin."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from websockets.exceptions import InvalidStatus

from proto.auth import SessionsRevoked
from proto.base import Empty
from proto.logs import STREAM_TICKET
from tests.fixtures.logs import (
    close_code,
    events_until,
    log_line,
    next_frame,
    open_stream,
    subscribe,
)


@pytest.mark.parametrize("server", ["picows", "asgi"])
async def test_each_user_gets_only_their_events_and_filters_change_live(
    start_service, fake_auth, publisher, server
) -> None:
    log = start_service("log", LOG_STREAM_SERVER=server)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a_bots, b_bots = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]
    wa = await open_stream(log.url, token=fake_auth.mint(alice))
    wb = await open_stream(log.url, token=fake_auth.mint(bob))
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
    assert all(f["event"]["owner_id"] == str(alice) for f in got_a)
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


async def test_tokens_tickets_revocation_and_origin(
    start_service, fake_auth, publisher, rpc
) -> None:
    log = start_service("log", LOG_STREAM_ALLOWED_ORIGINS="https://console.example")
    alice = uuid.uuid4()

    # No credentials, a forged token, an expired token: closed with 4401 and a reason.
    for kwargs in (
        {},
        {"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
        {"token": fake_auth.mint(alice, ttl_s=-10)},
    ):
        ws = await open_stream(log.url, **kwargs)
        code, reason = await close_code(ws)
        assert code == 4401
        assert reason

    # A browser page from another origin cannot open the stream; the allowed one can.
    with pytest.raises(InvalidStatus):
        await open_stream(log.url, token=fake_auth.mint(alice), origin="https://evil.example")
    ok = await open_stream(log.url, token=fake_auth.mint(alice), origin="https://console.example")
    assert (await next_frame(ok))["type"] == "hello"
    await ok.close()

    # A ticket opens one stream, once.
    ticket = await rpc.call(STREAM_TICKET, Empty(), user_id=alice)
    value = ticket.protocols[1].removeprefix("ticket.")
    wt = await open_stream(log.url, ticket=value)
    assert (await next_frame(wt))["type"] == "hello"
    again = await open_stream(log.url, ticket=value)
    code, _ = await close_code(again)
    assert code == 4401

    # Log out everywhere: open streams close, and the old token no longer opens one.
    old = fake_auth.mint(alice, iat=time.time() - 10)
    ws = await open_stream(log.url, token=old)
    await subscribe(ws)
    await publisher.publish(
        "auth",
        "sessions_revoked",
        SessionsRevoked(owner_id=alice, occurred_at=datetime.now(UTC) - timedelta(seconds=5)),
    )
    code, reason = await close_code(ws)
    assert code == 4401
    assert "signed out" in reason
    await wt.close()
    refused = await open_stream(log.url, token=old)
    code, _ = await close_code(refused)
    assert code == 4401
    fresh = await open_stream(log.url, token=fake_auth.mint(alice))
    assert (await next_frame(fresh))["type"] == "hello"
    await fresh.close()
