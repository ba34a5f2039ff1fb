"""Bad input to the team routes through the gateway (#17): each a clear 4xx and nothing
half-done. What tests/integration/auth/test_auth_workspaces.py (over NATS) and
tests/integration/gateway/test_gateway_teams.py already cover is not repeated here: a 500-
character name, unknown permissions, an unknown built-in or custom role, an invitee
accepting twice, 1,000 members made in the database. Added: the last owner through the
HTTP routes, the owner accepting an invitation to their own workspace (twice), and 1,000
members who joined through the real accept path, listed and managed through the gateway."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid

import asyncpg
import httpx
from nats.aio.client import Client as NATS

from proto.workspaces import INVITATION_ACCEPT, AcceptInvitation
from services.bus.rpc import RpcClient
from services.db.engine import plain_url
from tests.fixtures.auth import AuthStack, sign_in

MEMBERS = 1000


async def test_the_last_owner_stays_and_accepting_ones_own_link_is_a_no_op(
    auth_stack: AuthStack, sandbox
) -> None:
    alice, bob = [await sign_in(auth_stack.url, sandbox) for _ in range(2)]
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as a:
        ws = (await a.post("/v1/workspaces", json={"name": "Owned"})).json()["id"]
        members = f"/v1/workspaces/{ws}/members"

        for method, body in (("DELETE", None), ("PATCH", {"role": "admin"})):
            r = await a.request(method, f"{members}/{alice.user_id}", json=body)
            assert r.status_code == 409, r.text
            assert r.json()["error"]["message"]
        assert (await a.post(f"/v1/workspaces/{ws}/leave")).status_code == 409
        listed = (await a.get(members)).json()["members"]
        assert [(m["user_id"], m["role"]) for m in listed] == [(str(alice.user_id), "owner")]

        link = (await a.post(f"/v1/workspaces/{ws}/invitations", json={"role": "viewer"})).json()
        for _ in range(2):
            own = await a.post(f"/v1/invitations/{link['token']}/accept")
            assert own.status_code == 200, own.text
            assert own.json() == {"workspace_id": ws, "joined": False}
        # Still the owner, and the link was not used up: someone else can still join with it.
        me = (await a.get(f"/v1/workspaces/{ws}")).json()
        assert me["role"] == "owner"
        pending = (await a.get(f"/v1/workspaces/{ws}/invitations")).json()["invitations"]
        assert [p["id"] for p in pending] == [link["id"]]
        joined = await a.post(f"/v1/invitations/{link['token']}/accept", headers=bob.headers)
        assert joined.json() == {"workspace_id": ws, "joined": True}


async def test_a_thousand_members_join_through_invitations(
    auth_stack: AuthStack, sandbox, nc: NATS, infra
) -> None:
    """1,000 people accept 1,000 single-use links through the real accept path (over NATS,
    as the gateway calls it); the gateway then lists and manages them."""
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as a:
        ws = (await a.post("/v1/workspaces", json={"name": "Crowd"})).json()["id"]
    # The people and their links are made in the database (1,000 OAuth sign-ins would take
    # minutes); each link is a token whose SHA-256 is stored, as auth-service makes them.
    tokens = [f"bci_{secrets.token_urlsafe(32)}" for _ in range(MEMBERS)]
    admin = await asyncpg.connect(plain_url(infra.database_url))
    try:
        rows = await admin.fetch(
            "insert into auth.users (id, display_name) select gen_random_uuid(), "
            "'crowd ' || i from generate_series(1, $1) i returning id",
            MEMBERS,
        )
        await admin.execute(
            "insert into auth.invitations (id, workspace_id, token_digest, builtin_role, "
            "created_by, expires_at) select gen_random_uuid(), $1, d, 'viewer', $2, "
            "now() + interval '1 day' from unnest($3::bytea[]) d",
            uuid.UUID(ws),
            alice.user_id,
            [hashlib.sha256(t.encode()).digest() for t in tokens],
        )
    finally:
        await admin.close()
    people = [row["id"] for row in rows]
    rpc = RpcClient(nc, "gateway", timeout_s=30.0)
    gate = asyncio.Semaphore(32)

    async def joins(person: uuid.UUID, token: str) -> bool:
        async with gate:
            done = await rpc.call(INVITATION_ACCEPT, AcceptInvitation(token=token), user_id=person)
            return bool(done.joined)

    assert all(await asyncio.gather(*(joins(p, t) for p, t in zip(people, tokens, strict=True))))

    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as a:
        listed = (await a.get(f"/v1/workspaces/{ws}/members")).json()["members"]
        assert len(listed) == MEMBERS + 1
        assert {m["user_id"] for m in listed} == {str(alice.user_id), *map(str, people)}
        assert (await a.get(f"/v1/workspaces/{ws}/invitations")).json()["invitations"] == []
        # Managing one of them is as quick and exact as in a small team.
        someone = people[MEMBERS // 2]
        raised = await a.patch(f"/v1/workspaces/{ws}/members/{someone}", json={"role": "operator"})
        assert raised.status_code == 200, raised.text
        assert raised.json()["role"] == "operator"
        gone = await a.delete(f"/v1/workspaces/{ws}/members/{people[0]}")
        assert gone.status_code == 204, gone.text
        after = (await a.get(f"/v1/workspaces/{ws}/members")).json()["members"]
        assert len(after) == MEMBERS
        assert str(people[0]) not in {m["user_id"] for m in after}
