"""Benchmark: NATS RPC round trip through the kernel next to bare nats-py, same server.

Two responder processes on one embedded nats-server: the kernel's `RpcServer` (typed
request/reply, headers, queue group, concurrency limit, timeout) and a bare nats-py
subscription that answers with the payload. Both responders and the client run on uvloop,
one process each. The client measures each path sequentially (p50/p99) and with 64
requests in flight (requests per second).
Targets (issue 2): kernel p50 <= 1.2x bare, >= 25k req/s per responder process.

The machine is shared, so the paths are measured in alternating rounds (bare, kernel,
kernel with a user id, then the next round in another order): a burst of load from
elsewhere lands on all of them instead of on whichever ran second. Latencies are pooled
over the rounds; requests per second is the median round. `kernel_headers` is the same
kernel call carrying a request id and a user id, as calls from the gateway do (not part
of the targets; nats-py encodes and parses headers in Python, on both ends).
`kernel_public` is the kernel call with nats-py's fast path off on both ends
(BUS_FAST_PATH=off: callback subscriptions, services/bus/natsfast.py), to show what the
fast path buys over nats-py's public API.

    python -m bench rpc_roundtrip            # via the runner, writes bench/results/
    python bench/rpc_roundtrip.py [--seq 3000] [--seconds 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

import nats
import uvloop
from nats.aio.client import Client as NATS

from proto.base import Contract
from proto.registry import Registry, rpc
from services.bus import natsfast
from services.bus.rpc import RpcClient, RpcContext, RpcServer
from services.devstack.embedded import EmbeddedNats, free_port, stop_process
from services.natsconf import render_config
from services.telemetry.logs import request_id_var


class Ping(Contract):
    n: int
    text: str


ECHO = rpc("rpc.bench.echo", Ping, Ping, callers=["gateway"])
# Its own subject, so the two kernel responders do not share one queue group.
ECHO_PUBLIC = rpc("rpc.benchpublic.echo", Ping, Ping, callers=["gateway"])
BARE_SUBJECT = "bare.bench.echo"
INFLIGHT = 64


async def serve(kind: str, url: str) -> None:
    nc = await nats.connect(url)
    if kind in ("kernel", "kernel_public"):
        natsfast.configure("auto" if kind == "kernel" else "off")
        server = RpcServer(nc, "bench", concurrency=1024)

        async def echo(req: Ping, ctx: RpcContext) -> Ping:
            return req

        server.register(ECHO if kind == "kernel" else ECHO_PUBLIC, echo)
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


Call = Callable[[], Awaitable[object]]


async def sequential(call: Call, n: int, samples: list[float]) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)


async def throughput(call: Call, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(INFLIGHT)))
    return done / (time.perf_counter() - t0)


async def measure(
    paths: dict[str, Call], seq: int, seconds: float, rounds: int
) -> dict[str, dict[str, float]]:
    names = list(paths)
    for name in names:  # warm-up: connections, caches and buffers
        await sequential(paths[name], 300, [])
        await throughput(paths[name], 0.2)
    samples: dict[str, list[float]] = {name: [] for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            await sequential(paths[name], seq // rounds, samples[name])
        for name in order:
            rates[name].append(await throughput(paths[name], seconds / rounds))
    return {
        name: {
            "p50_ms": round(statistics.median(samples[name]), 3),
            "p99_ms": round(percentile(samples[name], 0.99), 3),
            "req_per_s": round(statistics.median(rates[name])),
        }
        for name in names
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


async def run(url: str, seq: int, seconds: float, rounds: int) -> dict[str, object]:
    nc: NATS = await nats.connect(url)
    client = RpcClient(nc, "gateway")
    public_nc: NATS = await nats.connect(url)
    public_client = RpcClient(public_nc, "gateway")
    request = Ping(n=0, text="x" * 64)
    body = request.model_dump_json().encode()
    user = uuid4()
    rid = uuid4().hex
    figures: dict[str, object] = {"load_average_before": _load()}
    procs = [
        start_responder("bare", url),
        start_responder("kernel", url),
        start_responder("kernel_public", url),
    ]
    try:
        # A client subscribes for its replies on its first call, on the path chosen then.
        natsfast.configure("off")
        await public_client.call(ECHO_PUBLIC, request, timeout_s=5)
        natsfast.configure("auto")
        await client.call(ECHO, request, timeout_s=5)

        async def bare() -> object:
            return await nc.request(BARE_SUBJECT, body, timeout=5)

        async def kernel() -> object:
            return await client.call(ECHO, request, timeout_s=5)

        async def kernel_public() -> object:
            return await public_client.call(ECHO_PUBLIC, request, timeout_s=5)

        async def kernel_headers() -> object:
            token = request_id_var.set(rid)
            try:
                return await client.call(ECHO, request, user_id=user, timeout_s=5)
            finally:
                request_id_var.reset(token)

        measured = await measure(
            {
                "bare": bare,
                "kernel": kernel,
                "kernel_headers": kernel_headers,
                "kernel_public": kernel_public,
            },
            seq,
            seconds,
            rounds,
        )
    finally:
        for proc in procs:
            stop_process(proc)
        await nc.close()
        await public_nc.close()
    bare_f, kernel_f = measured["bare"], measured["kernel"]
    figures.update(measured)
    figures["p50_ratio"] = round(kernel_f["p50_ms"] / bare_f["p50_ms"], 2)
    figures["p50_ratio_with_headers"] = round(
        measured["kernel_headers"]["p50_ms"] / bare_f["p50_ms"], 2
    )
    figures["throughput_ratio"] = round(kernel_f["req_per_s"] / bare_f["req_per_s"], 2)
    public_f = measured["kernel_public"]
    figures["fast_path_p50_ratio"] = round(kernel_f["p50_ms"] / public_f["p50_ms"], 2)
    figures["fast_path_throughput_ratio"] = round(kernel_f["req_per_s"] / public_f["req_per_s"], 2)
    figures["inflight"] = INFLIGHT
    figures["rounds"] = rounds
    figures["target_p50_ratio_max"] = 1.2
    figures["target_req_per_s_min"] = 25_000
    figures["meets_targets"] = (
        figures["p50_ratio"] <= 1.2 and kernel_f["req_per_s"] >= 25_000  # type: ignore[operator]
    )
    figures["load_average_after"] = _load()
    return figures


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(seq: int = 3000, seconds: float = 5.0, rounds: int = 5) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="bc-bench-nats-"))
    port = free_port()
    server = EmbeddedNats(data_dir, render_config(Registry(), {}, port=port), port)
    server.start()
    try:
        figures = uvloop.run(run(server.url, seq, seconds, rounds))
    finally:
        server.stop()
    for path in ("bare", "kernel", "kernel_headers", "kernel_public"):
        print(f"{path:>14}: {figures[path]}")
    print(
        f"kernel/bare p50 {figures['p50_ratio']}x (target <= 1.2x), "
        f"throughput {figures['throughput_ratio']}x; targets met: {figures['meets_targets']}"
    )
    print(
        f"fast path/public API p50 {figures['fast_path_p50_ratio']}x, "
        f"throughput {figures['fast_path_throughput_ratio']}x"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["kernel", "kernel_public", "bare"])
    parser.add_argument("--url")
    parser.add_argument("--seq", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve(args.serve, args.url))
    else:
        main(args.seq, args.seconds, args.rounds)
