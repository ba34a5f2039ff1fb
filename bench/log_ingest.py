"""Benchmark: events persisted per second by log-service (JetStream `EVENTS` -> PostgreSQL).

Embedded PostgreSQL (fsync on, synchronous_commit on: every batch is durable when it is
acknowledged) and NATS with JetStream (file storage), started like `make run`. A backlog
of N events (the shape bots emit: a log line with a short message and a small payload,
each with its Nats-Msg-Id for de-duplication) is written to the stream first; then
log-service starts and drains it with its durable consumer. Figures: rows stored per second
over the whole drain (which lasts N / rate seconds; N is chosen so it lasts about a minute
at the measured rate) and over its steady middle, and the CPU of log-service, PostgreSQL
and NATS while it ran, with the load average (the machine is shared with other work).
Target (issue 8): >= 50,000 events/s sustained.

    python -m bench log_ingest
    python bench/log_ingest.py [--events 1200000] [--replicas 1] [--workers 2]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg
import nats
import psutil
import uvloop

from bench._infra import command_line, embedded_infra
from proto.logs import LogRecorded
from services.bus.events import ensure_events_stream
from services.bus.types import NatsClient
from services.devstack.stack import spawn_service

TARGET = 50_000


def ping_line(owner: uuid.UUID, bot: uuid.UUID, i: int, **more: Any) -> LogRecorded:
    """The `i`th line of a bot's backlog: "command /ping answered in 42 ms for guild 617 "."""
    return LogRecorded(
        owner_id=owner,
        bot_id=bot,
        message=f"command /ping answered in {i % 97} ms for guild {i % 1000} ",
        level="info",
        source="discord.py",
        **more,
    )


async def publish_lines(nc: NatsClient, lines: Iterable[LogRecorded]) -> None:
    """Publish log lines as the services do (`Nats-Msg-Id` deduplicates), in bulk."""
    for i, ev in enumerate(lines):
        await nc.publish(
            f"evt.log.{ev.owner_id}.{ev.bot_id}.{ev.level}",
            ev.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(ev.id)},
        )
        if i % 20_000 == 0:
            await nc.flush()
    await nc.flush()


async def preload(url: str, n: int, owners: int = 100) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_events_stream(js)
    ids = [(uuid.uuid4(), uuid.uuid4()) for _ in range(owners)]
    started = time.perf_counter()
    lines = (
        ping_line(*ids[i % owners], i, details={"guild_id": str(i % 1000), "latency_ms": i % 97})
        for i in range(n)
    )
    await publish_lines(nc, lines)
    info = await js.stream_info("EVENTS")
    while info.state.messages < n:
        await asyncio.sleep(0.2)
        info = await js.stream_info("EVENTS")
    await nc.close()
    return n / (time.perf_counter() - started)


async def count(admin_url: str) -> int:
    conn = await asyncpg.connect(admin_url)
    try:
        return int(await conn.fetchval("select count(*) from log.events"))
    finally:
        await conn.close()


def ingested(urls: list[str]) -> int:
    """Rows the replicas report stored (their `botcenter_log_ingested_total`): polling
    `count(*)` twice a second would itself cost PostgreSQL a tenth of a core by the end."""
    total = 0
    for url in urls:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:  # noqa: S310 (http)
            for line in r.read().decode().splitlines():
                if line.startswith("botcenter_log_ingested_total "):
                    total += int(float(line.split()[1]))
    return total


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def runqueue_wait_s(pids: list[int]) -> float:
    """Seconds these processes' threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{pid}/task/{task}/schedstat").read_text()
                    total += int(stat.split()[1])
    return total / 1e9


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(events: int = 1_200_000, replicas: int = 1, workers: int = 2) -> dict[str, object]:
    with embedded_infra("bc-bench-log-", durable=True) as infra:
        data_dir = infra.data_dir
        procs = []
        try:
            assert infra.database_url is not None
            publish_rate = uvloop.run(preload(infra.admin_nats_url, events))
            print(f"backlog of {events:,} events written ({publish_rate:,.0f}/s)")
            env = {
                **infra.service_env("log"),
                "LOG_INGEST_BATCH": "5000",
                "LOG_INGEST_WORKERS": str(workers),
                "LOG_LOG_LEVEL": "WARNING",
            }
            for i in range(replicas):
                procs.append(spawn_service("log", env, log_path=data_dir / f"log-{i}.log"))
            for p in procs:
                p.wait_ready(60)
            watched = [psutil.Process(p.proc.pid) for p in procs]
            postmaster = int(
                (infra.data_dir / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0]
            )
            nats_pid = next(
                p.pid
                for p in psutil.process_iter(["name", "cmdline"])
                if p.info["name"] == "nats-server" and str(data_dir) in " ".join(p.info["cmdline"])
            )
            cpu0 = _cpu(watched)
            wait0 = runqueue_wait_s([w.pid for w in watched])
            pg0, nats0 = _cpu(_tree(postmaster)), _cpu(_tree(nats_pid))
            load0 = loadavg()
            t0 = time.perf_counter()
            stored = 0
            samples: list[tuple[float, int]] = []
            urls = [p.url for p in procs if p.url]
            while stored < events and time.perf_counter() - t0 < 600:
                time.sleep(0.5)
                stored = ingested(urls)
                samples.append((time.perf_counter() - t0, stored))
            elapsed = time.perf_counter() - t0
            cpu = _cpu(watched) - cpu0
            waited = runqueue_wait_s([w.pid for w in watched]) - wait0
            pg_cpu, nats_cpu = _cpu(_tree(postmaster)) - pg0, _cpu(_tree(nats_pid)) - nats0
            load1 = loadavg()
            in_table = uvloop.run(count(infra.database_url))
        finally:
            for p in procs:
                p.stop()
    rate = stored / elapsed
    # The steadiest stretch: between 10% and 90% of the rows (no start-up, no tail).
    lo = next(s for s in samples if s[1] >= events * 0.1)
    hi = next(s for s in samples if s[1] >= events * 0.9)
    steady = (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-9)
    figures: dict[str, object] = {
        "events": events,
        "replicas": replicas,
        "workers_per_replica": workers,
        "stored": stored,
        "rows_in_table": in_table,
        "seconds": round(elapsed, 1),
        "events_per_s": round(rate),
        "steady_events_per_s": round(steady),
        "log_service_cpu_cores": round(cpu / elapsed, 2),
        "log_service_cpu_us_per_event": round(cpu / max(stored, 1) * 1e6, 1),
        "log_service_waited_for_cpu_s_per_s": round(waited / elapsed, 2),
        "postgres_cpu_cores": round(pg_cpu / elapsed, 2),
        "postgres_cpu_us_per_event": round(pg_cpu / max(stored, 1) * 1e6, 1),
        "nats_cpu_cores": round(nats_cpu / elapsed, 2),
        "loadavg_before": load0,
        "loadavg_after": load1,
        "target_events_per_s": TARGET,
        "meets_target": steady >= TARGET,
    }
    print(
        f"stored {stored:,} rows ({in_table:,} in the table) in {elapsed:.1f}s: "
        f"{rate:,.0f}/s overall, {steady:,.0f}/s steady "
        f"(target {TARGET:,}) over {elapsed:.0f} s; CPU: log-service {cpu / elapsed:.2f} cores "
        f"({cpu / max(stored, 1) * 1e6:.1f} us/event), PostgreSQL {pg_cpu / elapsed:.2f} "
        f"({pg_cpu / max(stored, 1) * 1e6:.1f} us/event), NATS {nats_cpu / elapsed:.2f}; "
        f"load average {load0} -> {load1} (log-service spent {waited / elapsed:.2f} s/s "
        "runnable but waiting for a CPU)"
    )
    return figures


if __name__ == "__main__":
    command_line(main)
