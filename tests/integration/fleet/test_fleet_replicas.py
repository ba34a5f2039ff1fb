"""Several replicas: shards spread by rendezvous hashing, SIGKILL failover within the lease
TTL, SIGTERM hand-off with RESUME, self-fencing of a replica cut off from NATS, and a
rolling restart that spends no IDENTIFY. Never two live sessions for one (bot, shard)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import pytest

from proto import bots as P
from proto.errors import ErrorCode
from services.devstack.stack import Infra
from services.errors import RpcError
from tests.fixtures.sandbox import SandboxApp, SandboxControl, SandboxProcess
from tests.integration.fleet.conftest import (
    LEASE_TTL_S,
    Bots,
    Replicas,
    explain_fleet,
    wait_until,
)


async def all_online(control: SandboxControl, apps: list[SandboxApp], shards: int = 1) -> bool:
    live = await control.sessions()
    wanted = {a.application_id for a in apps}
    connected: dict[str, int] = {}
    for s in live:
        if s["application_id"] in wanted and s["connected"]:
            connected[s["application_id"]] = connected.get(s["application_id"], 0) + 1
    return all(connected.get(a, 0) == shards for a in wanted)


async def per_app(control: SandboxControl, apps: list[SandboxApp]) -> dict[str, dict[str, Any]]:
    stats = (await control.stats())["per_application"]
    return {a.application_id: stats.get(a.application_id, {}) for a in apps}


def never_doubled(stats: dict[str, dict[str, Any]]) -> bool:
    return all(
        set(s.get("max_concurrent_sessions_per_shard", {}).values()) <= {1} for s in stats.values()
    )


async def add_many(bots: Bots, count: int, **kw: Any) -> list[tuple[SandboxApp, P.BotView]]:
    sem = asyncio.Semaphore(6)

    async def one(i: int) -> tuple[SandboxApp, P.BotView]:
        async with sem:
            return await bots.add(name=f"Fleet Bot {i}", **kw)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def test_four_shards_on_two_replicas_each_guild_reaches_one_session(
    replicas: Replicas, bots: Bots, sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    replicas.start(2)
    added = await add_many(bots, 2, guilds=8, shard_count=4)
    apps = [a for a, _ in added]
    # Deadlines, not waits: generous for a busy 2-core CI machine (8 shards identify in turn).
    await wait_until(lambda: all_online(sandbox_control, apps, 4), timeout=60, what="8 shards")

    async def spread_over_both() -> bool:
        # A replica that joins a moment later gets its share by hand-off (rebalancing).
        used: set[str] = set()
        for _, bot in added:
            status = await bots.wait_state(bot.id, "online")
            assert sorted(s.shard_id for s in status.shards) == [0, 1, 2, 3]
            used |= {s.replica or "" for s in status.shards}
        return used == {r.name for r in replicas.started}

    await wait_until(spread_over_both, timeout=40, what="both replicas run shards")
    await wait_until(lambda: all_online(sandbox_control, apps, 4), timeout=60, what="8 shards")

    app = apps[0]
    async with httpx.AsyncClient(base_url=sandbox.api_url) as http:
        response = await http.post(
            f"/applications/{app.application_id}/commands",
            json={"name": "ping", "description": "ping", "type": 1},
            headers={"Authorization": f"Bot {app.token}"},
        )
        assert response.status_code in (200, 201)
    user = await sandbox_control.create_user("shard-tester")
    for guild_id in app.guild_ids:
        await sandbox_control.add_member(guild_id, user.id)
        data = await sandbox_control.request(
            "POST",
            "/interactions",
            {
                "application_id": app.application_id,
                "guild_id": guild_id,
                "user_id": user.id,
                "name": "ping",
            },
        )
        assert data["dispatched_to"] == 1  # sessions the event went to
        # command-service is not running: the bot still answers (and keeps running).
        answer = await sandbox_control.wait_for_answer(data["interaction_id"], wait=20)
        assert answer["content"]
    assert never_doubled(await per_app(sandbox_control, apps))


async def test_sigkill_failover_within_ttl_and_sigterm_handoff_resumes(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    r1, r2, r3 = replicas.start(3)
    added = await add_many(bots, 30)
    apps = [a for a, _ in added]
    await wait_until(lambda: all_online(sandbox_control, apps), timeout=60, what="30 bots online")

    # SIGKILL: the victim's bots come back elsewhere once their leases expire.
    before = await per_app(sandbox_control, apps)
    killed_at = time.monotonic()
    r1.kill()
    await wait_until(
        lambda: all_online(sandbox_control, apps),
        timeout=LEASE_TTL_S + 10,
        what="failover",
        explain=lambda: explain_fleet(bots, added, replicas),
    )
    failover_s = time.monotonic() - killed_at
    assert failover_s < LEASE_TTL_S + 6, failover_s
    for _, bot in added:
        status = await bots.wait_state(bot.id, "online", timeout=10)
        assert {s.replica for s in status.shards} <= {r2.name, r3.name}

    # SIGTERM: hand-off with RESUME, much faster than the TTL, no IDENTIFY.
    mid = await per_app(sandbox_control, apps)
    stopped_at = time.monotonic()
    r2.terminate()
    await wait_until(
        lambda: all_online(sandbox_control, apps),
        timeout=LEASE_TTL_S + 10,
        what="hand-off",
        explain=lambda: explain_fleet(bots, added, replicas),
    )
    handoff_s = time.monotonic() - stopped_at
    assert r2.wait(20) == 0
    after = await per_app(sandbox_control, apps)
    assert handoff_s < LEASE_TTL_S, handoff_s
    assert sum(a["identifies"] for a in after.values()) == sum(
        m["identifies"] for m in mid.values()
    )
    assert sum(a["resumes"] for a in after.values()) > sum(m["resumes"] for m in mid.values())
    assert never_doubled(after)
    assert sum(b["identifies"] for b in before.values()) == 30


class CuttableProxy:
    """A TCP proxy in front of NATS whose connections can be cut (the replica is isolated)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


async def test_replica_cut_off_from_nats_stops_its_sessions(
    infra: Infra, replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    assert infra.nats_url is not None
    proxy = CuttableProxy(int(infra.nats_url.rsplit(":", 1)[1]))
    port = await proxy.start()
    # Started from a thread: the proxy runs on this event loop.
    (isolated,) = await asyncio.to_thread(replicas.start, 1, NATS_URL=f"nats://127.0.0.1:{port}")
    added = await add_many(bots, 8)
    apps = [a for a, _ in added]
    await wait_until(lambda: all_online(sandbox_control, apps), timeout=30, what="online")
    (healthy,) = await asyncio.to_thread(replicas.start, 1)

    # Some bots move to the new replica (rendezvous), the rest stay on the isolated one.
    async def spread() -> bool:
        holders = set()
        for _, bot in added:
            status = await bots.status(bot.id)
            if status.state != "online":
                return False
            holders |= {s.replica for s in status.shards}
        return holders == {isolated.name, healthy.name} and await all_online(sandbox_control, apps)

    await wait_until(spread, timeout=30, what="bots spread over both replicas")
    before = {s["session_id"] for s in await sandbox_control.sessions() if s["connected"]}
    await proxy.cut()
    cut_at = time.monotonic()

    async def moved() -> bool:
        for _, bot in added:
            try:
                status = await bots.status(bot.id, timeout_s=2.0)
            except RpcError as exc:
                # A request the NATS server routed to the isolated replica in the moment
                # of the cut, before it saw the connection close, is lost: ask again.
                if exc.code is ErrorCode.TIMEOUT:
                    return False
                raise
            if status.state != "online" or {s.replica for s in status.shards} != {healthy.name}:
                return False
        return await all_online(sandbox_control, apps)

    await wait_until(
        moved,
        timeout=LEASE_TTL_S + 10,
        what="bots online on the healthy replica",
        explain=lambda: explain_fleet(bots, added, replicas),
    )
    # The isolated replica closed its sessions by itself: every live one is new or resumed
    # by the healthy replica, and none is connected twice.
    live = [s for s in await sandbox_control.sessions() if s["connected"]]
    mine = [s for s in live if s["application_id"] in {a.application_id for a in apps}]
    assert len(mine) == len(apps)
    assert before  # sanity
    assert time.monotonic() - cut_at < LEASE_TTL_S + 8
    assert never_doubled(await per_app(sandbox_control, apps))
    assert isolated.alive  # it fenced itself; it did not crash


@pytest.mark.slow
async def test_rolling_restart_costs_no_identify(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    current = replicas.start(3)
    added = await add_many(bots, 30)
    apps = [a for a, _ in added]
    await wait_until(lambda: all_online(sandbox_control, apps), timeout=60, what="online")
    before = await per_app(sandbox_control, apps)
    for old in list(current):
        old.terminate()
        assert old.wait(30) == 0
        await wait_until(lambda: all_online(sandbox_control, apps), timeout=20, what="hand-off")
        (new,) = replicas.start(1)

        async def rebalanced(new_name: str = new.name) -> bool:
            replicas_used: set[str | None] = set()
            for _, bot in added:
                status = await bots.status(bot.id)
                if status.state != "online":
                    return False
                replicas_used |= {s.replica for s in status.shards}
            return new_name in replicas_used and await all_online(sandbox_control, apps)

        await wait_until(rebalanced, timeout=30, what="units moved to the new replica")
    for _, bot in added:
        await bots.wait_state(bot.id, "online", timeout=20)
    after = await per_app(sandbox_control, apps)
    assert sum(a["identifies"] for a in after.values()) == sum(
        b["identifies"] for b in before.values()
    )
    assert never_doubled(after)
