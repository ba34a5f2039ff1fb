"""Benchmark: 500 stalled connections from one address against the gateway (issue 23, item 4).

Stack: embedded PostgreSQL and NATS, the discord-sandbox, auth-service and the gateway as
processes (as `make run` starts them), on 127.0.0.1 only. Two users sign in through the
real OAuth flow: one normal user, one "attacker".

Each phase starts a fresh gateway, then:
1. *before*: the normal user's `GET /v1/me` at a fixed rate (open loop, latency from each
   request's scheduled send time; the generator of `bench/gateway_me.py` in its own process);
2. opens 500 connections from the one address and stalls them: a third stop mid-headers,
   a third send 1 MiB of a declared 8 MiB avatar upload (signed in) and stop, a third send
   20 bytes of a declared 200-byte JSON body (`POST /v1/bots`) and stop;
3. *arrival*: the same load while the gateway takes those requests in (~170 MB of upload
   bodies among them), then *during*: the same load while it only holds them (all 500 are
   still open at its end). The gateway's RSS is sampled every 100 ms from before the
   stalls until they are gone: the peak counts (it is reached while the requests arrive:
   uvicorn buffers up to ~320 KiB of body per connection until the app takes it); the RSS
   at the end of *during* is what the held connections keep;
4. waits (bounded) until the gateway has closed every stalled connection, noting what
   each got (408, 429, ...) and when;
5. *after*: the same load again.

Phases: `defaults` (the shipped caps: 2 uploads per user, 4 per address, 16 per replica;
spooled above 64 KiB), `caps_raised` (caps at 1,000, so every stalled upload is read and
spooled: the memory worst case), and, for comparison, `caps_raised_no_spool` (spool
threshold 16 MiB: every upload kept in memory, as the gateway did before). Header and
body timeouts are 25 s here (the shipped 10/15 s would close the stalls before the
*during* window ends); the rate limits are raised out of the way, so every stalled request
gets as far into the gateway as it can. Targets: RSS increase <= 50 MB, and the normal
user's p99 during the stalls not above max(2 x before, before + 10 ms).

    python -m bench slow_clients      # writes bench/results/slow_clients.json
    python bench/slow_clients.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

STALLED = 500
RATE = 200  # the normal user's requests per second
TIMEOUT_S = 25  # header and body timeouts of the gateway under test
CLOSE_DEADLINE_S = 90.0  # a stalled connection still open after this counts as never closed
UPLOAD_SENT = 1024 * 1024
UPLOAD_DECLARED = 8 * 1024 * 1024
BOUNDARY = "benchslowclients"
HERE = Path(__file__).resolve().parent

PHASES: dict[str, dict[str, str]] = {
    "defaults": {},
    "caps_raised": {
        "GATEWAY_MAX_UPLOADS_PER_USER": "1000",
        "GATEWAY_MAX_UPLOADS_PER_ADDRESS": "1000",
        "GATEWAY_MAX_UPLOADS": "1000",
    },
    "caps_raised_no_spool": {
        "GATEWAY_MAX_UPLOADS_PER_USER": "1000",
        "GATEWAY_MAX_UPLOADS_PER_ADDRESS": "1000",
        "GATEWAY_MAX_UPLOADS": "1000",
        "GATEWAY_UPLOAD_SPOOL_BYTES": str(16 * 1024 * 1024),
    },
}


def _payloads(host: str, token: str) -> dict[str, bytes]:
    upload = (
        (
            f"POST /v1/files?kind=avatar HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {UPLOAD_DECLARED}\r\n\r\n--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + b"\x89PNG"
        + b"\x00" * (UPLOAD_SENT - 4)
    )
    return {
        "mid_headers": f"GET /v1/me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bea".encode(),
        "mid_upload": upload,
        "partial_json": (
            f"POST /v1/bots HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            'Content-Length: 200\r\n\r\n{"token": "abcdefgh'
        ).encode(),
    }


async def _stall(
    host: str, port: int, kind: str, payload: bytes, sent: asyncio.Queue[None]
) -> dict[str, Any]:
    """Send `payload` and stop; read whatever comes until the server closes (bounded)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(payload)
    await writer.drain()
    sent.put_nowait(None)
    sent_at = time.monotonic()
    data = b""
    closed_after: float | None = None
    try:
        async with asyncio.timeout(CLOSE_DEADLINE_S):
            while chunk := await reader.read(65536):
                data += chunk
        closed_after = time.monotonic() - sent_at
    except ConnectionResetError:
        closed_after = time.monotonic() - sent_at
    except TimeoutError:
        pass
    finally:
        writer.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    return {"kind": kind, "status": status, "closed_after_s": closed_after}


async def _load(url: str, token: str, seconds: float) -> dict[str, Any]:
    """The normal user's open-loop load, from bench/gateway_me.py's generator process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "gateway_me.py"),
        "--generate",
        url,
        token,
        str(seconds),
        str(RATE),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds * 10 + 60)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return {k: result[k] for k in ("requests", "errors", "p50_ms", "p99_ms", "max_ms")}


def _waited_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


async def _phase(url: str, pid: int, user_token: str, attacker_token: str, seconds: float) -> Any:
    import psutil

    gateway = psutil.Process(pid)
    host, port = url.removeprefix("http://").split(":")
    await _load(url, user_token, 1.0)  # warm-up: pools, caches, the JWKS

    def rss_mb() -> float:
        return float(gateway.memory_info().rss) / 1e6

    me = psutil.Process()

    def cpu_s(proc: Any) -> float:
        t = proc.cpu_times()
        return float(t.user + t.system)

    async def load() -> dict[str, Any]:
        """The load, with where the CPU went over the window: the gateway's CPU seconds and
        its seconds runnable but waiting for a core, this process's (the stalled clients'
        side), and the whole machine's busy cores (other tenants included)."""
        gw0, wait0, me0, busy0 = cpu_s(gateway), _waited_s(pid), cpu_s(me), _busy()
        started = time.monotonic()
        result = await _load(url, user_token, seconds)
        elapsed = time.monotonic() - started
        busy1 = _busy()
        result["gateway_cpu_s"] = round(cpu_s(gateway) - gw0, 2)
        result["gateway_cpu_wait_s"] = round(_waited_s(pid) - wait0, 2)
        result["stalled_clients_cpu_s"] = round(cpu_s(me) - me0, 2)
        result["machine_busy_cores"] = (
            round((busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * (os.cpu_count() or 1), 2)
            if busy1[1] > busy0[1]
            else None
        )
        result["window_s"] = round(elapsed, 2)
        return result

    before = await load()
    rss_before = rss_mb()
    peak = rss_before
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    payloads = _payloads(f"{host}:{port}", attacker_token)
    kinds = list(payloads)
    opening = time.monotonic()
    sent: asyncio.Queue[None] = asyncio.Queue()
    stalls = []
    for i in range(STALLED):
        kind = kinds[i % len(kinds)]
        stalls.append(asyncio.create_task(_stall(host, int(port), kind, payloads[kind], sent)))
        if i % 50 == 49:
            await asyncio.sleep(0)  # let the writes go out as we go
    async with asyncio.timeout(60):
        for _ in range(STALLED):  # every stalled request is out (its bytes in the socket)
            await sent.get()
    opened_s = time.monotonic() - opening
    # While the gateway takes in the stalled requests (~170 MB of upload bodies among them),
    # then while it only holds them.
    arrival = await load()
    during = await load()
    open_after_during = sum(1 for t in stalls if not t.done())
    rss_held = rss_mb()  # all 500 held, their requests long taken in
    outcomes = await asyncio.gather(*stalls)
    all_closed_s = time.monotonic() - opening
    sampling = False
    await sampler
    rss_peak = peak
    after = await load()
    rss_after = rss_mb()

    by_kind: dict[str, Any] = {}
    for kind in kinds:
        mine = [o for o in outcomes if o["kind"] == kind]
        closed = [o["closed_after_s"] for o in mine if o["closed_after_s"] is not None]
        by_kind[kind] = {
            "connections": len(mine),
            "answers": dict(Counter(str(o["status"] or "closed, no answer") for o in mine)),
            "never_closed": len(mine) - len(closed),
            "closed_after_s_max": round(max(closed), 2) if closed else None,
        }
    p99_limit = max(2 * before["p99_ms"], before["p99_ms"] + 10)
    return {
        "normal_user_get_me": {
            "before": before,
            "arrival": arrival,
            "during": during,
            "after": after,
        },
        "stalled": by_kind,
        "stalled_still_open_after_during_window": open_after_during,
        "seconds_to_open_stalls": round(opened_s, 2),
        "seconds_until_all_closed": round(all_closed_s, 2),
        "rss_mb": {
            "before": round(rss_before, 1),
            "peak_during": round(rss_peak, 1),
            "held_end_of_during": round(rss_held, 1),
            "after": round(rss_after, 1),
            "increase": round(rss_peak - rss_before, 1),
        },
        "targets": {
            "rss_increase_le_50mb": rss_peak - rss_before <= 50,
            "p99_during_le_max_2x_or_plus_10ms": during["p99_ms"] <= p99_limit,
            "all_closed_by_the_gateway": all(v["never_closed"] == 0 for v in by_kind.values()),
        },
    }


def main(seconds: float = 5.0) -> dict[str, object]:
    import uvloop

    from bench._auth_stack import AuthStack
    from tests.fixtures.auth import sign_in

    stack = AuthStack("bc-bench-slow-")
    stack.start(GATEWAY_HEADER_TIMEOUT_S=str(TIMEOUT_S), GATEWAY_BODY_TIMEOUT_S=str(TIMEOUT_S))
    sandbox = stack.sandbox
    assert sandbox is not None
    try:
        figures: dict[str, object] = {
            "stalled_connections": STALLED,
            "normal_rate_per_s": RATE,
            "window_s": seconds,
            "gateway_timeouts_s": {"header": TIMEOUT_S, "body": TIMEOUT_S},
        }
        for phase, extra in PHASES.items():
            gateway = stack.service("gateway", **{"GATEWAY_HTTP_PORT": "0"} | extra)
            try:
                assert gateway.url
                user = uvloop.run(sign_in(gateway.url, sandbox)).access_token
                attacker = uvloop.run(sign_in(gateway.url, sandbox)).access_token
                result = uvloop.run(_phase(gateway.url, gateway.proc.pid, user, attacker, seconds))
                figures[phase] = {"settings": extra, **result}
                print(f"{phase}: {json.dumps(result)}", flush=True)
            finally:
                gateway.stop()
        figures["load_average_before"] = stack.load_before
        figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        return figures
    finally:
        stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(main(args.seconds), indent=1))
