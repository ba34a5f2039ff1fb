"""`POST /v1/bots/{id}/commands/preview` through the real gateway with signed-in users: an
unsaved command (the create body plus sample input) is validated like a create, dry-run by
command-service, and answered — and nothing is stored."""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.auth import SignedIn, sign_in
from tests.integration.commands.gateway_api import command_body as _cmd
from tests.integration.commands.gateway_api import field_errors as _locs


def _api(url: str, who: SignedIn | dict[str, str]) -> httpx.AsyncClient:
    headers = who.headers if isinstance(who, SignedIn) else who
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=20)


async def test_preview_an_unsaved_command(
    auth_stack, sandbox, sandbox_control, command_service, peer
) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    async with _api(auth_stack.url, alice) as api:
        app = await sandbox_control.create_application(f"Pv Bot {uuid.uuid4().hex[:6]}")
        created = await api.post("/v1/bots", json={"name": "preview bot", "token": app.token})
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        base = f"/v1/bots/{bot_id}/commands"
        preview = f"{base}/preview"

        # A template with options, rendered with the sample values; nothing is stored.
        greet = _cmd(
            name="greet",
            options=[{"type": "string", "name": "who", "description": "w", "required": True}],
            response={
                "type": "template",
                "content": "Hi {{ options.who }}, from {{ user.name }}",
                "embeds": [{"title": "For {{ options.who }}"}],
            },
            ephemeral=True,
        )
        answer = await api.post(preview, json={**greet, "sample": {"options": {"who": "Ada"}}})
        assert answer.status_code == 200, answer.text
        reply = answer.json()
        assert reply["outcome"] == "ok"
        assert reply["content"] == "Hi Ada, from tester"
        assert reply["embeds"][0]["title"] == "For Ada"
        assert reply["ephemeral"] is True
        # The same reply shape as the saved command's dry run.
        assert set(reply) == {
            "outcome",
            "content",
            "embeds",
            "ephemeral",
            "duration_ms",
            "error",
            "steps",
            "warnings",
            "event_id",
        }
        assert (await api.get(base)).json()["items"] == []
        # Without sample input the body is just the create body.
        bare = await api.post(
            preview,
            json=_cmd(
                name="plain", response={"type": "template", "content": "just {{ command.name }}"}
            ),
        )
        assert bare.status_code == 200, bare.text
        assert bare.json()["content"] == "just plain"

        # A prefix command parses the sample message like the bot would.
        echo = _cmd(
            kind="prefix",
            name="echo",
            description="",
            options=[{"type": "string", "name": "text", "description": "t", "required": True}],
            response={"type": "template", "content": "You said: {{ options.text }}"},
        )
        said = await api.post(preview, json={**echo, "sample": {"content": "echo hello there"}})
        assert said.status_code == 200, said.text
        assert said.json()["content"] == "You said: hello there"

        # The same field-level errors as a create, at the same locations.
        for body in (
            _cmd(name="Bad Name!"),
            _cmd(name="x", description=""),
            _cmd(name="broken", response={"type": "template", "content": "{{ oops"}),
            _cmd(
                name="lost",
                response={"type": "http", "connection_id": str(uuid.uuid4()), "content": "x"},
            ),
        ):
            assert _locs(await api.post(preview, json=body)) == _locs(
                await api.post(base, json=body)
            )
        locs = _locs(
            await api.post(
                preview,
                json=_cmd(name="broken2", response={"type": "template", "content": "{{ oops"}),
            )
        )
        assert ("body", "response", "content") in locs
        bad_sample = await api.post(preview, json={**greet, "sample": {"content": "x" * 2001}})
        assert ("body", "sample", "content") in _locs(bad_sample)
        assert (await api.get(base)).json()["items"] == []

        # Names already taken are refused, except the command's own name when editing it.
        saved = await api.post(base, json=_cmd(name="ping"))
        assert saved.status_code == 201, saved.text
        cid = saved.json()["id"]
        edited = _cmd(name="ping", response={"type": "template", "content": "pong v2"})
        locs = _locs(await api.post(preview, json=edited))
        assert "already exists" in locs[("body", "name")]
        mine = await api.post(preview, json={**edited, "command_id": cid})
        assert mine.status_code == 200, mine.text
        assert mine.json()["content"] == "pong v2"
        # The saved command is unchanged.
        assert (await api.get(f"{base}/{cid}")).json()["response"]["content"] == "ok"
        unknown = await api.post(preview, json={**edited, "command_id": str(uuid.uuid4())})
        assert unknown.status_code == 404
        # A disabled command answers what the bot would say.
        off = await api.post(preview, json=_cmd(name="off", enabled=False))
        assert off.json()["outcome"] == "disabled"

        # An HTTP action with a connection no saved command uses yet.
        conn = await api.post(
            "/v1/connections",
            json={"name": f"weather-{uuid.uuid4().hex[:6]}", "base_url": peer.url + "/v1"},
        )
        assert conn.status_code == 201, conn.text
        weather = _cmd(
            name="weather",
            options=[{"type": "string", "name": "city", "description": "c"}],
            response={
                "type": "http",
                "connection_id": conn.json()["id"],
                "path": "/weather",
                "query": {"city": "{{ options.city }}"},
                "content": "{{ data.city }}: {{ data.temp }} and {{ data.sky }}",
            },
        )
        hot = await api.post(preview, json={**weather, "sample": {"options": {"city": "Lyon"}}})
        assert hot.status_code == 200, hot.text
        assert hot.json()["content"] == "Lyon: 21 and clear"

        token = await api.post(
            "/v1/me/tokens", json={"name": "ro", "scopes": ["commands:read", "bots:read"]}
        )
        assert token.status_code == 201, token.text
        pat = {"Authorization": f"Bearer {token.json()['token']}"}

    # A write: a read-only token is refused; another user's bot does not exist for them.
    async with _api(auth_stack.url, pat) as script:
        refused = await script.post(preview, json=greet)
        assert refused.status_code == 403
        assert refused.json()["error"]["details"]["missing_permission"] == "commands.edit"
    async with _api(auth_stack.url, bob) as other:
        r = await other.post(preview, json=greet)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
    async with httpx.AsyncClient(base_url=auth_stack.url) as anon:
        assert (await anon.post(preview, json=greet)).status_code == 401
