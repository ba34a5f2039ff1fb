"""RPC through the kernel against a real NATS server."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from uuid import uuid4

import nats
import pytest
from pydantic import Field

from proto.base import Contract
from proto.errors import ErrorCode
from proto.registry import Registry, rpc
from services.bus import natsfast
from services.bus.rpc import RpcClient, RpcContext, RpcServer
from services.devstack.embedded import EmbeddedNats, free_port
from services.errors import RpcError
from services.natsconf import render_config
from tests.fixtures.infra import apoll, connect_admin, world_readable_tmpdir


@pytest.fixture(autouse=True, params=["auto", "off"])
def bus_fast_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on nats-py's fast path and on its public API (BUS_FAST_PATH)."""
    natsfast.configure(request.param)
    try:
        yield request.param
    finally:
        natsfast.configure("auto")


class Ping(Contract):
    text: str = Field(max_length=100)
    delay_s: float = 0.0
    fail: str | None = None


class Pong(Contract):
    text: str
    user_id: str | None
    replica: str


def specs(service: str) -> dict[str, object]:
    return {
        "echo": rpc(f"rpc.{service}.echo", Ping, Pong, callers=["gateway"]),
    }


def make_handler(replica: str, seen: collections.Counter[str] | None = None):
    async def echo(req: Ping, ctx: RpcContext) -> Pong:
        if seen is not None:
            seen[replica] += 1
        if req.delay_s:
            await asyncio.sleep(req.delay_s)
        if req.fail == "conflict":
            raise RpcError(ErrorCode.CONFLICT, "that name is taken", details={"name": req.text})
        if req.fail == "crash":
            raise ZeroDivisionError("secret internals: token=abcdefghijkl")
        return Pong(
            text=req.text,
            user_id=str(ctx.user_id) if ctx.user_id else None,
            replica=replica,
        )

    return echo


async def start_server(infra, service: str, replica: str, **kwargs) -> tuple[RpcServer, object]:
    conn = await connect_admin(infra)
    server = RpcServer(conn, service, **kwargs)
    server.register(specs(service)["echo"], make_handler(replica))
    await server.start()
    return server, conn


async def test_round_trip_carries_user_id(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a")
    client = RpcClient(nc, "gateway")
    user = uuid4()
    try:
        reply = await client.call(specs(service)["echo"], Ping(text="hi"), user_id=user)
        assert reply == Pong(text="hi", user_id=str(user), replica="a")
    finally:
        await server.stop()
        await conn.close()


async def test_typed_error_reaches_the_caller_with_its_code(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a")
    client = RpcClient(nc, "gateway")
    try:
        with pytest.raises(RpcError) as err:
            await client.call(specs(service)["echo"], Ping(text="x", fail="conflict"))
        assert err.value.code is ErrorCode.CONFLICT
        assert err.value.message == "that name is taken"
        assert err.value.details == {"name": "x"}
    finally:
        await server.stop()
        await conn.close()


async def test_invalid_request_is_refused_with_field_errors(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a")
    try:
        msg = await nc.request(f"rpc.{service}.echo", b'{"text": 5}', timeout=2)
        assert msg.headers
        assert msg.headers.get("bc-status") == "error"
        assert b'"code":"invalid"' in msg.data
        assert b'"loc":["text"]' in msg.data
    finally:
        await server.stop()
        await conn.close()


async def test_handler_crash_becomes_internal_without_traceback(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a")
    client = RpcClient(nc, "gateway")
    try:
        with pytest.raises(RpcError) as err:
            await client.call(specs(service)["echo"], Ping(text="x", fail="crash"))
        assert err.value.code is ErrorCode.INTERNAL
        text = f"{err.value.message} {err.value.details}"
        assert "ZeroDivisionError" not in text
        assert "Traceback" not in text
        assert "abcdefghijkl" not in text
        assert "request id" in err.value.message
    finally:
        await server.stop()
        await conn.close()


async def test_slow_handler_times_out_on_both_sides(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a", timeout_s=0.2)
    client = RpcClient(nc, "gateway")
    try:
        # The server gives up after 0.2 s and says so.
        with pytest.raises(RpcError) as err:
            await client.call(specs(service)["echo"], Ping(text="x", delay_s=1.0), timeout_s=2)
        assert err.value.code is ErrorCode.TIMEOUT
        # The client gives up on its own deadline even if the server would still answer.
        with pytest.raises(RpcError) as err2:
            await client.call(specs(service)["echo"], Ping(text="x", delay_s=0.15), timeout_s=0.05)
        assert err2.value.code is ErrorCode.TIMEOUT
    finally:
        await server.stop()
        await conn.close()


async def test_nobody_listening_is_unavailable_not_a_hang(nc) -> None:
    client = RpcClient(nc, "gateway")
    spec = specs(f"t{uuid4().hex[:8]}")["echo"]
    with pytest.raises(RpcError) as err:
        await client.call(spec, Ping(text="x"), timeout_s=5)
    assert err.value.code is ErrorCode.UNAVAILABLE


async def test_queue_group_spreads_load_over_two_replicas(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    seen: collections.Counter[str] = collections.Counter()
    servers = []
    for replica in ("a", "b"):
        conn = await connect_admin(infra)
        server = RpcServer(conn, service)
        server.register(specs(service)["echo"], make_handler(replica, seen))
        await server.start()
        servers.append((server, conn))
    client = RpcClient(nc, "gateway")
    try:
        replies = await asyncio.gather(
            *(client.call(specs(service)["echo"], Ping(text=str(i))) for i in range(200))
        )
        assert {r.text for r in replies} == {str(i) for i in range(200)}
        assert seen["a"] + seen["b"] == 200  # each request handled exactly once
        assert seen["a"] > 20
        assert seen["b"] > 20
    finally:
        for server, conn in servers:
            await server.stop()
            await conn.close()


async def test_server_and_client_reconnect_after_nats_restarts() -> None:
    data_dir = world_readable_tmpdir("bc-nats-")
    port = free_port()
    server_proc = EmbeddedNats(data_dir, render_config(Registry(), {}, port=port), port)
    server_proc.start()
    from services.bus.connection import connect, on_reconnected

    srv_conn = await connect(server_proc.url, name="srv")
    cli_conn = await connect(server_proc.url, name="cli")
    reconnects: list[int] = []

    async def hook() -> None:
        reconnects.append(1)

    # A cache fed by core subscriptions (the gateway's access cache) clears itself here.
    on_reconnected(cli_conn, hook)
    server = RpcServer(srv_conn, "restart")
    spec = specs("restart")["echo"]
    server.register(spec, make_handler("a"))
    await server.start()
    client = RpcClient(cli_conn, "gateway")
    try:
        assert (await client.call(spec, Ping(text="before"))).text == "before"
        server_proc.stop()
        await apoll(lambda: not cli_conn.is_connected, timeout_s=10, what="client notices")
        server_proc.start()

        async def works() -> bool:
            try:
                return (await client.call(spec, Ping(text="after"), timeout_s=1)).text == "after"
            except RpcError:
                return False

        assert await apoll(works, timeout_s=20, interval_s=0.2, what="RPC after restart")
        assert reconnects == [1]
    finally:
        await server.stop()
        await srv_conn.close()
        await cli_conn.close()
        server_proc.stop()


async def test_concurrency_limit_bounds_handlers_in_flight(infra, nc) -> None:
    service = f"t{uuid4().hex[:8]}"
    conn = await connect_admin(infra)
    server = RpcServer(conn, service, concurrency=3)
    active = 0
    peak = 0

    async def slow(req: Ping, ctx: RpcContext) -> Pong:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1
        return Pong(text=req.text, user_id=None, replica="a")

    server.register(specs(service)["echo"], slow)
    await server.start()
    client = RpcClient(nc, "gateway")
    try:
        await asyncio.gather(
            *(client.call(specs(service)["echo"], Ping(text="x")) for _ in range(20))
        )
        assert peak == 3
    finally:
        await server.stop()
        await conn.close()


async def test_nats_connect_waits_for_a_late_server() -> None:
    from services.bus.connection import connect

    data_dir = world_readable_tmpdir("bc-nats-late-")
    port = free_port()
    server_proc = EmbeddedNats(data_dir, render_config(Registry(), {}, port=port), port)
    task = asyncio.create_task(connect(server_proc.url, name="late", deadline_s=20))
    await asyncio.sleep(0.3)  # the server is genuinely not there yet
    assert not task.done()
    server_proc.start()
    try:
        conn = await asyncio.wait_for(task, 20)
        assert conn.is_connected
        await conn.close()
    finally:
        server_proc.stop()
    with pytest.raises(ConnectionError):
        await connect(f"nats://127.0.0.1:{free_port()}", name="none", deadline_s=0.5)
    _ = nats  # the client library under test


async def test_requests_waiting_for_a_slot_are_answered_when_the_server_stops(infra, nc) -> None:
    """A stopping replica finishes what it already received, including requests that were
    waiting for a free slot, instead of leaving their callers to time out."""
    service = f"t{uuid4().hex[:8]}"
    conn = await connect_admin(infra)
    server = RpcServer(conn, service, concurrency=1)
    server.register(specs(service)["echo"], make_handler("a"))
    await server.start()
    client = RpcClient(nc, "gateway")
    spec = specs(service)["echo"]
    try:
        calls = [
            asyncio.create_task(client.call(spec, Ping(text=str(i), delay_s=0.1), timeout_s=5))
            for i in range(3)
        ]
        await apoll(lambda: server.in_flight == 1, timeout_s=5, what="first request running")
        await server.stop(drain_timeout_s=5)
        replies = await asyncio.gather(*calls)
        assert sorted(r.text for r in replies) == ["0", "1", "2"]
    finally:
        await conn.close()


async def test_in_flight_gauge_and_pending_bytes_follow_the_requests(infra, nc) -> None:
    from prometheus_client import REGISTRY

    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a")
    client = RpcClient(nc, "gateway")
    spec = specs(service)["echo"]

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("botcenter_rpc_in_flight", {"service": service})

    try:
        assert gauge() == 0
        slow = asyncio.create_task(client.call(spec, Ping(text="slow", delay_s=0.3)))
        await apoll(lambda: gauge() == 1, timeout_s=5, what="gauge counts the slow request")
        await asyncio.gather(*(client.call(spec, Ping(text=str(i))) for i in range(50)))
        assert (await slow).text == "slow"
        assert gauge() == 0
        # Messages handed over straight from the read loop are not left counted as pending,
        # or nats-py would eventually drop everything as a slow consumer.
        assert all(sub.pending_bytes == 0 for sub in server._subs)
        assert all(sub.pending_bytes == 0 for sub in nc._subs.values())
    finally:
        await server.stop()
        await conn.close()


async def test_request_ids_look_like_uuid4_and_reach_the_handler(infra, nc) -> None:
    import uuid as uuid_mod

    from services.bus.rpc import new_request_id
    from services.telemetry.logs import request_id_var

    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid_mod.UUID(hex=i).version == 4 and len(i) == 32 for i in ids)

    service = f"t{uuid4().hex[:8]}"
    conn = await connect_admin(infra)
    server = RpcServer(conn, service)
    seen: list[str] = []

    async def echo(req: Ping, ctx: RpcContext) -> Pong:
        seen.append(ctx.request_id)
        assert request_id_var.get() == ctx.request_id
        return Pong(text=req.text, user_id=None, replica="a")

    server.register(specs(service)["echo"], echo)
    await server.start()
    client = RpcClient(nc, "gateway")
    try:
        token = request_id_var.set("caller-request-id")
        try:
            await client.call(specs(service)["echo"], Ping(text="x"))
        finally:
            request_id_var.reset(token)
        await client.call(specs(service)["echo"], Ping(text="y"))
        assert seen[0] == "caller-request-id"
        assert uuid_mod.UUID(hex=seen[1]).version == 4
    finally:
        await server.stop()
        await conn.close()


async def test_cancelled_caller_leaves_nothing_behind_and_a_timeout_frees_the_slot(
    infra, nc
) -> None:
    service = f"t{uuid4().hex[:8]}"
    server, conn = await start_server(infra, service, "a", concurrency=1, timeout_s=0.2)
    client = RpcClient(nc, "gateway")
    spec = specs(service)["echo"]
    try:
        call = asyncio.create_task(client.call(spec, Ping(text="x", delay_s=5)))
        await apoll(lambda: server.in_flight == 1, timeout_s=5, what="request running")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        from services.bus.rpc import _REPLIES

        assert not _REPLIES[nc].waiting
        # The server's deadline ends the abandoned handler and the only slot serves again.
        assert (await client.call(spec, Ping(text="next"), timeout_s=5)).text == "next"
        await apoll(lambda: server.in_flight == 0, timeout_s=5, what="slot freed")
    finally:
        await server.stop()
        await conn.close()
