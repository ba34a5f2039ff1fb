"""Benchmark: failover time after a SIGKILL. Three bot-service replicas hold N bots (plain
sandbox); one replica is killed and we time until every bot has a connected session again
(bounded by the lease TTL), and check no (bot, shard) ever had two live sessions. Then a
SIGTERM of another replica: hand-off time and IDENTIFYs spent (should be 0).

    python -m bench bot_failover      (BENCH_BOTS=300, BENCH_LEASE_TTL_S=15)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from bench._fleet import FleetStack, run_on_fleet


def _spent(before: dict[str, object], after: dict[str, object], key: str) -> int:
    return int(after[key]) - int(before[key])  # type: ignore[call-overload]


async def _run(stack: FleetStack, bots: int, ttl: float) -> dict[str, object]:
    env = {"BOT_LEASE_TTL_S": str(ttl), "BOT_RECONCILE_INTERVAL_S": "1"}
    replicas = [stack.start_replica(**env) for _ in range(3)]
    apps = await stack.create_apps(bots)
    await stack.run_bots(apps)
    start_s = await stack.wait_online(apps, timeout_s=240)
    before = await stack.stats()

    victim = replicas[0]
    os.killpg(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(10)
    killed = time.monotonic()
    await stack.wait_online(apps, timeout_s=ttl * 4 + 60)
    failover_s = time.monotonic() - killed
    mid = await stack.stats()

    leaving = replicas[1]
    term = time.monotonic()
    leaving.proc.send_signal(signal.SIGTERM)
    # The replica hands its units off while it shuts down: time until it has exited and
    # every bot is connected again (resumed by the survivor).
    await asyncio.to_thread(leaving.proc.wait, 60)
    await stack.wait_online(apps, timeout_s=ttl * 4 + 60)
    handoff_s = time.monotonic() - term
    after = await stack.stats()
    doubled = sum(
        1
        for app in apps
        for n in after["per_application"][app.application_id][
            "max_concurrent_sessions_per_shard"
        ].values()
        if n > 1
    )
    return {
        "bots": bots,
        "lease_ttl_s": ttl,
        "start_to_online_s": round(start_s, 2),
        "sigkill_failover_s": round(failover_s, 2),
        "identifies_after_sigkill": _spent(before, mid, "identifies_total"),
        "sigterm_handoff_s": round(handoff_s, 2),
        "identifies_after_sigterm": _spent(mid, after, "identifies_total"),
        "resumes_after_sigterm": _spent(mid, after, "resumes_total"),
        "units_with_two_live_sessions": doubled,
    }


def main() -> dict[str, object]:
    bots = int(os.environ.get("BENCH_BOTS", "300"))
    ttl = float(os.environ.get("BENCH_LEASE_TTL_S", "15"))
    return run_on_fleet(lambda stack: _run(stack, bots, ttl), tls=False)


if __name__ == "__main__":
    main()
