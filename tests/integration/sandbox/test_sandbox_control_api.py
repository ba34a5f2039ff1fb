"""The `/_sandbox/` control API, fault injection, the JSON snapshot and TLS."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import httpx
import pytest

from discord_sandbox.client import GatewayClient
from tests.fixtures.sandbox import (
    SandboxControl,
    SandboxError,
    SandboxProcess,
    discord_py_pointed_at,
    running_client,
    start_sandbox,
)

# Run in a child process: trusts the sandbox only through the SSL_CERT_FILE it inherits.
TRUSTING_CLIENT = """
import asyncio, sys, aiohttp
async def main():
    async with aiohttp.ClientSession() as http, http.get(sys.argv[1]) as response:
        print((await response.json())["url"])
asyncio.run(main())
"""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_health_and_config(sandbox: SandboxProcess, sandbox_control: SandboxControl) -> None:
    async with httpx.AsyncClient() as raw:
        health = await raw.get(f"{sandbox.base_url}/_sandbox/health")
    assert health.json() == {"status": "ok"}
    config = await sandbox_control.config()
    assert config["gateway_url"] == sandbox.gateway_url
    assert config["heartbeat_interval_ms"] == 1000
    with pytest.raises(SandboxError) as refused:
        await sandbox_control.configure(no_such_setting=1)
    assert refused.value.status == 400


async def test_guilds_appear_and_disappear_on_live_sessions(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Growing Bot", guild_count=1)
    client = GatewayClient(http, sandbox.gateway_url)
    await client.connect()
    await client.identify(app.token)
    await client.wait_for("GUILD_CREATE")
    person = await sandbox_control.create_user("grower")
    guild = await sandbox_control.create_guild(
        "Joined later", members=[person.id], channels=["general", "bots"]
    )
    assert len(guild.channel_ids) == 2
    await sandbox_control.install(guild.guild_id, app.application_id)
    joined = await client.wait_for("GUILD_CREATE")
    assert joined["d"]["id"] == guild.guild_id
    assert [c["name"] for c in joined["d"]["channels"]] == ["general", "bots"]
    shown = await sandbox_control.patch_application(app.application_id, guild_count=3)
    assert len(shown["guild_ids"]) == 3
    removed = await sandbox_control.patch_application(app.application_id, guild_count=1)
    deleted = await client.wait_for("GUILD_DELETE")
    assert deleted["d"]["id"] not in removed["guild_ids"]
    await client.close()


async def test_application_view_sessions_and_stats(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application(
        "Viewed Bot", privileged_intents=["message_content", "members"], max_concurrency=4
    )
    view = await sandbox_control.get_application(app.application_id)
    assert view["bot_username"] == "Viewed Bot"
    assert view["privileged_intents"] == ["GUILD_MEMBERS", "MESSAGE_CONTENT"]
    assert view["flags"] & (1 << 18)
    assert view["flags"] & (1 << 14)
    assert view["session_start_limit"]["max_concurrency"] == 4
    clients = []
    for shard in (0, 1):
        client = GatewayClient(http, sandbox.gateway_url)
        await client.connect()
        await client.identify(app.token, shard=[shard, 2])
        await client.wait_for("READY")
        clients.append(client)
    sessions = await sandbox_control.wait_for_sessions(app.application_id, 2)
    assert sorted(s["shard"] for s in sessions) == [[0, 2], [1, 2]]
    assert all(s["application_id"] == app.application_id and s["connected_at"] for s in sessions)
    # A duplicate session for shard 0 is what the product must never create: it shows here.
    # (Identify pacing only counted here: the duplicate comes right after shard 0's IDENTIFY.)
    await sandbox_control.configure(identify_limit_mode="count")
    try:
        duplicate = GatewayClient(http, sandbox.gateway_url)
        await duplicate.connect()
        await duplicate.identify(app.token, shard=[0, 2])
        await duplicate.wait_for("READY")
    finally:
        await sandbox_control.configure(identify_limit_mode="enforce")
    stats = await sandbox_control.stats()
    assert stats["per_application"][app.application_id]["max_concurrent_sessions_per_shard"] == {
        "0": 2,
        "1": 1,
    }
    assert stats["max_concurrent_sessions_per_unit"] >= 2
    for client in [*clients, duplicate]:
        await client.close()
    await sandbox_control.wait_for_sessions(app.application_id, 0)
    await sandbox_control.reset()
    assert (await sandbox_control.stats())["per_application"] == {}


async def test_interaction_without_a_session_is_refused(
    sandbox_control: SandboxControl, sandbox: SandboxProcess
) -> None:
    app = await sandbox_control.create_application("Offline Bot")
    person = await sandbox_control.create_user("offline-user")
    guild = await sandbox_control.create_guild("Offline guild", members=[person.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    async with httpx.AsyncClient() as raw:
        await raw.put(
            f"{sandbox.api_url}/applications/{app.application_id}/commands",
            json=[{"name": "hello", "description": "Hi"}],
            headers={"Authorization": f"Bot {app.token}"},
        )
    with pytest.raises(SandboxError) as refused:
        await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, person.id, "hello"
        )
    assert refused.value.status == 409


async def test_rest_faults(sandbox: SandboxProcess, sandbox_control: SandboxControl) -> None:
    app = await sandbox_control.create_application("Faulty Bot")
    auth = {"Authorization": f"Bot {app.token}"}
    await sandbox_control.set_faults(rest_error_rate=1.0, rest_latency_ms=50)
    try:
        async with httpx.AsyncClient() as raw:
            failed = await raw.get(f"{sandbox.api_url}/users/@me", headers=auth)
        assert failed.status_code == 500
        assert failed.json()["code"] == 0
        assert failed.elapsed.total_seconds() >= 0.05
    finally:
        await sandbox_control.clear_faults()
    async with httpx.AsyncClient() as raw:
        assert (await raw.get(f"{sandbox.api_url}/users/@me", headers=auth)).status_code == 200
    assert (await sandbox_control.stats())["rest_faults_injected"] >= 1


async def test_channel_messages_long_poll(sandbox_control: SandboxControl) -> None:
    person = await sandbox_control.create_user("poster")
    guild = await sandbox_control.create_guild("Poll guild", members=[person.id])
    channel = guild.channel_ids[0]
    first = await sandbox_control.post_message(channel, person.id, "one")
    assert await sandbox_control.channel_messages(channel, after=first["id"], wait=0.1) == []
    second = await sandbox_control.post_message(channel, person.id, "two")
    listed = await sandbox_control.channel_messages(channel)
    assert [m["content"] for m in listed] == ["one", "two"]
    assert [
        m["id"] for m in await sandbox_control.channel_messages(channel, after=first["id"])
    ] == [second["id"]]


async def test_state_snapshot_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    first = start_sandbox(tmp_path / "one", state_file=state_file)
    try:
        app = await first.control.create_application("Durable Bot", guild_count=2)
        person = await first.control.create_user("durable", email="durable@example.test")
    finally:
        await first.control.aclose()
        first.stop()
    second = start_sandbox(tmp_path / "two", state_file=state_file)
    try:
        view = await second.control.get_application(app.application_id)
        assert sorted(view["guild_ids"]) == sorted(app.guild_ids)
        async with httpx.AsyncClient() as raw:
            me = await raw.get(
                f"{second.api_url}/users/@me", headers={"Authorization": f"Bot {app.token}"}
            )
            users = (await raw.get(f"{second.base_url}/_sandbox/users")).json()
        assert me.json()["id"] == app.bot_user_id
        assert {"id": person.id, "username": "durable", "email": "durable@example.test"} in users
    finally:
        await second.control.aclose()
        second.stop()


async def test_tls_serves_https_and_wss(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    secure = start_sandbox(tmp_path, tls=True)
    try:
        assert secure.base_url.startswith("https://")
        context = secure.ssl_context()
        assert context is not None
        assert secure.env()["SSL_CERT_FILE"] == str(secure.cert_file)
        app = await secure.control.create_application("Secure Bot", guild_count=1)
        gateway = GatewayClient(
            http, secure.gateway_url, compress="zstd-stream", ssl_context=context
        )
        await gateway.connect()
        await gateway.identify(app.token)
        assert (await gateway.wait_for("READY"))["d"]["resume_gateway_url"].startswith("wss://")
        await gateway.close()
        # Another bot: a second IDENTIFY of the same one right away would be paced (5 s).
        other = await secure.control.create_application("Secure Bot 2", guild_count=1)
        client = discord.Client(
            intents=discord.Intents.default(),
            guild_ready_timeout=0.2,
            connector=aiohttp.TCPConnector(ssl=context),
        )
        with discord_py_pointed_at(secure):
            async with running_client(client, other.token):
                assert len(client.guilds) == 1
        # Another process trusts the certificate through SSL_CERT_FILE alone (aiohttp's
        # default context, as discord.py uses it); the container healthcheck speaks https.
        client_run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            TRUSTING_CLIENT,
            f"{secure.api_url}/gateway",
            env=secure.env(),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(client_run.communicate(), 30)
        assert client_run.returncode == 0
        assert out.decode().strip() == secure.gateway_url.replace("https", "wss")
        port = secure.base_url.rsplit(":", 1)[1]
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "discord_sandbox.healthcheck", port, env=secure.env()
        )
        assert await asyncio.wait_for(check.wait(), 30) == 0
        async with httpx.AsyncClient(verify=False) as untrusting:  # noqa: S501 - shows the cert is self-signed
            assert (await untrusting.get(f"{secure.base_url}/_sandbox/health")).status_code == 200
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as default_trust:
                await default_trust.get(f"{secure.base_url}/_sandbox/health")
    finally:
        await secure.control.aclose()
        secure.stop()
