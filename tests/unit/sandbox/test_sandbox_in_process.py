"""The in-process factory: `SandboxServer` runs inside the caller's event loop."""

from __future__ import annotations

import aiohttp

from discord_sandbox import SandboxServer, ServerConfig, Tunables
from discord_sandbox.client import GatewayClient


async def test_in_process_server_serves_control_rest_and_gateway() -> None:
    config = ServerConfig(port=0, tunables=Tunables(heartbeat_interval_ms=5000))
    async with SandboxServer(config) as server, aiohttp.ClientSession() as http:
        assert server.base_url.startswith("http://127.0.0.1:")
        async with http.get(f"{server.base_url}/_sandbox/health") as health:
            assert await health.json() == {"status": "ok"}
        async with http.post(
            f"{server.base_url}/_sandbox/applications", json={"name": "Local", "guild_count": 1}
        ) as r:
            app = await r.json()
        async with http.get(
            f"{server.api_url}/gateway/bot", headers={"Authorization": f"Bot {app['token']}"}
        ) as r:
            assert r.headers["Content-Type"] == "application/json"
            gateway = await r.json()
        assert gateway["url"] == server.base_url.replace("http", "ws", 1) + "/gateway"
        assert gateway["session_start_limit"]["remaining"] == 1000
        client = GatewayClient(http, gateway["url"], compress="zlib-stream")
        hello = await client.connect()
        assert hello["heartbeat_interval"] == 5000
        await client.identify(app["token"])
        ready = await client.wait_for("READY")
        assert [g["id"] for g in ready["d"]["guilds"]] == app["guild_ids"]
        await client.close()
