"""Benchmark: live fan-out of log-service's websocket stream.

1,000 websocket subscribers (picows clients, the cheapest load generator) across 100 users
(10 each); events published to NATS at a steady rate, round-robin over the users; every
event reaches its user's 10 connections. Figures: delivery latency from publish to
receipt (p50/p99/max), deliveries per second, log-service's CPU (it also ingests every
event into PostgreSQL meanwhile, as a replica does) and the load generator's own CPU.
Target (issue 8): 5,000 events/s (50,000 deliveries/s), p99 <= 10 ms, log-service < 60 %
of one core.

    python -m bench log_fanout
    python bench/log_fanout.py [--rate 5000] [--seconds 15] [--users 100] [--per-user 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import nats
import psutil
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from proto.base import Empty
from proto.logs import STREAM_TICKET, LogRecorded
from services.bus.rpc import RpcClient
from services.infra.stack import Infra, spawn_service

MARK = b'"message":"t'


class Receiver(WSListener):
    def __init__(self, samples: list[int], ready: asyncio.Event, counter: list[int]) -> None:
        self.samples = samples
        self.ready = ready
        self.counter = counter
        self.measuring = False
        self.closed_code: int | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, b'{"type":"subscribe"}')

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.closed_code = frame.get_close_code()
            transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        at = data.find(MARK)
        if at < 0:
            if b'"subscribed"' in data:
                self.counter[0] += 1
                if self.counter[0] >= self.counter[1]:
                    self.ready.set()
            return
        if self.measuring:
            start = at + len(MARK)
            sent = int(data[start : data.index(b'"', start)])
            self.samples.append(time.monotonic_ns() - sent)


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6 if ordered else 0.0


async def run(
    infra: Infra, url: str, rate: int, seconds: float, users: int, per_user: int
) -> dict[str, object]:
    nc = await nats.connect(infra.admin_nats_url)
    rpc = RpcClient(nc, "bench", timeout_s=10)
    owners = [uuid.uuid4() for _ in range(users)]
    bots = {o: uuid.uuid4() for o in owners}
    samples: list[int] = []
    ready = asyncio.Event()
    counter = [0, users * per_user]
    listeners: list[Receiver] = []
    transports: list[WSTransport] = []
    ws_url = url.replace("http://", "ws://") + "/v1/stream"
    for owner in owners:
        for _ in range(per_user):
            ticket = await rpc.call(STREAM_TICKET, Empty(), user_id=owner)
            transport, listener = await ws_connect(
                lambda: Receiver(samples, ready, counter),
                ws_url,
                extra_headers={"Sec-WebSocket-Protocol": ", ".join(ticket.protocols)},
            )
            transports.append(transport)
            listeners.append(listener)  # type: ignore[arg-type]
    await asyncio.wait_for(ready.wait(), 60)

    async def publish(duration: float) -> int:
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        sent = 0
        start = time.monotonic()
        next_at = start
        while time.monotonic() - start < duration:
            for _ in range(per_tick):
                owner = owners[sent % users]
                ev = LogRecorded(owner_id=owner, bot_id=bots[owner], message="")
                ev.message = f"t{time.monotonic_ns()}"
                await nc.publish(
                    f"evt.log.{owner}.{bots[owner]}.info",
                    ev.model_dump_json().encode(),
                    headers={"Nats-Msg-Id": str(ev.id)},
                )
                sent += 1
            next_at += tick
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await nc.flush()
        return sent

    await publish(2.0)  # warm-up
    for lst in listeners:
        lst.measuring = True
    me = psutil.Process(os.getpid())
    service = psutil.Process(infra_service_pid[0])
    cpu_me0 = sum(me.cpu_times()[:2])
    cpu_svc0 = sum(service.cpu_times()[:2])
    t0 = time.monotonic()
    sent = await publish(seconds)
    await asyncio.sleep(0.5)  # in-flight deliveries
    elapsed = time.monotonic() - t0
    for lst in listeners:
        lst.measuring = False
    cpu_svc = (sum(service.cpu_times()[:2]) - cpu_svc0) / elapsed
    cpu_me = (sum(me.cpu_times()[:2]) - cpu_me0) / elapsed
    closed = sum(1 for lst in listeners if lst.closed_code is not None)
    for t in transports:
        t.disconnect()
    await nc.close()
    expected = sent * per_user
    return {
        "subscribers": users * per_user,
        "users": users,
        "events_per_s_target": rate,
        "events_per_s_sent": round(sent / seconds),
        "deliveries_per_s": round(len(samples) / elapsed),
        "delivered_fraction": round(len(samples) / max(expected, 1), 4),
        "latency_ms_p50": round(pct(samples, 0.50), 2),
        "latency_ms_p99": round(pct(samples, 0.99), 2),
        "latency_ms_max": round(pct(samples, 1.0), 2),
        "log_service_cpu_cores": round(cpu_svc, 2),
        "load_generator_cpu_cores": round(cpu_me, 2),
        "clients_closed": closed,
        "meets_target": pct(samples, 0.99) <= 10 and cpu_svc < 0.6 and len(samples) >= expected,
    }


infra_service_pid: list[int] = [0]


def main(
    rate: int = 5000, seconds: float = 15.0, users: int = 100, per_user: int = 10
) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="bc-bench-fanout-"))
    data_dir.chmod(0o755)
    infra = Infra(data_dir, durable=False, progress=lambda _: None)
    infra.start()
    proc = None
    try:
        env = {
            **infra.service_env("log"),
            "LOG_LOG_LEVEL": "WARNING",
            "LOG_STREAM_QUEUE_MAX": "5000",
            "LOG_INGEST_WORKERS": os.environ.get("BENCH_LOG_INGEST_WORKERS", "2"),
        }
        proc = spawn_service("log", env, log_path=data_dir / "log.log")
        proc.wait_ready(60)
        assert proc.url is not None
        infra_service_pid[0] = proc.proc.pid
        figures = uvloop.run(run(infra, proc.url, rate, seconds, users, per_user))
    finally:
        if proc is not None:
            proc.stop()
        infra.stop()
    print(
        f"{figures['subscribers']} subscribers, {figures['events_per_s_sent']} events/s -> "
        f"{figures['deliveries_per_s']} deliveries/s ({figures['delivered_fraction']:.2%} of "
        f"expected); latency p50 {figures['latency_ms_p50']} ms, p99 "
        f"{figures['latency_ms_p99']} ms, max {figures['latency_ms_max']} ms; log-service CPU "
        f"{figures['log_service_cpu_cores']} cores, load generator "
        f"{figures['load_generator_cpu_cores']} cores"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=10)
    args = parser.parse_args()
    main(args.rate, args.seconds, args.users, args.per_user)
