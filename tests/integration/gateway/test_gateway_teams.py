"""The gateway's team routes (#17) end to end: real gateway replicas, auth-service,
PostgreSQL and NATS, users signed in through the OAuth flow. What a person sees: their
workspaces in `GET /v1/me` with role and permissions, invitations, 403 naming the missing
permission vs 404 for someone else's workspace, and a removal reaching every replica."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from proto.access import BUILTIN_ROLES, PERMISSION_NAMES
from tests.fixtures.auth import AuthStack, sign_in
from tests.fixtures.infra import apoll


def _team(me: dict[str, Any], workspace_id: str) -> dict[str, Any] | None:
    return next((w for w in me["workspaces"] if w["id"] == workspace_id), None)


async def test_a_team_from_creation_to_removal(auth_stack: AuthStack, sandbox) -> None:
    stack = auth_stack
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox)
    carol = await sign_in(stack.url, sandbox)
    second = stack.extra_gateway()
    try:
        async with (
            httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as a,
            httpx.AsyncClient(base_url=stack.url, headers=bob.headers) as b,
            httpx.AsyncClient(base_url=second.url, headers=bob.headers) as b2,
            httpx.AsyncClient(base_url=stack.url, headers=carol.headers) as c,
        ):
            # Everyone has a personal workspace (id = their user id), with every permission.
            me = (await a.get("/v1/me")).json()
            assert me["id"] == str(alice.user_id)
            assert me["workspaces"] == [{
                "id": str(alice.user_id), "name": "Personal", "personal": True,
                "role": "owner", "permissions": list(PERMISSION_NAMES), "bot_ids": [],
            }]

            made = await a.post("/v1/workspaces", json={"name": "Night Shift"})
            assert made.status_code == 201, made.text
            team = made.json()
            assert {k: team[k] for k in ("name", "personal", "role")} == {
                "name": "Night Shift", "personal": False, "role": "owner"}
            assert set(team) >= {"id", "permissions", "created_at"}
            ws = team["id"]
            # The creator's cached access includes it as soon as AccessChanged arrives
            # (auth's outbox publishes it just after the commit), long before the TTL.

            async def listed_for_alice() -> bool:
                return _team((await a.get("/v1/me")).json(), ws) is not None

            await apoll(listed_for_alice, timeout_s=3, interval_s=0.05, what="new workspace")
            listed = (await a.get("/v1/workspaces")).json()["workspaces"]
            assert {w["id"] for w in listed} == {str(alice.user_id), ws}

            # Bob is not a member yet: the workspace does not exist for him.
            assert (await b.get(f"/v1/workspaces/{ws}")).status_code == 404
            # Bob's second replica has his access cached before he joins.
            assert _team((await b2.get("/v1/me")).json(), ws) is None

            invite = await a.post(f"/v1/workspaces/{ws}/invitations", json={"role": "operator"})
            assert invite.status_code == 201, invite.text
            link = invite.json()
            assert set(link) == {"id", "token", "url", "role", "bot_ids", "expires_at"}
            assert link["url"].endswith(link["token"])
            pending = (await a.get(f"/v1/workspaces/{ws}/invitations")).json()["invitations"]
            assert [p["id"] for p in pending] == [link["id"]]
            assert link["token"] not in str(pending)

            # Before accepting, Bob's invitation page can say what he is joining.
            preview = await b.get(f"/v1/invitations/{link['token']}")
            assert preview.status_code == 200, preview.text
            assert preview.json() == {
                "workspace_id": ws, "workspace_name": "Night Shift", "role": "operator",
                "bot_count": 0, "invited_by": alice.user["display_name"],
                "expires_at": link["expires_at"], "already_member": False}
            async with httpx.AsyncClient(base_url=stack.url) as anonymous:
                assert (await anonymous.get(f"/v1/invitations/{link['token']}")).status_code \
                    == 401

            accepted = await b.post(f"/v1/invitations/{link['token']}/accept")
            assert accepted.status_code == 200, accepted.text
            assert accepted.json() == {"workspace_id": ws, "joined": True}
            assert (await b.get(f"/v1/invitations/{link['token']}")).json()["already_member"]
            again = await b.post(f"/v1/invitations/{link['token']}/accept")
            assert again.json() == {"workspace_id": ws, "joined": False}
            # Used up for anyone else.
            used = await c.post(f"/v1/invitations/{link['token']}/accept")
            assert used.status_code == 410, used.text

            operator = sorted(BUILTIN_ROLES["operator"].permissions,
                              key=PERMISSION_NAMES.index)

            async def operator_everywhere() -> bool:
                for api in (b, b2):  # both replicas, without waiting for a TTL
                    mine = _team((await api.get("/v1/me")).json(), ws)
                    if mine is None:
                        return False
                    assert mine["role"] == "operator"
                    assert mine["permissions"] == operator
                return True

            await apoll(operator_everywhere, timeout_s=3, interval_s=0.05, what="joined")

            members = (await b.get(f"/v1/workspaces/{ws}/members")).json()["members"]
            assert {m["user_id"]: m["role"] for m in members} == {
                str(alice.user_id): "owner", str(bob.user_id): "operator"}

            # Visible but not allowed: 403 naming the permission; nothing changed.
            renamed = await b.patch(f"/v1/workspaces/{ws}", json={"name": "Mine now"})
            assert renamed.status_code == 403, renamed.text
            assert renamed.json()["error"]["details"]["missing_permission"] == "workspace.admin"
            assert (await a.get(f"/v1/workspaces/{ws}")).json()["name"] == "Night Shift"
            # Not a member: 404 on every route, never 403.
            for method, path, body in (
                ("GET", f"/v1/workspaces/{ws}", None),
                ("PATCH", f"/v1/workspaces/{ws}", {"name": "x"}),
                ("GET", f"/v1/workspaces/{ws}/members", None),
                ("GET", f"/v1/workspaces/{ws}/roles", None),
                ("POST", f"/v1/workspaces/{ws}/invitations", {"role": "viewer"}),
                ("DELETE", f"/v1/workspaces/{ws}/members/{bob.user_id}", None),
                ("POST", f"/v1/workspaces/{ws}/leave", None),
            ):
                r = await c.request(method, path, json=body)
                assert r.status_code == 404, (method, path, r.text)

            # Alice removes Bob: every replica forgets his access (AccessChanged), at once.
            removed = await a.delete(f"/v1/workspaces/{ws}/members/{bob.user_id}")
            assert removed.status_code == 204, removed.text
            started = time.monotonic()

            async def gone_everywhere() -> bool:
                for api in (b, b2):
                    if _team((await api.get("/v1/me")).json(), ws) is not None:
                        return False
                return True

            await apoll(gone_everywhere, timeout_s=5, interval_s=0.05,
                        what="removed member's access dropped on both replicas")
            # Well under the 30 s TTL: the event did it (the issue asks for 1 s; the bench
            # measures the percentile).
            assert time.monotonic() - started < 3
            assert (await b2.get(f"/v1/workspaces/{ws}")).status_code == 404
    finally:
        second.stop()


async def test_roles_permissions_and_bad_input(auth_stack: AuthStack, sandbox) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as a:
        perms = (await a.get("/v1/permissions")).json()["permissions"]
        assert [p["name"] for p in perms] == list(PERMISSION_NAMES)
        assert all(p["description"] for p in perms)

        long = await a.post("/v1/workspaces", json={"name": "n" * 500})
        assert long.status_code == 422
        assert long.json()["error"]["fields"][0]["loc"][-1] == "name"
        assert (await a.post("/v1/workspaces", json={"name": "   "})).status_code == 422
        ws = (await a.post("/v1/workspaces", json={"name": "Roles"})).json()["id"]

        unknown = await a.post(f"/v1/workspaces/{ws}/roles",
                               json={"name": "mods", "permissions": ["bots.view", "bots.fly"]})
        assert unknown.status_code == 422, unknown.text
        assert "bots.fly" in unknown.text
        role = await a.post(f"/v1/workspaces/{ws}/roles",
                            json={"name": "mods", "permissions": ["bots.view", "logs.view"]})
        assert role.status_code == 201, role.text
        rid = role.json()["id"]
        patched = await a.patch(f"/v1/workspaces/{ws}/roles/{rid}",
                                json={"permissions": ["bots.view"]})
        assert patched.status_code == 200, patched.text
        assert patched.json()["permissions"] == ["bots.view"]
        roles = (await a.get(f"/v1/workspaces/{ws}/roles")).json()["roles"]
        assert {r["id"] for r in roles} >= {"owner", "viewer", rid}

        bad_role = await a.post(f"/v1/workspaces/{ws}/invitations", json={"role": "emperor"})
        assert bad_role.status_code == 422
        link = (await a.post(f"/v1/workspaces/{ws}/invitations", json={"role": rid})).json()
        revoked = await a.delete(f"/v1/workspaces/{ws}/invitations/{link['id']}")
        assert revoked.status_code == 204
        bob = await sign_in(auth_stack.url, sandbox)
        async with httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers) as b:
            gone = await b.post(f"/v1/invitations/{link['token']}/accept")
            assert gone.status_code == 410
            assert gone.json()["error"]["message"]
            seen = await b.get(f"/v1/invitations/{link['token']}")
            assert (seen.status_code, seen.json()["error"]["message"]) == (
                410, gone.json()["error"]["message"])
            assert (await b.get(f"/v1/invitations/bci_{uuid.uuid4().hex}")).status_code == 404
            assert (await b.post(f"/v1/invitations/bci_{uuid.uuid4().hex}/accept")).status_code \
                == 404

        # The owner cannot leave without transferring; the path's ids are the contract's.
        assert (await a.post(f"/v1/workspaces/{ws}/leave")).status_code == 409
        assert (await a.delete(f"/v1/workspaces/{ws}/roles/{rid}")).status_code == 204

        # A personal token sees its owner's workspaces, narrowed to its scopes, and cannot
        # delete or transfer a workspace (a session is needed).
        created = await a.post("/v1/me/tokens", json={"name": "ro", "scopes": ["bots:read"]})
        pat = {"Authorization": f"Bearer {created.json()['token']}"}
        me = (await a.get("/v1/me", headers=pat)).json()
        assert {w["id"]: w["permissions"] for w in me["workspaces"]} == {
            str(alice.user_id): ["bots.view", "logs.view"], ws: ["bots.view", "logs.view"]}
        # A token made for one workspace with a permission subset sees only that.
        scoped = await a.post("/v1/me/tokens", json={
            "name": "ws", "scopes": ["bots:read"], "workspace_id": ws,
            "permissions": ["bots.view", "bots.control"]})
        assert scoped.status_code == 201, scoped.text
        narrow = {"Authorization": f"Bearer {scoped.json()['token']}"}
        me = (await a.get("/v1/me", headers=narrow)).json()
        assert {w["id"]: w["permissions"] for w in me["workspaces"]} == {
            ws: ["bots.view", "bots.control"]}
        refused = await a.request("DELETE", f"/v1/workspaces/{ws}", headers=pat,
                                  json={"confirm_name": "Roles"})
        assert refused.status_code == 403
        refused = await a.post(f"/v1/workspaces/{ws}/transfer", headers=pat,
                               json={"user_id": str(bob.user_id)})
        assert refused.status_code == 403

        wrong = await a.request("DELETE", f"/v1/workspaces/{ws}", json={"confirm_name": "roles"})
        assert wrong.status_code == 422, wrong.text
        deleted = await a.request("DELETE", f"/v1/workspaces/{ws}", json={"confirm_name": "Roles"})
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["workspace_id"] == ws

        async def forgotten() -> bool:
            return _team((await a.get("/v1/me")).json(), ws) is None

        await apoll(forgotten, timeout_s=3, interval_s=0.05, what="deleted workspace gone")


async def test_the_audit_trail_through_the_gateway(auth_stack: AuthStack, sandbox,
                                                   start_service) -> None:
    """auth records the team's changes (outbox → AUDIT → log-service's chain); the gateway
    lists them newest first with filters and exports them; audit.view is needed (403 naming
    it) and a stranger's workspace does not exist (404)."""
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    async with (
        httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as a,
        httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers) as b,
    ):
        ws = (await a.post("/v1/workspaces", json={"name": "Audited"})).json()["id"]
        renamed = await a.patch(f"/v1/workspaces/{ws}", json={"name": "Audited 2"},
                                headers={"user-agent": "=HYPERLINK(1)"})
        assert renamed.status_code == 200, renamed.text
        trail = f"/v1/workspaces/{ws}/audit"

        async def both_listed() -> bool:
            page = await a.get(trail)
            return page.status_code == 200 and len(page.json()["items"]) >= 2

        await apoll(both_listed, timeout_s=10, interval_s=0.2, what="audit records listed")
        page = (await a.get(trail)).json()
        assert set(page) == {"items", "next_cursor"}
        actions = [item["action"] for item in page["items"]]
        assert actions[:2] == ["workspace.update", "workspace.create"]  # newest first
        update = page["items"][0]
        assert update["actor_user_id"] == str(alice.user_id)
        assert update["workspace_id"] == ws
        assert update["user_agent"] == "=HYPERLINK(1)"  # bc-client reached the record
        only = (await a.get(trail, params={"action": "workspace.create"})).json()["items"]
        assert [i["action"] for i in only] == ["workspace.create"]
        assert (await a.get(trail, params={"action": "bot.fly"})).status_code == 422

        export = await a.get(f"{trail}/export", params={"format": "csv"})
        assert export.status_code == 200, export.text
        assert export.headers["content-disposition"].startswith("attachment")
        assert len(export.text.strip().splitlines()) == 1 + len(page["items"])
        assert "'=HYPERLINK(1)" in export.text  # a formula-looking cell is quoted

        assert (await b.get(trail)).status_code == 404
        link = (await a.post(f"/v1/workspaces/{ws}/invitations",
                             json={"role": "viewer"})).json()
        assert (await b.post(f"/v1/invitations/{link['token']}/accept")).status_code == 200

        async def viewer_refused() -> bool:
            r = await b.get(trail)
            return r.status_code == 403 and (
                r.json()["error"]["details"]["missing_permission"] == "audit.view")

        await apoll(viewer_refused, timeout_s=5, interval_s=0.1, what="viewer lacks audit.view")
