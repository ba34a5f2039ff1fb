"""The command routes through the real gateway with signed-in users (auth-service, JWTs,
personal API tokens), and the sync state that bot-service reports after each bulk
overwrite in the sandbox (real discord.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.fixtures.auth import SignedIn, sign_in
from tests.fixtures.infra import apoll
from tests.integration.commands.gateway_api import command_body as _cmd
from tests.integration.commands.gateway_api import field_errors as _locs


async def _add_bot(api: httpx.AsyncClient, sandbox_control: Any) -> tuple[str, Any]:
    app = await sandbox_control.create_application(f"Gw Bot {uuid.uuid4().hex[:6]}")
    created = await api.post("/v1/bots", json={"name": "gw bot", "token": app.token})
    assert created.status_code == 201, created.text
    return created.json()["id"], app


def _api(url: str, who: SignedIn | dict[str, str]) -> httpx.AsyncClient:
    headers = who.headers if isinstance(who, SignedIn) else who
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=20)


async def test_command_crud_field_errors_scopes_and_other_users(
    auth_stack, sandbox, sandbox_control, command_service
) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    async with _api(auth_stack.url, alice) as api:
        bot_id, _ = await _add_bot(api, sandbox_control)
        base = f"/v1/bots/{bot_id}/commands"

        created = await api.post(base, json=_cmd(name="ping"))
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        assert [c["id"] for c in (await api.get(base)).json()["items"]] == [cid]
        assert (await api.get(f"{base}/{cid}")).json()["name"] == "ping"
        patched = await api.patch(f"{base}/{cid}", json={"description": "pong back"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["description"] == "pong back"
        assert patched.json()["name"] == "ping"

        # Discord's rules, field by field, through the gateway's error envelope.
        locs = _locs(await api.post(base, json=_cmd(name="Bad Name!")))
        assert ("body", "name") in locs
        locs = _locs(await api.post(base, json=_cmd(name="x", description="")))
        assert ("body", "description") in locs
        many = [{"type": "string", "name": f"o{i}", "description": "o"} for i in range(26)]
        locs = _locs(await api.post(base, json=_cmd(name="many", options=many)))
        assert any(loc[:2] == ("body", "options") for loc in locs)
        choices = [{"name": f"c{i}", "value": f"v{i}"} for i in range(26)]
        opt = {"type": "string", "name": "pick", "description": "p", "choices": choices}
        locs = _locs(await api.post(base, json=_cmd(name="pick", options=[opt])))
        assert any(loc[:4] == ("body", "options", 0, "choices") for loc in locs), locs
        # Checked by the service (needs the other commands): unique names per scope.
        locs = _locs(await api.post(base, json=_cmd(name="ping")))
        assert "already exists" in locs[("body", "name")]
        # A PATCH is validated as a whole.
        locs = _locs(await api.patch(f"{base}/{cid}", json={"name": "NOT valid"}))
        assert ("body", "name") in locs

        # A personal API token without commands:write reads but cannot change.
        token = await api.post(
            "/v1/me/tokens", json={"name": "ro", "scopes": ["commands:read", "bots:read"]}
        )
        assert token.status_code == 201, token.text
        pat = {"Authorization": f"Bearer {token.json()['token']}"}

    async with _api(auth_stack.url, pat) as script:
        assert (await script.get(base)).status_code == 200
        refused = await script.post(base, json=_cmd(name="sneaky"))
        assert refused.status_code == 403
        assert refused.json()["error"]["details"]["missing_permission"] == "commands.edit"
        assert (await script.delete(f"{base}/{cid}")).status_code == 403
        assert (await script.patch(f"{base}/{cid}", json={"description": "x"})).status_code == 403

    # Another user's bot does not exist for them: 404 on every route, nothing changes.
    async with _api(auth_stack.url, bob) as other:
        for method, path, body in (
            ("GET", base, None),
            ("POST", base, _cmd(name="mine")),
            ("GET", f"{base}/{cid}", None),
            ("PATCH", f"{base}/{cid}", {"description": "hijacked"}),
            ("DELETE", f"{base}/{cid}", None),
            ("POST", f"{base}/{cid}/test", {}),
            ("GET", f"{base}/sync", None),
            ("GET", f"/v1/bots/{bot_id}/export", None),
        ):
            r = await other.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.json()["error"]["code"] == "not_found"

    async with _api(auth_stack.url, alice) as api:
        assert (await api.get(f"{base}/{cid}")).json()["description"] == "pong back"
        tried = await api.post(f"{base}/{cid}/test", json={})
        assert tried.status_code == 200
        assert tried.json()["content"] == "ok"
        assert (await api.delete(f"{base}/{cid}")).status_code == 204
        gone = await api.get(f"{base}/{cid}")
        assert gone.status_code == 404
        assert (await api.get(base)).json()["items"] == []


async def test_sync_state_follows_discord(
    auth_stack, sandbox, sandbox_control, command_service, nc
) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    logs: list[dict[str, Any]] = []

    async with _api(auth_stack.url, alice) as api:
        bot_id, app = await _add_bot(api, sandbox_control)
        base = f"/v1/bots/{bot_id}/commands"

        async def on_log(msg: Any) -> None:
            logs.append(json.loads(msg.data))

        sub = await nc.subscribe(f"evt.log.{alice.user_id}.{bot_id}.*", cb=on_log)
        try:
            before = (await api.get(f"{base}/sync")).json()
            assert before["ok"] is None  # never tried
            assert (await api.post(f"/v1/bots/{bot_id}/start")).status_code in (200, 202)

            async def online() -> bool:
                return (await api.get(f"/v1/bots/{bot_id}/status")).json()["state"] == "online"

            await apoll(online, timeout_s=30, what="bot online")
            assert (await api.post(base, json=_cmd(name="hello"))).status_code == 201

            async def synced(expect_ok: bool = True) -> dict[str, Any] | None:
                state = (await api.get(f"{base}/sync")).json()
                if state["ok"] is expect_ok and (state["in_sync"] or not expect_ok):
                    if expect_ok and state["synced_hash"] != state["hash"]:
                        return None
                    return state
                return None

            state = await apoll(synced, timeout_s=20, what="sync reported")
            assert state["in_sync"]
            assert state["error"] is None
            assert state["synced_at"]
            commands = (await sandbox_control.get_application(app.application_id))["commands"]
            assert [c["name"] for c in commands["global"]] == ["hello"]

            def sync_logged(level: str) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return any(
                        e.get("source") == "commands.sync" and e["level"] == level for e in logs
                    )

                return check

            # The log event travels on its own subject: it may land after the sync state.
            await apoll(sync_logged("info"), timeout_s=10, what="sync success logged")

            # A guild the bot is not in: Discord refuses (403 Missing Access); the state says
            # so, Discord keeps the last good set, and the owner's log has the cause.
            lonely = await sandbox_control.create_guild("not installed")
            scoped = await api.post(base, json=_cmd(name="local", guild_ids=[lonely.guild_id]))
            assert scoped.status_code == 201, scoped.text

            async def refused() -> dict[str, Any] | None:
                return await synced(expect_ok=False)

            state = await apoll(refused, timeout_s=20, what="sync failure reported")
            assert not state["in_sync"]
            assert "Missing Access" in state["error"]
            assert state["synced_hash"] != state["hash"]

            await apoll(sync_logged("error"), timeout_s=10, what="sync error logged")
            # Fixing the command set (dropping the guild command) syncs again.
            assert (await api.delete(f"{base}/{scoped.json()['id']}")).status_code == 204
            state = await apoll(synced, timeout_s=20, what="back in sync")
            assert state["error"] is None
        finally:
            await sub.unsubscribe()
            await api.post(f"/v1/bots/{bot_id}/stop")
