"""Prompts in workspaces through the gateway (#17): created in the personal workspace by
default or in a team's with `workspace_id`, listed across the caller's workspaces with
`workspace_id` on each, `?workspace_id=` narrowing the list (404 for a workspace the caller is
not in), and a member without `prompts.edit` refused by name."""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.auth import sign_in


async def test_prompts_across_workspaces(auth_stack, sandbox, command_service) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    prompt = {"name": "greeting", "system": "Be kind.", "user": "Hi", "model": "gpt-test"}
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers,
                                 timeout=20) as a:
        mine = await a.post("/v1/prompts", json=prompt)
        assert mine.status_code == 201, mine.text
        assert mine.json()["workspace_id"] == str(alice.user_id)
        ws = (await a.post("/v1/workspaces", json={"name": "Prompt team"})).json()["id"]
        theirs = await a.post("/v1/prompts", json={**prompt, "workspace_id": ws})
        assert theirs.status_code == 201, theirs.text

        listed = (await a.get("/v1/prompts")).json()["items"]
        assert {p["id"]: p["workspace_id"] for p in listed} == {
            mine.json()["id"]: str(alice.user_id), theirs.json()["id"]: ws}
        only = (await a.get("/v1/prompts", params={"workspace_id": ws})).json()["items"]
        assert [p["id"] for p in only] == [theirs.json()["id"]]
        stranger = await a.get("/v1/prompts", params={"workspace_id": str(uuid.uuid4())})
        assert stranger.status_code == 404

        link = (await a.post(f"/v1/workspaces/{ws}/invitations",
                             json={"role": "viewer"})).json()
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers,
                                 timeout=20) as b:
        assert (await b.get("/v1/prompts", params={"workspace_id": ws})).status_code == 404
        assert (await b.post(f"/v1/invitations/{link['token']}/accept")).status_code == 200
        seen = (await b.get("/v1/prompts", params={"workspace_id": ws})).json()["items"]
        assert [p["id"] for p in seen] == [theirs.json()["id"]]
        refused = await b.patch(f"/v1/prompts/{theirs.json()['id']}", json={"system": "Mine"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["details"]["missing_permission"] == "prompts.edit"
