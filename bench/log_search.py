"""Benchmark: history search latency (`rpc.log.query` with `q`, the substring search).

Embedded PostgreSQL and NATS started like `make run`, one log-service. A backlog of N
events of a few owners over the last 20 hours (bot log lines like "command /ping
answered in 42 ms for guild 617") is ingested first; then one owner's history is searched
as that owner (row-level security on) through the RPC the gateway calls, each query
repeated. Figures: p50 and p95 milliseconds per query shape:

- `common`: a substring in every line ("answered");
- `rare`: a substring in one line in a thousand ("guild 617 ");
- `none`: a substring in no line;
- `short`: two characters ("gu");
- `none_15m`: no match within the last 15 minutes (`since`);
- `plain`: no search at all (the newest page, for comparison).

No index serves the search under row-level security (see log migration 0003): these
figures are the scan of the owner's rows, bounded by the time range when there is one.

    python -m bench log_search
    python bench/log_search.py [--events 300000] [--owners 3] [--repeat 20]
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import nats
import uvloop

from bench._infra import command_line, embedded_infra
from bench.log_ingest import count, ingested, loadavg, ping_line, publish_lines
from proto.logs import QUERY, LogQuery
from services.bus.events import ensure_events_stream
from services.bus.rpc import RpcClient
from services.devstack.stack import spawn_service


async def preload(url: str, n: int, owners: list[uuid.UUID]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_events_stream(js)
    bots = [uuid.uuid4() for _ in owners]
    # Spread over the last 20 hours (oldest first), so a time range has something to cut.
    start, step = datetime.now(UTC) - timedelta(hours=20), timedelta(hours=20) / n
    k = len(owners)
    lines = (
        ping_line(owners[i % k], bots[i % k], i // k, occurred_at=start + step * i)
        for i in range(n)
    )
    await publish_lines(nc, lines)
    await nc.close()


async def search(url: str, owner: uuid.UUID, repeat: int) -> dict[str, dict[str, float]]:
    nc = await nats.connect(url)
    rpc = RpcClient(nc, "gateway", timeout_s=30)
    since = datetime.now(UTC) - timedelta(minutes=15)
    shapes = {
        "common": LogQuery(q="answered"),
        "rare": LogQuery(q="guild 617 "),
        "none": LogQuery(q="no such line"),
        "short": LogQuery(q="gu"),
        "none_15m": LogQuery(q="no such line", since=since),
        "plain": LogQuery(),
    }
    out: dict[str, dict[str, float]] = {}
    try:
        for name, query in shapes.items():
            await rpc.call(QUERY, query, user_id=owner)  # warm the plan and the cache
            times, rows = [], 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                page = await rpc.call(QUERY, query, user_id=owner)
                times.append((time.perf_counter() - t0) * 1000)
                rows = len(page.items)
            times.sort()
            out[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                "rows": rows,
            }
    finally:
        await nc.close()
    return out


def main(events: int = 300_000, owners: int = 3, repeat: int = 20) -> dict[str, object]:
    ids = [uuid.uuid4() for _ in range(owners)]
    with embedded_infra("bc-bench-search-", durable=True) as infra:
        proc = None
        try:
            assert infra.database_url is not None
            uvloop.run(preload(infra.admin_nats_url, events, ids))
            env = {**infra.service_env("log"), "LOG_LOG_LEVEL": "WARNING"}
            proc = spawn_service("log", env, log_path=infra.data_dir / "log.log")
            proc.wait_ready(60)
            assert proc.url is not None
            deadline = time.monotonic() + 900
            while ingested([proc.url]) < events and time.monotonic() < deadline:
                time.sleep(0.5)
            rows = uvloop.run(count(infra.database_url))
            load0 = loadavg()
            shapes = uvloop.run(search(infra.admin_nats_url, ids[0], repeat))
            load1 = loadavg()
        finally:
            if proc is not None:
                proc.stop()
    figures: dict[str, object] = {
        "events": events,
        "rows_in_table": rows,
        "rows_of_the_owner": rows // owners,
        "repeat": repeat,
        **{f"{name}_{k}": v for name, f in shapes.items() for k, v in f.items()},
        "loadavg_before": load0,
        "loadavg_after": load1,
    }
    for name, f in shapes.items():
        p50, p95 = f["p50_ms"], f["p95_ms"]
        print(f"{name:>9}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  ({f['rows']} rows)")
    print(f"{rows:,} rows, {rows // owners:,} of the owner; load average {load0} -> {load1}")
    return figures


if __name__ == "__main__":
    command_line(main)
