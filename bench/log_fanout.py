"""Benchmark: live fan-out of log-service's websocket stream.

1,000 websocket subscribers (picows clients, the cheapest load generator) across 100 users
(10 each) on the replica's stream server (the URL `GET /stream-endpoint` names: the picows
port by default); events published to NATS at a steady rate, round-robin over the users;
every event reaches its user's 10 connections. Figures: delivery latency from publish to
receipt (p50/p99/max), deliveries per second, gaps/duplicates seen by the clients, the CPU
of log-service and of the load generator.

The load generator runs in processes of its own (a publisher; the 1,000 receivers split over
`BENCH_LOG_RECEIVERS` processes, default 2), so none of them is the bottleneck and their CPU
is measured; latency uses CLOCK_MONOTONIC, which every process on the machine shares.

Layouts (`BENCH_LOG_LAYOUTS`, comma-separated; default `stream_tier,co_located`):
`stream_tier` measures the stream replica alone (`LOG_INGEST_WORKERS=0`, nothing ingests on
this machine: in a deployment the ingest consumers run on other replicas; `log_ingest`
measures them); `co_located` adds a second replica that ingests every event into PostgreSQL
on the same 2 cores meanwhile (its CPU reported separately), the worst case of a one-node
install; `one_replica` makes the measured replica do both. The headline figures are the
first layout's; every layout's are under `layouts`.

Target (issue 8): 5,000 events/s (50,000 deliveries/s), p99 <= 10 ms, log-service < 60 %
of one core. The machine is shared: the load average is recorded next to the figures, and
so is how late a plain 2 ms sleep wakes up meanwhile (p99): the scheduling floor that every
hop of the pipeline (publisher, NATS, log-service, receivers) pays on a busy machine.

    python -m bench log_fanout
    python bench/log_fanout.py [--rate 5000] [--seconds 15] [--users 100] [--per-user 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil
import uuid_utils
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from proto.base import Empty
from proto.logs import STREAM_TICKET
from services.bus.rpc import RpcClient
from services.devstack.stack import Infra, spawn_service

MARK = b'"message":"t'
SEQ = b'"seq":'


def wakeup_lag(stop: threading.Event, out: list[float]) -> None:
    """How late a 2 ms sleep wakes up on this machine right now: the scheduling floor under
    every hop of the pipeline (publisher, NATS, log-service, receivers)."""
    while not stop.is_set():
        t = time.monotonic()
        time.sleep(0.002)
        out.append(time.monotonic() - t - 0.002)


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1])
    return total / 1e9


def loadavg() -> str:
    """1, 5 and 15 minute load averages (the machine is shared; figures move with it)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- receivers (own process) ----------------------------------------------------------------


class Receiver(WSListener):
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.sent: array[int] = state["sent"]
        self.lat: array[int] = state["lat"]
        self.last_seq = 0
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
                self.state["subscribed"] += 1
                if self.state["subscribed"] >= self.state["expected"]:
                    self.state["ready"].set()
            return
        now = time.monotonic_ns()
        start = at + len(MARK)
        sent = int(data[start : data.index(b'"', start)])
        s = data.find(SEQ) + len(SEQ)
        seq = int(data[s : data.index(b",", s)])
        if seq <= self.last_seq:
            # Stream sequences of one user's events are not consecutive; only order counts.
            self.state["out_of_order"] += 1
        self.last_seq = seq
        self.sent.append(sent)
        self.lat.append(now - sent)


async def receive(nats_url: str, ws_url: str, owners: list[str], per_user: int, out: str) -> None:
    nc = await nats.connect(nats_url)
    rpc = RpcClient(nc, "bench", timeout_s=10)
    state: dict[str, Any] = {
        "sent": array("q"),
        "lat": array("q"),
        "subscribed": 0,
        "expected": len(owners) * per_user,
        "ready": asyncio.Event(),
        "out_of_order": 0,
    }
    listeners: list[Receiver] = []
    transports: list[WSTransport] = []
    for owner in owners:
        for _ in range(per_user):
            ticket = await rpc.call(STREAM_TICKET, Empty(), user_id=uuid.UUID(owner))
            transport, listener = await ws_connect(
                lambda: Receiver(state),
                ws_url,
                extra_headers={"Sec-WebSocket-Protocol": ", ".join(ticket.protocols)},
            )
            transports.append(transport)
            listeners.append(listener)  # type: ignore[arg-type]
    await asyncio.wait_for(state["ready"].wait(), 60)
    await nc.close()
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    _, t0, t1 = line.split()
    lo, hi = int(t0), int(t1)
    await asyncio.sleep(1.0)  # deliveries still in flight
    sent, lat = state["sent"], state["lat"]
    window = array("q", (lat[i] for i in range(len(sent)) if lo <= sent[i] < hi))
    for t in transports:
        t.disconnect()
    with open(out, "wb") as fh:
        window.tofile(fh)
    result = {
        "received": len(window),
        "out_of_order": state["out_of_order"],
        "closed": sum(1 for lst in listeners if lst.closed_code is not None),
    }
    print("RESULT " + json.dumps(result), flush=True)


# -- publisher (own process) ----------------------------------------------------------------


async def publish(
    nats_url: str, owners: list[str], rate: int, warmup: float, seconds: float
) -> None:
    nc = await nats.connect(nats_url)
    bots = {o: str(uuid.uuid5(uuid.NAMESPACE_OID, o)) for o in owners}
    subjects = [f"evt.log.{o}.{bots[o]}.info" for o in owners]
    heads = [f'","owner_id":"{o}","bot_id":"{bots[o]}","message":"t' for o in owners]
    tail = '","level":"info","source":"bench","details":{}}'
    tick = 0.002
    per_tick = max(1, round(rate * tick))
    users = len(owners)

    async def run(duration: float) -> int:
        sent = 0
        start = time.monotonic()
        next_at = start
        while time.monotonic() - start < duration:
            at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            for _ in range(per_tick):
                i = sent % users
                eid = str(uuid_utils.uuid7())
                body = f'{{"id":"{eid}","occurred_at":"{at}{heads[i]}{time.monotonic_ns()}{tail}'
                await nc.publish(subjects[i], body.encode(), headers={"Nats-Msg-Id": eid})
                sent += 1
            next_at += tick
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await nc.flush()
        return sent

    await run(warmup)
    t0 = time.monotonic_ns()
    print(f"START {t0}", flush=True)
    sent = await run(seconds)
    t1 = time.monotonic_ns()
    print(f"END {t0} {t1} {sent}", flush=True)
    await nc.close()


# -- the conductor --------------------------------------------------------------------------


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def _line(proc: subprocess.Popen[str], prefix: str, timeout_s: float = 120) -> str:
    assert proc.stdout is not None
    give_up = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
        if time.monotonic() > give_up:
            break
    raise RuntimeError(f"no {prefix!r} line from {proc.args}")


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


LAYOUTS = {
    # The stream tier measured on its own: no ingestion on this machine (a deployment runs
    # the ingest consumers on other replicas/nodes; `log_ingest` measures them).
    "stream_tier": {"split": False, "ingest_workers": "0"},
    # Everything on these 2 cores: a second replica ingests every event into PostgreSQL
    # while the measured one streams.
    "co_located": {"split": True, "ingest_workers": "2"},
    # One replica does both (its CPU then includes ingestion).
    "one_replica": {"split": False, "ingest_workers": "2"},
}


def run_layout(
    layout: str, rate: int = 5000, seconds: float = 15.0, users: int = 100, per_user: int = 10
) -> dict[str, object]:
    split = bool(LAYOUTS[layout]["split"])
    n_receivers = int(os.environ.get("BENCH_LOG_RECEIVERS", "2"))
    data_dir = Path(tempfile.mkdtemp(prefix="bc-bench-fanout-"))
    data_dir.chmod(0o755)
    infra = Infra(data_dir, durable=False, progress=lambda _: None)
    infra.start()
    procs = []
    children: list[subprocess.Popen[str]] = []
    try:
        base = {**infra.service_env("log"), "LOG_LOG_LEVEL": "WARNING"}
        workers = str(LAYOUTS[layout]["ingest_workers"])
        stream = spawn_service(
            "log",
            {**base, "LOG_INGEST_WORKERS": "0" if split else workers},
            log_path=data_dir / "log.log",
        )
        procs.append(stream)
        ingest = None
        if split:
            ingest = spawn_service(
                "log", {**base, "LOG_INGEST_WORKERS": workers}, log_path=data_dir / "ingest.log"
            )
            procs.append(ingest)
        for p in procs:
            p.wait_ready(60)
        assert stream.url is not None
        endpoint = httpx.get(stream.url + "/stream-endpoint", timeout=10).json()
        ws_url = str(endpoint["url"])
        owners = [str(uuid.uuid4()) for _ in range(users)]
        receivers = []
        for i in range(n_receivers):
            args = ["--role", "receive", "--nats", infra.admin_nats_url, "--ws", ws_url]
            args += ["--owners", ",".join(owners[i::n_receivers]), "--per-user", str(per_user)]
            receivers.append(_child(*args, "--out", str(data_dir / f"latencies-{i}.bin")))
        children.extend(receivers)
        for r in receivers:
            _line(r, "READY")
        publisher = _child(
            "--role", "publish", "--nats", infra.admin_nats_url, "--owners", ",".join(owners),
            "--rate", str(rate), "--seconds", str(seconds),
        )  # fmt: skip
        children.append(publisher)
        watched = {
            "stream": psutil.Process(stream.proc.pid),
            "ingest": psutil.Process(ingest.proc.pid) if ingest else None,
            "publisher": psutil.Process(publisher.pid),
        }
        for i, r in enumerate(receivers):
            watched[f"receiver{i}"] = psutil.Process(r.pid)
        _line(publisher, "START")
        lag_stop, lags = threading.Event(), []
        lag_thread = threading.Thread(target=wakeup_lag, args=(lag_stop, lags), daemon=True)
        lag_thread.start()
        cpu0 = {k: _cpu(p) for k, p in watched.items() if p is not None}
        wait0 = runqueue_wait_s(stream.proc.pid)
        w0 = time.monotonic()
        load0 = loadavg()
        end = _line(publisher, "END").split()
        lag_stop.set()
        lag_thread.join()
        lags.sort()
        lag_p99 = lags[int(0.99 * len(lags))] * 1e3 if lags else 0.0
        elapsed = time.monotonic() - w0
        cpu = {k: (_cpu(p) - cpu0[k]) / elapsed for k, p in watched.items() if p is not None}
        waited = (runqueue_wait_s(stream.proc.pid) - wait0) / elapsed
        load1 = loadavg()
        t0, t1, sent = int(end[1]), int(end[2]), int(end[3])
        got = {"received": 0, "out_of_order": 0, "closed": 0}
        for r in receivers:
            assert r.stdin is not None
            r.stdin.write(f"STOP {t0} {t1}\n")
            r.stdin.flush()
        window = array("q")
        for i, r in enumerate(receivers):
            part = json.loads(_line(r, "RESULT").split(" ", 1)[1])
            for k in got:
                got[k] += part[k]
            with open(data_dir / f"latencies-{i}.bin", "rb") as fh:
                window.frombytes(fh.read())
        ordered = sorted(window)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6 if ordered else 0.0

        got.update(
            p50=round(pct(0.50), 2),
            p99=round(pct(0.99), 2),
            p999=round(pct(0.999), 2),
            max=round(pct(1.0), 2),
        )
        cpu["receiver"] = sum(v for k, v in cpu.items() if k.startswith("receiver"))
    finally:
        for c in children:
            c.kill()
            c.wait()
        for p in procs:
            p.stop()
        infra.stop()
        shutil.rmtree(data_dir, ignore_errors=True)  # a run leaves up to a few GB behind
    window_s = (t1 - t0) / 1e9
    expected = sent * per_user
    figures: dict[str, object] = {
        "layout": layout,
        "subscribers": users * per_user,
        "users": users,
        "stream_server": endpoint.get("server"),
        "ingestion": (
            "a second replica on this machine"
            if split
            else ("in the measured replica" if workers != "0" else "none on this machine")
        ),
        "events_per_s_target": rate,
        "events_per_s_sent": round(sent / window_s),
        "deliveries_per_s": round(got["received"] / window_s),
        "delivered_fraction": round(got["received"] / max(expected, 1), 4),
        "out_of_order": got["out_of_order"],
        "latency_ms_p50": got["p50"],
        "latency_ms_p99": got["p99"],
        "latency_ms_p999": got["p999"],
        "latency_ms_max": got["max"],
        "log_service_cpu_cores": round(cpu["stream"], 2),
        "log_service_cpu_us_per_delivery": round(
            cpu["stream"] / max(got["received"] / window_s, 1) * 1e6, 2
        ),
        "log_service_waited_for_cpu_s_per_s": round(waited, 2),
        "ingest_replica_cpu_cores": round(cpu["ingest"], 2) if split else None,
        "publisher_cpu_cores": round(cpu["publisher"], 2),
        "receiver_processes": n_receivers,
        "receivers_cpu_cores": round(cpu["receiver"], 2),
        "clients_closed": got["closed"],
        "machine_wakeup_lag_ms_p99": round(lag_p99, 2),
        "loadavg_before": load0,
        "loadavg_after": load1,
        "meets_target": got["p99"] <= 10 and cpu["stream"] < 0.6 and got["received"] >= expected,
    }
    print(
        f"[{layout}] {figures['subscribers']} subscribers ({figures['stream_server']}), "
        f"{figures['events_per_s_sent']} events/s -> {figures['deliveries_per_s']} deliveries/s "
        f"({figures['delivered_fraction']:.2%} of expected, {got['out_of_order']} out of order); "
        f"latency p50 {got['p50']} ms, p99 {got['p99']} ms, max {got['max']} ms; log-service CPU "
        f"{cpu['stream']:.2f} cores"
        + (
            f" (streams only; the ingest replica {cpu['ingest']:.2f} cores)"
            if split
            else (" (streams and ingestion)" if workers != "0" else " (no ingestion anywhere)")
        )
        + f"; load generator {cpu['publisher']:.2f} (publisher) + {cpu['receiver']:.2f} "
        f"(receivers) cores; load average {load0} -> {load1}; a 2 ms sleep woke up to "
        f"{lag_p99:.1f} ms late (p99) meanwhile, and log-service spent {waited:.2f} s/s "
        "runnable but waiting for a CPU"
    )
    return figures


def main(
    rate: int = 5000, seconds: float = 15.0, users: int = 100, per_user: int = 10
) -> dict[str, object]:
    """Each layout of `BENCH_LOG_LAYOUTS` (default: the stream tier alone, then co-located
    with ingestion); the headline figures are the first layout's."""
    names = os.environ.get("BENCH_LOG_LAYOUTS", "stream_tier,co_located").split(",")
    runs = {n: run_layout(n, rate, seconds, users, per_user) for n in names if n}
    first = next(iter(runs.values()))
    return {**first, "layouts": runs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["main", "publish", "receive"], default="main")
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--nats", default="")
    parser.add_argument("--ws", default="")
    parser.add_argument("--owners", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.role == "publish":
        uvloop.run(publish(args.nats, args.owners.split(","), args.rate, 2.0, args.seconds))
    elif args.role == "receive":
        uvloop.run(receive(args.nats, args.ws, args.owners.split(","), args.per_user, args.out))
    else:
        main(args.rate, args.seconds, args.users, args.per_user)
