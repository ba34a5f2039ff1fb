"""Benchmark: NATS RPC round trip through the kernel next to bare nats-py, same server.

Two responder processes on one embedded nats-server: the kernel's `RpcServer` (typed
request/reply, headers, queue group, concurrency limit, timeout) and a bare nats-py
subscription that answers with the payload. The client measures each path sequentially
(p50/p99) and with 64 requests in flight (requests per second).
Targets (issue 2): kernel p50 <= 1.2x bare, >= 25k req/s per responder process.

    python -m bench rpc_roundtrip            # via the runner, writes bench/results/
    python bench/rpc_roundtrip.py [--seq 3000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import uvloop
from nats.aio.client import Client as NATS

from proto.base import Contract
from proto.registry import Registry, rpc
from services.bus.rpc import RpcClient, RpcContext, RpcServer
from services.infra.embedded import EmbeddedNats, free_port, stop_process
from services.natsconf import render_config


class Ping(Contract):
    n: int
    text: str


ECHO = rpc("rpc.bench.echo", Ping, Ping, callers=["gateway"])
BARE_SUBJECT = "bare.bench.echo"
INFLIGHT = 64


async def serve(kind: str, url: str) -> None:
    nc = await nats.connect(url)
    if kind == "kernel":
        server = RpcServer(nc, "bench", concurrency=1024)

        async def echo(req: Ping, ctx: RpcContext) -> Ping:
            return req

        server.register(ECHO, echo)
        await server.start()
    else:

        async def reply(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(msg.data)

        await nc.subscribe(BARE_SUBJECT, queue="bench", cb=reply)
    await nc.flush()
    print("READY", flush=True)
    await asyncio.Event().wait()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    call: Callable[[int], Awaitable[object]], seq: int, seconds: float
) -> dict[str, float]:
    for i in range(200):  # warm-up: connections, JIT-free but caches and buffers
        await call(i)
    samples: list[float] = []
    for i in range(seq):
        t0 = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - t0) * 1000)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await call(i)
            i += 1
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(INFLIGHT)))
    elapsed = time.perf_counter() - t0
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(percentile(samples, 0.99), 3),
        "req_per_s": round(done / elapsed),
    }


def start_responder(kind: str, url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--url", url],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"READY":
        stop_process(proc)
        raise RuntimeError(f"{kind} responder did not start")
    return proc


async def run(url: str, seq: int, seconds: float) -> dict[str, object]:
    nc: NATS = await nats.connect(url)
    client = RpcClient(nc, "gateway")
    request = Ping(n=0, text="x" * 64)
    body = request.model_dump_json().encode()
    figures: dict[str, object] = {}
    procs = [start_responder("bare", url), start_responder("kernel", url)]
    try:

        async def bare(_: int) -> object:
            return await nc.request(BARE_SUBJECT, body, timeout=5)

        async def kernel(_: int) -> object:
            return await client.call(ECHO, request, timeout_s=5)

        bare_f = await measure(bare, seq, seconds)
        kernel_f = await measure(kernel, seq, seconds)
    finally:
        for proc in procs:
            stop_process(proc)
        await nc.close()
    figures["bare"] = bare_f
    figures["kernel"] = kernel_f
    figures["p50_ratio"] = round(kernel_f["p50_ms"] / bare_f["p50_ms"], 2)
    figures["throughput_ratio"] = round(kernel_f["req_per_s"] / bare_f["req_per_s"], 2)
    figures["inflight"] = INFLIGHT
    figures["target_p50_ratio_max"] = 1.2
    figures["target_req_per_s_min"] = 25_000
    figures["meets_targets"] = (
        figures["p50_ratio"] <= 1.2 and kernel_f["req_per_s"] >= 25_000  # type: ignore[operator]
    )
    return figures


def main(seq: int = 3000, seconds: float = 4.0) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="bc-bench-nats-"))
    port = free_port()
    server = EmbeddedNats(data_dir, render_config(Registry(), {}, port=port), port)
    server.start()
    try:
        figures = uvloop.run(run(server.url, seq, seconds))
    finally:
        server.stop()
    for path, value in (("bare", figures["bare"]), ("kernel", figures["kernel"])):
        print(f"{path:>6}: {value}")
    print(
        f"kernel/bare p50 {figures['p50_ratio']}x (target <= 1.2x), "
        f"throughput {figures['throughput_ratio']}x; targets met: {figures['meets_targets']}"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["kernel", "bare"])
    parser.add_argument("--url")
    parser.add_argument("--seq", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve(args.serve, args.url))
    else:
        main(args.seq, args.seconds)
