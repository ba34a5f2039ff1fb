"""Benchmark: 1,000 concurrent gateway sessions held against discord-sandbox, plain and TLS.

Starts the sandbox as a subprocess on loopback, opens N sessions (50 applications x 20 shards,
zstd-stream like discord.py with `zstandard` installed), checks the sandbox reports them all
live, and reports the sandbox's RSS before and while holding them (per-session memory).

    python bench/sandbox_sessions.py [--sessions 1000] [--mode both|plain|tls] [--hold 5]

`main()` returns the figures as a flat dict (the bench runner writes bench/results/*.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._proc import rss_kib
from discord_sandbox.client import GatewayClient
from services.devstack.stack import sandbox_command

SHARDS_PER_APP = 20
CONNECT_CONCURRENCY = 100
STARTUP_TIMEOUT_S = 30.0
LISTENING = re.compile(r"discord-sandbox listening on (\S+)")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Sandbox:
    def __init__(self, workdir: Path, tls: bool) -> None:
        self.workdir = workdir
        self.tls = tls
        self.log = workdir / f"sandbox-{'tls' if tls else 'plain'}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self) -> None:
        args = sandbox_command(
            0, "--cert-dir", str(self.workdir / "certs"), "--identify-limit-mode", "count"
        )
        if self.tls:
            args.append("--tls")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited: {self.log.read_text()}")
            match = LISTENING.search(self.log.read_text(errors="replace"))
            if match:
                self.base_url = match.group(1)
                return
            time.sleep(0.05)
        raise RuntimeError("sandbox did not start in time")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.workdir / "certs" / "sandbox-cert.pem"))

    @property
    def gateway_url(self) -> str:
        return re.sub(r"^http", "ws", self.base_url) + "/gateway"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def _control(
    http: aiohttp.ClientSession, sandbox: Sandbox, method: str, path: str, body: Any = None
) -> Any:
    async with http.request(
        method, f"{sandbox.base_url}/_sandbox{path}", json=body, ssl=sandbox.ssl_context() or True
    ) as r:
        r.raise_for_status()
        return await r.json()


async def _run_mode(sandbox: Sandbox, sessions: int, hold_s: float) -> dict[str, Any]:
    pid = sandbox.process.pid if sandbox.process else 0
    connector = aiohttp.TCPConnector(limit=0, ssl=sandbox.ssl_context() or True)
    async with aiohttp.ClientSession(connector=connector) as http:
        apps = []
        app_count = max(1, -(-sessions // SHARDS_PER_APP))
        for i in range(app_count):
            app = await _control(
                http,
                sandbox,
                "POST",
                "/applications",
                {"name": f"Bench {i}", "guild_count": SHARDS_PER_APP, "max_concurrency": 16},
            )
            apps.append(app)
        rss_before = rss_kib(pid)
        clients: list[GatewayClient] = []
        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_session(index: int) -> None:
            app = apps[index // SHARDS_PER_APP]
            client = GatewayClient(
                http, sandbox.gateway_url, compress="zstd-stream", ssl_context=sandbox.ssl_context()
            )
            async with semaphore:
                await client.connect()
                await client.identify(
                    app["token"], intents=513, shard=[index % SHARDS_PER_APP, SHARDS_PER_APP]
                )
                await client.wait_for("READY", timeout=60)
            clients.append(client)

        started = time.perf_counter()
        await asyncio.gather(*(open_session(i) for i in range(sessions)))
        connect_s = time.perf_counter() - started
        # Drain the GUILD_CREATEs in the background while holding.
        drains = [asyncio.create_task(_drain(c)) for c in clients]
        stats = await _control(http, sandbox, "GET", "/stats")
        await asyncio.sleep(hold_s)  # hold the sessions steady before measuring
        rss_during = rss_kib(pid)
        live = (await _control(http, sandbox, "GET", "/stats"))["sessions_live"]
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
        # Responsiveness while holding them all: every session heartbeats at once.
        rtts = sorted(await asyncio.gather(*(_heartbeat_rtt(c) for c in clients)))
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return {
        "sessions": sessions,
        "sessions_live": live,
        "identifies": stats["identifies_total"],
        "connect_seconds": round(connect_s, 3),
        "sessions_per_second": round(sessions / connect_s, 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_with_sessions_mib": round(rss_during / 1024, 1),
        "per_session_kib": round((rss_during - rss_before) / max(sessions, 1), 1),
        "all_live": live == sessions,
        "heartbeat_ack_p50_ms": round(rtts[len(rtts) // 2] * 1000, 1),
        "heartbeat_ack_p99_ms": round(rtts[min(len(rtts) - 1, len(rtts) * 99 // 100)] * 1000, 1),
    }


async def _heartbeat_rtt(client: GatewayClient) -> float:
    started = time.perf_counter()
    await client.send(1, client.seq)
    await client.wait_for(op=11, timeout=60)
    return time.perf_counter() - started


async def _drain(client: GatewayClient) -> None:
    with contextlib.suppress(Exception):
        while True:
            await client.receive(timeout=3600)


def _measure(mode: str, sessions: int, hold_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        sandbox = Sandbox(Path(tmp), tls=mode == "tls")
        sandbox.start()
        try:
            return asyncio.run(_run_mode(sandbox, sessions, hold_s))
        finally:
            sandbox.stop()


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--mode", choices=("both", "plain", "tls"), default="both")
    parser.add_argument("--tls", action="store_true", help="same as --mode tls")
    parser.add_argument(
        "--hold", type=float, default=5.0, help="seconds to hold the sessions before measuring"
    )
    args = parser.parse_args(argv if argv is not None else [])
    modes = ["tls"] if args.tls else (["plain", "tls"] if args.mode == "both" else [args.mode])
    _raise_fd_limit()
    results: dict[str, object] = {
        "benchmark": "sandbox_sessions",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "compress": "zstd-stream",
    }
    for mode in modes:
        figures = _measure(mode, args.sessions, args.hold)
        for key, value in figures.items():
            results[f"{mode}_{key}"] = value
        print(
            f"[{mode:5}] {figures['sessions_live']}/{figures['sessions']} sessions live, "
            f"connected in {figures['connect_seconds']} s ({figures['sessions_per_second']}/s); "
            f"sandbox RSS {figures['rss_before_mib']} -> {figures['rss_with_sessions_mib']} MiB "
            f"= {figures['per_session_kib']} KiB per session; heartbeat ACK with all of them "
            f"beating at once p50 {figures['heartbeat_ack_p50_ms']} ms, "
            f"p99 {figures['heartbeat_ack_p99_ms']} ms",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
