"""Benchmark: RSS per idle online bot (1 shard, 1 guild) in one bot-service replica, over
TLS (sandbox `--tls`), at 100, 500 and 1,000 bots; and the time for the bots of each step
to go from `start` (desired state written) to online (one connected sandbox session each).

    python -m bench bot_memory        (BENCH_BOTS=100,500,1000 to change the steps)

Target (issue 5): at most 160 KiB RSS per idle bot over TLS. The replica runs with its
defaults (the fleet's lean client: heartbeat task, no gateway compression, pinned malloc
mmap threshold). The machine is shared: the load average is recorded with the figures.
"""

from __future__ import annotations

import asyncio
import os
import time

from bench._fleet import FleetStack, run_on_fleet
from bench._proc import rss_kib

TARGET_KIB_PER_BOT = 160.0


async def _run(stack: FleetStack, steps: list[int]) -> dict[str, object]:
    replica = stack.start_replica()
    await asyncio.sleep(2)  # let the idle replica settle before the baseline
    baseline = rss_kib(replica.proc.pid)
    figures: dict[str, object] = {
        "tls": stack.tls,
        "target_kib_per_bot": TARGET_KIB_PER_BOT,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "baseline_rss_kib": baseline,
    }
    apps = []
    for target in steps:
        new = await stack.create_apps(target - len(apps))
        started = time.monotonic()
        await stack.run_bots(new)
        apps += new
        await stack.wait_online(apps, timeout_s=240)
        figures[f"start_to_online_s_{target}"] = round(time.monotonic() - started, 2)
        await asyncio.sleep(3)  # idle: READY/GUILD_CREATE processed, buffers released
        rss = rss_kib(replica.proc.pid)
        per_bot = (rss - baseline) / target
        figures[f"rss_kib_{target}"] = rss
        figures[f"kib_per_bot_{target}"] = round(per_bot, 1)
        print(f"{target} bots: RSS {rss} KiB, {per_bot:.1f} KiB per bot", flush=True)
    worst = max(float(v) for k, v in figures.items() if k.startswith("kib_per_bot_"))  # type: ignore[arg-type]
    figures["worst_kib_per_bot"] = worst
    figures["meets_target"] = worst <= TARGET_KIB_PER_BOT
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    stats = await stack.stats()
    figures["identify_violations"] = stats["identify_violations"]
    figures["identifies_total"] = stats["identifies_total"]
    return figures


def main() -> dict[str, object]:
    steps = [int(x) for x in os.environ.get("BENCH_BOTS", "100,500,1000").split(",")]
    return run_on_fleet(lambda stack: _run(stack, steps), tls=True)


if __name__ == "__main__":
    main()
