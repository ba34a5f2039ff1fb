"""Try it through the sandbox, end to end through the real gateway: a signed-in user adds a
bot, creates a slash command, starts the bot (real discord.py in bot-service) and invokes
the command with `POST /v1/bots/{id}/try`; command-service renders the answer and the bot
posts it to the sandbox, which hands it back. The bots list carries each bot's live status,
and the bot's avatar URL follows the avatar applied on Discord."""

from __future__ import annotations

import httpx

from tests.fixtures.auth import auth_env, sign_in
from tests.fixtures.infra import ServiceStarter, apoll
from tests.fixtures.sandbox import SandboxControl, SandboxProcess


async def test_try_a_slash_command_through_the_sandbox(
    start_service: ServiceStarter, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    env = auth_env(sandbox)
    start_service("auth", **env)
    start_service("bot", **env)
    start_service("command", **env)
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **env)
    alice = await sign_in(gateway.url, sandbox)
    bob = await sign_in(gateway.url, sandbox)
    app = await sandbox_control.create_application("Try Bot", guild_count=1)

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=alice.headers) as api:
        info = (await api.get("/v1/sandbox")).json()
        assert info["enabled"] is True, info

        bot = (await api.post("/v1/bots", json={"token": app.token})).json()
        bid = bot["id"]
        assert bot["avatar_url"] is None
        cmd = await api.post(
            f"/v1/bots/{bid}/commands",
            json={
                "name": "greet",
                "description": "greets",
                "options": [
                    {"type": "string", "name": "who", "description": "w", "required": True}
                ],
                "response": {
                    "type": "template",
                    "content": "Hi {{ options.who }} from {{ user.name }}!",
                },
            },
        )
        assert cmd.status_code == 201, cmd.text
        cid = cmd.json()["id"]

        # Not online yet: a clear 409, not a hang.
        early = await api.post(
            f"/v1/bots/{bid}/try", json={"command_id": cid, "options": {"who": "Ada"}}
        )
        assert early.status_code == 409, early.text
        assert "not online" in early.json()["error"]["message"]

        listed = (await api.get("/v1/bots")).json()["bots"]
        assert listed[0]["status"]["state"] == "offline"

        assert (await api.post(f"/v1/bots/{bid}/start")).status_code == 202

        async def online_in_list() -> dict | None:
            items = (await api.get("/v1/bots")).json()["bots"]
            status = items[0]["status"]
            return status if status and status["state"] == "online" else None

        status = await apoll(online_in_list, timeout_s=30, what="online in the bots list")
        assert status["guild_count"] == 1
        assert status["latency_ms"] is None or status["latency_ms"] >= 0

        # By command id, once Discord has it: the sync runs when the bot connects, and on a
        # busy machine it can end a few seconds after the bot is online.
        async def synced() -> bool:
            state = (await api.get(f"/v1/bots/{bid}/commands/sync")).json()
            return bool(state["in_sync"])

        await apoll(synced, timeout_s=30, what="the command synced to Discord")
        tried = await api.post(
            f"/v1/bots/{bid}/try", json={"command_id": cid, "options": {"who": "Ada"}}
        )
        assert tried.status_code == 200, tried.text
        answer = tried.json()
        assert answer["content"] == "Hi Ada from botcenter-try-it!"
        assert answer["interaction_id"]
        assert answer["ephemeral"] is False
        assert answer["deferred"] is False
        assert answer["latency_ms"] is not None
        # The sandbox saw a real interaction answered by the bot.
        seen = await sandbox_control.wait_for_answer(answer["interaction_id"], wait=1)
        assert seen["content"] == answer["content"]

        # By name, again (the try-it user and guild are reused).
        again = await api.post(
            f"/v1/bots/{bid}/try", json={"name": "greet", "options": {"who": "Bo"}}
        )
        assert again.json()["content"] == "Hi Bo from botcenter-try-it!"
        assert again.json()["user_id"] == answer["user_id"]

        unknown = await api.post(f"/v1/bots/{bid}/try", json={"name": "nope"})
        assert unknown.status_code == 404
        assert "does not know the command" in unknown.json()["error"]["message"]
        assert (await api.post(f"/v1/bots/{bid}/try", json={})).status_code == 422

        other = await api.post(f"/v1/bots/{bid}/try", json={"name": "greet"}, headers=bob.headers)
        assert other.status_code == 404

        await api.post(f"/v1/bots/{bid}/stop")
