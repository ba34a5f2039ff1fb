"""Attacks on tenancy (#17) through the real gateway and auth-service: a caller who forges
the internal headers that carry identity and access between services (`bc-user-id`,
`bc-access`) gets nothing from them — the gateway sets both itself on every call — and a
member cannot raise their own role."""

from __future__ import annotations

import httpx

from proto import headers as H
from proto.access import PERMISSION_NAMES, Access, Grant, permission_mask
from tests.fixtures.auth import sign_in


async def test_forged_identity_and_access_headers_are_ignored(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox)
    bobs = str(bob.user_id)  # a personal workspace's id is its user's id
    everything = Access(
        user_id=alice.user_id,
        grants=[Grant(workspace_id=bob.user_id, role="owner",
                      permissions=permission_mask(PERMISSION_NAMES))],
    )  # fmt: skip
    forged = {
        **alice.headers,
        H.USER_ID: bobs,
        H.ACCESS: everything.encode(),
        "X-Forwarded-User": bobs,
    }
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as api:
        # Control: Bob reads his own workspace.
        assert (await api.get(f"/v1/workspaces/{bobs}", headers=bob.headers)).status_code == 200
        me = await api.get("/v1/me", headers=forged)
        assert me.status_code == 200
        assert me.json()["id"] == str(alice.user_id)
        assert bobs not in {w["id"] for w in me.json()["workspaces"]}
        for method, path in [
            ("GET", f"/v1/workspaces/{bobs}"),
            ("GET", f"/v1/workspaces/{bobs}/members"),
            ("PATCH", f"/v1/workspaces/{bobs}"),
            ("POST", f"/v1/workspaces/{bobs}/invitations"),
        ]:
            body = {"PATCH": {"name": "taken"}, "POST": {"role": "admin"}}.get(method)
            r = await api.request(method, path, headers=forged, json=body)
            assert r.status_code in (403, 404), (method, path, r.status_code, r.text)
        # Without a credential the forged headers are no credential either.
        anon = {k: v for k, v in forged.items() if k.lower() != "authorization"}
        assert (await api.get("/v1/me", headers=anon)).status_code == 401
        # Bob's workspace is unchanged.
        mine = await api.get(f"/v1/workspaces/{bobs}", headers=bob.headers)
        assert mine.json()["name"] != "taken"


async def test_a_member_cannot_raise_their_own_role(stack, sandbox) -> None:
    owner = await sign_in(stack.url, sandbox)
    dev = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as api:
        made = await api.post("/v1/workspaces", headers=owner.headers, json={"name": "Crew"})
        assert made.status_code == 201, made.text
        ws = made.json()["id"]
        link = await api.post(
            f"/v1/workspaces/{ws}/invitations", headers=owner.headers, json={"role": "developer"}
        )
        token = link.json()["token"]
        joined = await api.post(f"/v1/invitations/{token}/accept", headers=dev.headers)
        assert joined.status_code == 200, joined.text
        me = f"/v1/workspaces/{ws}/members/{dev.user_id}"
        for role in ("owner", "admin"):
            r = await api.patch(me, headers=dev.headers, json={"role": role})
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["error"]["details"]["missing_permission"] == "members.manage"
        # Accepting the same link again does not change the role either.
        again = await api.post(f"/v1/invitations/{token}/accept", headers=dev.headers)
        assert again.status_code in (200, 409, 410), again.text
        members = (await api.get(f"/v1/workspaces/{ws}/members", headers=owner.headers)).json()
        mine = [m for m in members["members"] if m["user_id"] == str(dev.user_id)]
        assert [m["role"] for m in mine] == ["developer"]
