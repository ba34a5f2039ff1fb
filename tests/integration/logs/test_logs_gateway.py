"""The public API through the gateway, signed in for real: /v1/logs, export, summary,
stream tickets and the proxied websocket (closed when the user signs out everywhere)."""

from __future__ import annotations

import uuid

import httpx
import orjson

from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll
from tests.fixtures.logs import (
    close_code,
    events_until,
    log_line,
    next_frame,
    open_stream,
    subscribe,
)


async def test_logs_api_and_stream_through_the_gateway(
    auth_stack, sandbox, start_service, publisher, bot_directory
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    bot = bot_directory.add(alice.user_id)  # in alice's personal workspace
    mine = [
        log_line(alice.user_id, bot, f"alice {i}", "error" if i == 1 else "info") for i in range(3)
    ]
    for ev in mine:
        await publisher.publish("log", ev.level, ev)
    await publisher.publish("log", "info", log_line(bob.user_id, uuid.uuid4(), "bob's"))

    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as api:

        async def three() -> list:
            items = (await api.get("/v1/logs")).json()["items"]
            return items if len(items) == 3 else []

        items = await apoll(three, timeout_s=20, what="alice's events")
        assert [i["message"] for i in items] == ["alice 2", "alice 1", "alice 0"]
        errors = (await api.get("/v1/logs", params={"level": "error,critical"})).json()
        assert [i["message"] for i in errors["items"]] == ["alice 1"]
        # One line by its event id (what a command's result links to); not bob's.
        one = (await api.get("/v1/logs", params={"event_id": str(mine[0].id)})).json()
        assert [i["message"] for i in one["items"]] == ["alice 0"]
        async with httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers) as other:
            theirs = (await other.get("/v1/logs", params={"event_id": str(mine[0].id)})).json()
            assert theirs["items"] == []
        page = (await api.get("/v1/logs", params={"limit": 2})).json()
        rest = (await api.get("/v1/logs", params={"cursor": page["next_cursor"]})).json()
        assert [i["message"] for i in page["items"] + rest["items"]] == [
            "alice 2",
            "alice 1",
            "alice 0",
        ]
        bad = await api.get("/v1/logs", params={"level": "loud"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "validation"

        export = await api.get("/v1/logs/export", params={"bot_id": str(bot)})
        assert export.status_code == 200
        assert export.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(x) for x in export.content.splitlines()]
        assert [x["message"] for x in lines] == ["alice 2", "alice 1", "alice 0"]

        summary = (await api.get(f"/v1/bots/{bot}/events/summary")).json()
        assert summary["total"] == 3
        assert {(c["level"], c["count"]) for c in summary["counts"]} == {("info", 2), ("error", 1)}
        async with httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers) as other:
            hidden = await other.get(f"/v1/bots/{bot}/events/summary")
            assert hidden.status_code == 404, hidden.text

        ticket = (await api.post("/v1/stream/ticket")).json()
        assert ticket["protocols"][0] == "botcenter.v1"

    async with httpx.AsyncClient(base_url=auth_stack.url) as anon:
        assert (await anon.get("/v1/logs")).status_code == 401
        assert (await anon.post("/v1/stream/ticket")).status_code == 401

    # The websocket through the gateway: with a ticket, and with the access token.
    by_ticket = await open_stream(auth_stack.url, ticket=ticket["ticket"])
    by_token = await open_stream(auth_stack.url, token=alice.access_token)
    bobs = await open_stream(auth_stack.url, token=bob.access_token)
    for ws in (by_ticket, by_token, bobs):
        assert ws.subprotocol == "botcenter.v1"
        assert (await next_frame(ws))["type"] == "hello"
        await subscribe(ws)
    live = log_line(alice.user_id, bot, "live through the gateway")
    await publisher.publish("log", "info", live)
    for ws in (by_ticket, by_token):
        got = await events_until(ws, live.id)
        assert [f["event"]["message"] for f in got] == ["live through the gateway"]
    marker = log_line(bob.user_id, None, "bob's marker")
    await publisher.publish("log", "info", marker)
    assert [f["id"] for f in await events_until(bobs, marker.id)] == [str(marker.id)]

    # Signing out everywhere closes alice's open streams; bob's stays open.
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as api:
        assert (await api.post("/v1/auth/logout-all")).status_code == 204
    code, reason = await close_code(by_token)
    assert code == 4401
    assert "signed out" in reason
    refused = await open_stream(auth_stack.url, token=alice.access_token)
    code, _ = await close_code(refused)
    assert code == 4401
    marker = log_line(bob.user_id, None, "bob still here")
    await publisher.publish("log", "info", marker)
    assert [f["id"] for f in await events_until(bobs, marker.id)] == [str(marker.id)]
    await by_ticket.close()
    await bobs.close()
