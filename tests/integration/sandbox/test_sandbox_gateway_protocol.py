"""Gateway v10 frame by frame: handshake, compression, sharding, RESUME replay, close codes,
IDENTIFY pacing and the session-start budget."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from discord_sandbox.client import GatewayClient, GatewayClosed
from tests.fixtures.sandbox import SandboxControl, SandboxProcess

GUILDS_AND_MESSAGES = (1 << 0) | (1 << 9)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _connect(
    http: aiohttp.ClientSession,
    sandbox: SandboxProcess,
    compress: str | None = None,
    *,
    heartbeat: bool = True,
) -> GatewayClient:
    client = GatewayClient(http, sandbox.gateway_url, compress=compress)
    await client.connect(heartbeat=heartbeat)
    return client


@pytest.mark.parametrize("compress", [None, "zlib-stream", "zstd-stream"])
async def test_hello_identify_ready_then_guilds(
    http: aiohttp.ClientSession,
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    compress: str | None,
) -> None:
    app = await sandbox_control.create_application("Handshake", guild_count=3)
    client = await _connect(http, sandbox, compress, heartbeat=False)
    assert client.heartbeat_interval == 1.0  # the fixture's --heartbeat-interval-ms
    await client.send(1, None)
    assert (await client.receive())["op"] == 11
    await client.identify(app.token)
    ready = await client.wait_for("READY")
    assert ready["s"] == 1
    assert ready["d"]["user"]["id"] == app.bot_user_id
    assert ready["d"]["resume_gateway_url"] == sandbox.gateway_url
    assert ready["d"]["application"]["id"] == app.application_id
    assert sorted(g["id"] for g in ready["d"]["guilds"]) == sorted(app.guild_ids)
    assert all(g["unavailable"] for g in ready["d"]["guilds"])
    created = [await client.wait_for("GUILD_CREATE") for _ in app.guild_ids]
    assert sorted(g["d"]["id"] for g in created) == sorted(app.guild_ids)
    assert [g["s"] for g in created] == [2, 3, 4]
    member = created[0]["d"]["members"][0]
    assert member["user"]["id"] == app.bot_user_id
    assert "flags" in member
    await client.close()


async def test_shards_receive_only_their_guilds(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Sharded", guild_count=6, max_concurrency=2)
    guilds_by_shard: dict[int, set[str]] = {}
    for shard_id in (0, 1):
        client = await _connect(http, sandbox)
        await client.identify(app.token, shard=[shard_id, 2])
        ready = await client.wait_for("READY")
        assert ready["d"]["shard"] == [shard_id, 2]
        guilds_by_shard[shard_id] = {g["id"] for g in ready["d"]["guilds"]}
        assert all((int(g) >> 22) % 2 == shard_id for g in guilds_by_shard[shard_id])
        await client.close()
    assert guilds_by_shard[0]
    assert guilds_by_shard[1]
    assert guilds_by_shard[0] | guilds_by_shard[1] == set(app.guild_ids)


@pytest.mark.parametrize(
    ("identify", "code"),
    [
        ({"token": "not-a-token", "intents": 1}, 4004),
        ({"intents": 1, "shard": [2, 2]}, 4010),
        ({"intents": 1, "shard": [0, 0]}, 4010),
        ({"intents": 1 << 40}, 4013),
        ({"intents": 1 << 15}, 4014),
        ({"intents": 1 << 1}, 4014),
    ],
)
async def test_identify_refusals_close_with_discords_codes(
    http: aiohttp.ClientSession,
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    identify: dict[str, object],
    code: int,
) -> None:
    app = await sandbox_control.create_application("Refused")
    client = await _connect(http, sandbox)
    await client.send(2, {"token": app.token, "properties": {}, **identify})
    with pytest.raises(GatewayClosed) as closed:
        await client.wait_for("READY")
    assert closed.value.code == code


async def test_sharding_required_beyond_guilds_per_shard(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Big Bot", guild_count=3)
    await sandbox_control.configure(max_guilds_per_shard=2)
    try:
        client = await _connect(http, sandbox)
        await client.identify(app.token)
        with pytest.raises(GatewayClosed) as closed:
            await client.wait_for("READY")
        assert closed.value.code == 4011
        sharded = await _connect(http, sandbox)
        await sharded.identify(app.token, shard=[0, 2])
        await sharded.wait_for("READY")
        await sharded.close()
    finally:
        await sandbox_control.configure(max_guilds_per_shard=2500)


async def test_unauthenticated_ops_and_bad_payloads(
    http: aiohttp.ClientSession, sandbox: SandboxProcess
) -> None:
    client = await _connect(http, sandbox)
    await client.send(8, {"guild_id": "1"})
    with pytest.raises(GatewayClosed) as closed:
        await client.receive()
    assert closed.value.code == 4003
    broken = await _connect(http, sandbox)
    assert broken.ws is not None
    await broken.ws.send_str("{not json")
    with pytest.raises(GatewayClosed) as decode:
        await broken.receive()
    assert decode.value.code == 4002


async def test_resume_on_a_new_connection_replays_missed_events(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Resumer")
    user = await sandbox_control.create_user("resume-user")
    guild = await sandbox_control.create_guild("Resume guild", members=[user.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    first = await _connect(http, sandbox, "zlib-stream")
    await first.identify(app.token, intents=GUILDS_AND_MESSAGES)
    await first.wait_for("GUILD_CREATE")
    session_id, seq = first.session_id, first.seq
    assert session_id is not None
    assert seq is not None
    await first.close(code=4000)  # not 1000/1001: the session stays resumable
    await sandbox_control.wait_for_sessions(app.application_id, 0)

    missed = [
        await sandbox_control.post_message(guild.channel_ids[0], user.id, f"missed {i}")
        for i in range(3)
    ]

    second = await _connect(http, sandbox, "zstd-stream")  # another connection, another compressor
    await second.resume(app.token, session_id, seq)
    replayed = [await second.wait_for("MESSAGE_CREATE") for _ in missed]
    assert [m["d"]["id"] for m in replayed] == [m["id"] for m in missed]
    assert [m["s"] for m in replayed] == [seq + 1, seq + 2, seq + 3]
    resumed = await second.wait_for("RESUMED")
    assert isinstance(resumed["d"], dict)
    live = await sandbox_control.wait_for_sessions(app.application_id, 1)
    assert live[0]["session_id"] == session_id
    await second.close(code=1000)  # a clean close ends the session: RESUME is refused
    await sandbox_control.wait_for_sessions(app.application_id, 0)
    third = await _connect(http, sandbox)
    await third.resume(app.token, session_id, second.seq)
    invalid = await third.wait_for(op=9)
    assert invalid["d"] is False
    await third.close()


async def test_identify_pacing_and_session_start_budget(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Eager", max_concurrency=1)
    await sandbox_control.configure(identify_window_s=30)
    try:
        first = await _connect(http, sandbox)
        await first.identify(app.token, shard=[0, 2])
        await first.wait_for("READY")
        # Same max_concurrency bucket (1 % 1 == 0) within the window: counted and refused.
        second = await _connect(http, sandbox)
        await second.identify(app.token, shard=[1, 2])
        refused = await second.wait_for(op=9)
        assert refused["d"] is False
        await first.close()
        await second.close()
    finally:
        await sandbox_control.configure(identify_window_s=0.25)
    stats = await sandbox_control.stats()
    assert stats["per_application"][app.application_id]["identify_violations"] == 1
    assert stats["per_application"][app.application_id]["identifies"] == 1
    assert stats["identify_violations"] >= 1

    await sandbox_control.patch_application(
        app.application_id, session_start_limit={"remaining": 0}
    )
    budget = await _connect(http, sandbox)
    await budget.identify(app.token)
    exhausted = await budget.wait_for(op=9)
    assert exhausted["d"] is False
    await budget.close()
    shown = await sandbox_control.get_application(app.application_id)
    assert shown["session_start_limit"]["remaining"] == 0


async def test_request_guild_members_answers_with_chunk(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Chunker", privileged_intents=["GUILD_MEMBERS"])
    users = [await sandbox_control.create_user(f"chunk-{i}") for i in range(3)]
    guild = await sandbox_control.create_guild("Chunk guild", members=[u.id for u in users])
    await sandbox_control.install(guild.guild_id, app.application_id)
    client = await _connect(http, sandbox)
    await client.identify(app.token, intents=GUILDS_AND_MESSAGES | (1 << 1))
    created = await client.wait_for("GUILD_CREATE")
    assert len(created["d"]["members"]) == 4  # everyone, with the GUILD_MEMBERS intent
    await client.send(8, {"guild_id": guild.guild_id, "query": "", "limit": 0, "nonce": "n1"})
    chunk = await client.wait_for("GUILD_MEMBERS_CHUNK")
    assert chunk["d"]["nonce"] == "n1"
    assert {m["user"]["id"] for m in chunk["d"]["members"]} >= {u.id for u in users}
    await client.close()


async def test_dropped_heartbeat_acks_and_server_side_timeout(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Zombie")
    client = await _connect(http, sandbox, heartbeat=False)
    await client.identify(app.token)
    await client.wait_for("READY")
    await sandbox_control.set_faults(drop_heartbeat_acks=True)
    try:
        await client.send(1, client.seq)
        with pytest.raises(TimeoutError):
            await client.wait_for(op=11, timeout=0.5)
    finally:
        await sandbox_control.clear_faults()
    # Without heartbeats the sandbox closes the zombie after 1.5 intervals (4009).
    with pytest.raises(GatewayClosed) as closed:
        await client.wait_for(op=11, timeout=5)
    assert closed.value.code == 4009


async def test_late_interaction_callback_is_unknown_interaction(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Late Bot")
    person = await sandbox_control.create_user("late-user")
    guild = await sandbox_control.create_guild("Late guild", members=[person.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    async with http.put(
        f"{sandbox.api_url}/applications/{app.application_id}/commands",
        json=[{"name": "late", "description": "Too slow"}],
        headers={"Authorization": f"Bot {app.token}"},
    ) as synced:
        assert synced.status == 200
    client = await _connect(http, sandbox)
    await client.identify(app.token)
    await client.wait_for("READY")
    await sandbox_control.configure(interaction_callback_timeout_s=0)  # every callback is late
    try:
        interaction_id = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, person.id, "late"
        )
        event = await client.wait_for("INTERACTION_CREATE")
        async with http.post(
            f"{sandbox.api_url}/interactions/{interaction_id}/{event['d']['token']}/callback",
            json={"type": 4, "data": {"content": "sorry"}},
        ) as late:
            assert late.status == 404
            assert (await late.json())["code"] == 10062
    finally:
        await sandbox_control.configure(interaction_callback_timeout_s=15)
    await client.close()


async def _closed_with(client: GatewayClient) -> int | None:
    with pytest.raises(GatewayClosed) as closed:
        await client.wait_for("NEVER", timeout=5)
    code: int | None = closed.value.code
    return code


async def test_protocol_violations_close_with_discords_codes(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    # One application per case: IDENTIFY pacing would refuse quick re-identifies of one app.
    app = await sandbox_control.create_application("Rule Breaker")
    unknown_op = await _connect(http, sandbox)
    await unknown_op.identify(app.token)
    await unknown_op.wait_for("READY")
    await unknown_op.send(99, None)
    assert await _closed_with(unknown_op) == 4001

    app = await sandbox_control.create_application("Rule Breaker 2")
    twice = await _connect(http, sandbox)
    await twice.identify(app.token)
    await twice.wait_for("READY")
    await twice.identify(app.token)
    assert await _closed_with(twice) == 4005

    app = await sandbox_control.create_application("Rule Breaker 3")
    ahead = await _connect(http, sandbox)
    await ahead.identify(app.token)
    await ahead.wait_for("READY")
    session_id, seq = ahead.session_id, ahead.seq
    assert session_id is not None
    assert seq is not None
    await ahead.close(code=4000)
    await sandbox_control.wait_for_sessions(app.application_id, 0)
    resumer = await _connect(http, sandbox)
    await resumer.resume(app.token, session_id, seq + 100)  # events that never happened
    assert await _closed_with(resumer) == 4007

    for query, code in (("v=8&encoding=json", 4012), ("v=10&encoding=etf", 4002)):
        async with http.ws_connect(f"{sandbox.gateway_url}?{query}") as ws:
            message = await ws.receive(timeout=5)
            while message.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                message = await ws.receive(timeout=5)
            assert ws.close_code == code


async def test_gateway_send_rate_limit_closes_with_4008(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Chatterbox")
    await sandbox_control.configure(gateway_send_limit={"limit": 3, "window_s": 60})
    try:
        client = await _connect(http, sandbox)  # heartbeats are not counted
        await client.identify(app.token)  # 1
        await client.wait_for("READY")
        presence: dict[str, object] = {
            "since": None,
            "activities": [],
            "status": "online",
            "afk": False,
        }
        await client.send(3, presence)  # 2
        await client.send(3, presence)  # 3
        await client.send(1, client.seq)
        assert (await client.wait_for(op=11))["op"] == 11  # still connected
        await client.send(3, presence)  # 4: one too many
        assert await _closed_with(client) == 4008
    finally:
        await sandbox_control.configure(gateway_send_limit={"limit": 120, "window_s": 60})
    assert (await sandbox_control.stats())["gateway_rate_limits_sent"] >= 1


async def test_ping_interaction_is_answered_with_pong(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Pinged Bot")
    person = await sandbox_control.create_user("pinger")
    guild = await sandbox_control.create_guild("Ping guild", members=[person.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    client = await _connect(http, sandbox)
    await client.identify(app.token)
    await client.wait_for("READY")
    interaction_id = await sandbox_control.inject_interaction(
        app.application_id, guild.guild_id, person.id, type=1
    )
    event = await client.wait_for("INTERACTION_CREATE")
    assert event["d"]["type"] == 1
    assert "data" not in event["d"]
    url = f"{sandbox.api_url}/interactions/{interaction_id}/{event['d']['token']}/callback"
    async with http.post(url, json={"type": 4, "data": {"content": "no"}}) as wrong:
        assert wrong.status == 400  # a ping is answered with a PONG only
        assert (await wrong.json())["code"] == 50035
    async with http.post(url, json={"type": 1}) as pong:
        assert pong.status == 204
    answer = await sandbox_control.wait_for_answer(interaction_id, wait=5)
    assert answer["callback_type"] == 1
    await client.close()


# Resumes a session in a child process and prints what it received, one JSON per line.
RESUMING_PROCESS = """
import asyncio, json, sys, aiohttp
from discord_sandbox.client import GatewayClient
async def main():
    url, token, session_id, seq = sys.argv[1:5]
    async with aiohttp.ClientSession() as http:
        client = GatewayClient(http, url, compress="zlib-stream")
        await client.connect()
        await client.resume(token, session_id, int(seq))
        while True:
            payload = await client.receive()
            print(json.dumps({"t": payload.get("t"), "s": payload.get("s"), "d": payload["d"]}))
            if payload.get("t") == "RESUMED":
                break
        await client.close(code=4000)
asyncio.run(main())
"""


async def test_resume_from_another_process(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Migrating Bot")
    user = await sandbox_control.create_user("migrant")
    guild = await sandbox_control.create_guild("Migration guild", members=[user.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    first = await _connect(http, sandbox)
    await first.identify(app.token, intents=GUILDS_AND_MESSAGES)
    await first.wait_for("GUILD_CREATE")
    session_id, seq = first.session_id, first.seq
    assert session_id is not None
    assert seq is not None
    await first.close(code=4000)  # this process goes away without ending the session
    await sandbox_control.wait_for_sessions(app.application_id, 0)
    missed = [
        await sandbox_control.post_message(guild.channel_ids[0], user.id, f"while away {i}")
        for i in range(2)
    ]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RESUMING_PROCESS,
        sandbox.gateway_url,
        app.token,
        session_id,
        str(seq),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 0
    received = [json.loads(line) for line in out.decode().splitlines()]
    assert [(p["t"], p["s"]) for p in received] == [
        ("MESSAGE_CREATE", seq + 1),
        ("MESSAGE_CREATE", seq + 2),
        ("RESUMED", seq + 3),
    ]
    assert [p["d"]["id"] for p in received[:2]] == [m["id"] for m in missed]
    [session] = await sandbox_control.sessions(app.application_id, include_all=True)
    assert session["session_id"] == session_id
    assert session["resumes"] == 1
