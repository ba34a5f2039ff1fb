"""The role matrix (#17): every gateway route that touches a workspace's resources x every
kind of caller → allowed, 403 naming the missing permission, or 404 — generated from one
table (tests/fixtures/teams.py::ROUTES, from the issue's roles and plan §3.4) and run on the
whole stack (gateway, auth, bot, command, storage, log) in a team workspace.

Then the cross-workspace probe: a member of another workspace tries every route on this
workspace's ids and gets 404 each time, the workspace unchanged; and their live stream shows
none of its events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
from nats.aio.client import Client as NATS
from websockets.exceptions import ConnectionClosed

from proto.errors import ErrorCode
from proto.logs import STREAM_TICKET, StreamTicketRequest
from services.bus.events import EventPublisher
from services.bus.rpc import RpcClient
from services.errors import RpcError
from tests.fixtures.auth import AuthStack, sign_in
from tests.fixtures.infra import apoll
from tests.fixtures.logs import log_line, next_frame, open_stream, subscribe
from tests.fixtures.teams import (
    KNOWN_GAPS,
    NOT_WORKSPACE_ROUTES,
    ROLES,
    ROUTES,
    Route,
    TeamWorld,
    expected,
    fill,
    run_row,
)

METHODS = ("get", "post", "put", "patch", "delete")


async def test_the_table_covers_every_workspace_route_of_the_openapi_document(
    auth_stack: AuthStack,
) -> None:
    """A new route must get a row (or be named as touching no workspace): it cannot be
    forgotten by the matrix."""
    async with httpx.AsyncClient(base_url=auth_stack.url) as api:
        document = (await api.get("/openapi.json")).json()
    served = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }
    rows = {(r.method, r.path) for r in ROUTES}
    assert rows - served == set(), "rows for routes the gateway does not serve"
    assert served - rows - NOT_WORKSPACE_ROUTES == set(), "routes missing from the matrix"
    assert rows & NOT_WORKSPACE_ROUTES == set()


def _snapshot_paths(w: TeamWorld) -> list[str]:
    ws, ids = w.ws, w.ids
    q = f"?workspace_id={ws}"
    return [
        f"/v1/workspaces/{ws}", f"/v1/workspaces/{ws}/members", f"/v1/workspaces/{ws}/roles",
        f"/v1/workspaces/{ws}/invitations", f"/v1/bots{q}", f"/v1/bots/{ids['bot']}",
        f"/v1/bots/{ids['bot']}/commands", f"/v1/bots/{ids['bot']}/commands/settings",
        f"/v1/bots/{ids['bot']}/commands/{ids['cmd']}", f"/v1/prompts{q}",
        f"/v1/connections{q}", f"/v1/files{q}",
    ]  # fmt: skip


async def _snapshot(w: TeamWorld) -> dict[str, Any]:
    async with w.client("owner") as api:
        return {path: (await api.get(path)).json() for path in _snapshot_paths(w)}


async def test_a_member_of_another_workspace_gets_404_on_every_route_and_changes_nothing(
    team_world: TeamWorld,
) -> None:
    w = team_world
    before = await _snapshot(w)
    app = await w.sandbox_control.create_application(f"P{uuid.uuid4().hex[:6]}")
    # The ids are all the workspace's own (no throwaway target: nothing may change).
    ids = {**w.ids, "token": app.token, "user": str(w.people["admin"].user_id)}
    answers: dict[str, int] = {}
    for route in ROUTES:
        kwargs = route.body(w, ids) if route.body else {}
        r = await w.call("non_member", route.method, fill(route.path, ids), **kwargs)
        answers[route.id] = r.status_code
    known = {route for route, role in KNOWN_GAPS if role == "non_member"}
    assert {k: v for k, v in answers.items() if v != 404 and k not in known} == {}
    assert await _snapshot(w) == before


async def _subscribed_or_closed(ws: Any, bot_ids: list[str]) -> tuple[bool, int | None]:
    await ws.send(orjson.dumps({"type": "subscribe", "bot_ids": bot_ids}).decode())
    try:
        while (frame := await next_frame(ws))["type"] != "subscribed":
            if frame["type"] == "error":
                return False, None
    except ConnectionClosed:
        return False, ws.close_code
    return True, None


async def test_the_live_stream_shows_another_workspaces_events_to_no_stranger(
    team_world: TeamWorld, nc: NATS, publisher: EventPublisher
) -> None:
    w = team_world
    team_bot, own_bot = w.ids["bot"], w.own_ids["bot"]
    # A ticket for the team's workspace is refused to the stranger (the gateway asks this
    # RPC as the caller): 404, as for every other route.
    rpc = RpcClient(nc, "gateway", timeout_s=10.0)
    with pytest.raises(RpcError) as refused:
        await rpc.call(
            STREAM_TICKET,
            StreamTicketRequest(workspace_id=uuid.UUID(w.ws)),
            user_id=w.people["non_member"].user_id,
        )
    assert refused.value.code == ErrorCode.NOT_FOUND

    owner = await open_stream(w.url, token=w.people["owner"].access_token)
    stranger = await open_stream(w.url, token=w.people["non_member"].access_token)
    try:
        assert (await next_frame(owner))["type"] == "hello"
        hello = await next_frame(stranger)
        assert w.ws not in hello.get("workspace_ids", [])
        assert (await _subscribed_or_closed(owner, [team_bot]))[0]
        # Asking for the team's bot by id: refused, or subscribed and shown nothing of it.
        open_, code = await _subscribed_or_closed(stranger, [team_bot, own_bot])
        if not open_:
            assert code in (None, 4403), code
            return
        secret = log_line(uuid.UUID(w.ws), uuid.UUID(team_bot), "team-only line")
        await publisher.publish("log", "info", secret)
        while (frame := await next_frame(owner))["type"] != "event":
            pass
        assert frame["id"] == str(secret.id)
        mine = log_line(uuid.UUID(w.own_ws), uuid.UUID(own_bot), "stranger's own line")
        await publisher.publish("log", "info", mine)
        seen: list[str] = []
        while True:
            frame = await next_frame(stranger)
            if frame["type"] == "event":
                seen.append(frame["id"])
                if frame["id"] == str(mine.id):
                    break
        assert str(secret.id) not in seen
    finally:
        await asyncio.gather(owner.close(), stranger.close())


async def test_a_stream_open_before_joining_shows_the_workspace_joined(
    team_world: TeamWorld, publisher: EventPublisher
) -> None:
    """The console keeps its stream open across an invitation's accept: the workspace joined
    shows on it without a reconnect (a ticket issued just before the gateway heard of the
    join once left it blind to the team for good)."""
    w = team_world
    person = await sign_in(w.url, w.sandbox)
    ws = await open_stream(w.url, token=person.access_token)
    try:
        hello = await next_frame(ws)
        assert w.ws not in hello.get("workspace_ids", [])
        await subscribe(ws)
        await w.join(person, w.ws, "viewer")
        team, bot = uuid.UUID(w.ws), uuid.UUID(w.ids["bot"])

        async def shown() -> bool:
            # The access change reaches log-service on its own subject: publish until a line
            # of the team shows, each awaited briefly (none may be shown before the change).
            line = log_line(team, bot, "after the join")
            await publisher.publish("log", "info", line)
            try:
                while (frame := await next_frame(ws, timeout_s=0.5))["type"] != "event":
                    pass
            except TimeoutError:
                return False
            return bool(frame["bot_id"] == str(bot))

        await apoll(shown, timeout_s=10, interval_s=0.1, what="the team's line on the stream")
    finally:
        await ws.close()


async def test_within_its_limit_a_bot_limited_member_acts_as_its_role(
    team_world: TeamWorld,
) -> None:
    """The matrix's target bot is outside the limit (404); the bot inside it answers as for
    any developer: readable, commands editable, not startable (403 naming bots.control)."""
    w = team_world
    bot = w.ids["other_bot"]
    assert (await w.call("bot_limited", "GET", f"/v1/bots/{bot}")).status_code == 200
    made = await w.call(
        "bot_limited", "POST", f"/v1/bots/{bot}/commands", json={
            "name": "limited", "description": "d",
            "response": {"type": "template", "content": "ok"}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    start = await w.call("bot_limited", "POST", f"/v1/bots/{bot}/start")
    assert start.status_code == 403, start.text
    assert start.json()["error"]["details"]["missing_permission"] == "bots.control"
    listed = await w.call("bot_limited", "GET", "/v1/bots", params={"workspace_id": w.ws})
    assert [b["id"] for b in listed.json()["bots"]] == [bot]


CASES = [
    pytest.param(
        route, role, id=f"{route.id} x {role}",
        marks=[pytest.mark.xfail(reason=KNOWN_GAPS[route.id, role], strict=True)]
        if (route.id, role) in KNOWN_GAPS else [],
    )
    for route in ROUTES
    for role in ROLES
]  # fmt: skip


@pytest.mark.parametrize(("route", "role"), CASES)
async def test_role_matrix(team_world: TeamWorld, route: Route, role: str) -> None:
    want = expected(route, role)
    r = await run_row(team_world, route, role)
    if want.status is None:
        assert 200 <= r.status_code < 300 or r.status_code in route.ok, r.text
        return
    assert r.status_code == want.status, r.text
    if want.status == 403:
        details = r.json()["error"].get("details") or {}
        if want.missing:
            assert details.get("missing_permission") in want.missing, r.text
