"""The bots area through the real gateway: a user signed in through the sandbox's OAuth
flow adds a bot, starts and stops it, and another user cannot see it; deleting the
account stops and removes the user's bots."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.fixtures.auth import auth_env, sign_in
from tests.fixtures.infra import ServiceStarter
from tests.fixtures.sandbox import SandboxControl, SandboxProcess


async def test_signed_in_user_manages_bots_through_the_gateway(
    start_service: ServiceStarter, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    env = auth_env(sandbox)
    start_service("auth", **env)
    start_service("bot", **env)
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **env)
    assert gateway.url
    alice = await sign_in(gateway.url, sandbox)
    bob = await sign_in(gateway.url, sandbox)
    app = await sandbox_control.create_application("Gateway Bot")

    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as http:
        anonymous = await http.get("/v1/bots")
        assert anonymous.status_code == 401

        created = await http.post(
            "/v1/bots", json={"token": app.token, "tags": ["demo"]}, headers=alice.headers
        )
        assert created.status_code == 201, created.text
        assert app.token not in created.text
        bot = created.json()
        assert bot["workspace_id"] == str(alice.user_id)

        # Not running: no live servers to list, said plainly (the console offers to start it).
        idle = await http.get(f"/v1/bots/{bot['id']}/guilds", headers=alice.headers)
        assert idle.status_code == 409
        message = idle.json()["error"]["message"]
        assert message == "the bot is not running: start it to see its servers"

        started = await http.post(f"/v1/bots/{bot['id']}/start", headers=alice.headers)
        assert started.status_code == 202
        assert started.json()["desired_state"] == "running"

        assert (await http.get("/v1/bots", headers=bob.headers)).json()["bots"] == []
        assert (await http.get(f"/v1/bots/{bot['id']}", headers=bob.headers)).status_code == 404
        assert (
            await http.post("/v1/bots", json={"token": app.token}, headers=bob.headers)
        ).status_code == 409

        stopped = await http.post(f"/v1/bots/{bot['id']}/stop", headers=alice.headers)
        assert stopped.json()["desired_state"] == "stopped"
        deleted = await http.delete(f"/v1/bots/{bot['id']}", headers=alice.headers)
        assert deleted.status_code == 200
        assert (await http.get("/v1/bots", headers=alice.headers)).json()["bots"] == []

        # Deleting the account removes every bot of it (auth-service asks bot-service).
        live_app = await sandbox_control.create_application("Account Bot", guild_count=1)
        kept = await http.post(
            "/v1/bots", json={"token": live_app.token, "auto_start": True}, headers=alice.headers
        )
        assert kept.status_code == 201
        await sandbox_control.wait_for_sessions(live_app.application_id, 1, timeout=30)
        # Running: its servers come from the live connection, with channels and roles.
        url = f"/v1/bots/{kept.json()['id']}/guilds"
        give_up = time.monotonic() + 20
        while not (listed := await http.get(url, headers=alice.headers)).json().get("guilds"):
            assert time.monotonic() < give_up, listed.text
            await asyncio.sleep(0.1)
        [guild] = listed.json()["guilds"]
        assert guild["id"] == live_app.guild_ids[0]
        assert guild["channels"]
        assert {r["name"] for r in guild["roles"]} >= {"@everyone", "Account Bot"}
        assert (await http.get(url, headers=bob.headers)).status_code == 404
        gone = await http.delete("/v1/me", headers=alice.headers)
        assert gone.status_code == 200, gone.text
        outcome = {p["service"]: p for p in gone.json()["purged"]}
        assert outcome["bot"]["ok"] is True
        assert outcome["bot"]["removed"] == 1
        await sandbox_control.wait_for_sessions(live_app.application_id, 0, timeout=15)
        # The application is free again: another user may add it.
        again = await http.post("/v1/bots", json={"token": live_app.token}, headers=bob.headers)
        assert again.status_code == 201
