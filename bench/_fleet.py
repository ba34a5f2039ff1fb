"""Shared by the fleet benchmarks: infra (PostgreSQL, NATS), a discord-sandbox, bot-service
replicas with a development tokens file, and desired states written straight to KV."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import nats

from proto.fleet import DesiredBot
from services.devstack.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.sandbox import SandboxApp, SandboxProcess, start_sandbox

SANDBOX_ARGS = (
    "--heartbeat-interval-ms",
    "41250",
    "--identify-window-s",
    "0.25",
    "--interaction-callback-timeout-s",
    "15",
)


def run_on_fleet(
    run: Callable[[FleetStack], Coroutine[Any, Any, dict[str, object]]], *, tls: bool
) -> dict[str, object]:
    """Start a stack, run the benchmark on it, stop the stack whatever happened; print and
    return the figures."""
    stack = FleetStack(tls=tls)
    stack.start()
    try:
        figures = asyncio.run(run(stack))
    finally:
        stack.stop()
    print(figures)
    return figures


class FleetStack:
    def __init__(self, *, tls: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bc-bench-fleet-"))
        self.dir.chmod(0o755)
        self.tls = tls
        self.infra = Infra(self.dir / "infra", durable=False, progress=lambda _: None)
        self.sandbox: SandboxProcess | None = None
        self.tokens = self.dir / "tokens.json"
        self.tokens_data: dict[str, str] = {}
        self.replicas: list[ServiceProcess] = []
        self.owner = uuid.uuid4()

    def start(self) -> None:
        self.infra.start()
        self.sandbox = start_sandbox(self.dir / "sandbox", tls=self.tls, extra_args=SANDBOX_ARGS)
        self.tokens.write_text("{}")
        self.tokens.chmod(0o600)

    def start_replica(self, **env: str) -> ServiceProcess:
        assert self.sandbox is not None
        name = f"bench-{uuid.uuid4().hex[:6]}"
        full = {
            **self.infra.service_env("bot"),
            **self.sandbox.env(),
            "DISCORD_BASE_URL": self.sandbox.base_url,
            "BOT_INSTANCE": name,
            "BOT_DEV_TOKENS_FILE": str(self.tokens),
            "BOT_IDENTIFY_WINDOW_S": "0.3",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        proc = spawn_service("bot", full, log_path=self.dir / f"{name}.log")
        proc.wait_ready(120)
        self.replicas.append(proc)
        return proc

    async def create_apps(self, count: int) -> list[SandboxApp]:
        assert self.sandbox is not None
        sem = asyncio.Semaphore(20)

        async def one(i: int) -> SandboxApp:
            async with sem:
                return await self.sandbox.control.create_application(f"bench {i}", guild_count=1)  # type: ignore[union-attr]

        apps = list(await asyncio.gather(*(one(i) for i in range(count))))
        return apps

    async def run_bots(self, apps: list[SandboxApp]) -> list[uuid.UUID]:
        """Write tokens and desired states (running) for these apps; their bot ids."""
        ids = [uuid.uuid4() for _ in apps]
        for bot_id, app in zip(ids, apps, strict=True):
            self.tokens_data[str(bot_id)] = app.token
        self.tokens.write_text(json.dumps(self.tokens_data))
        nc = await nats.connect(self.infra.admin_nats_url)
        try:
            kv = await nc.jetstream().key_value("bot_desired")
            for bot_id in ids:
                desired = DesiredBot(
                    bot_id=bot_id, workspace_id=self.owner, running=True, shard_count=1, intents=1
                )
                await kv.put(str(bot_id), desired.model_dump_json().encode())
        finally:
            await nc.close()
        return ids

    async def wait_online(self, apps: list[SandboxApp], timeout_s: float) -> float:
        """Seconds until every app has one connected session."""
        assert self.sandbox is not None
        wanted = {a.application_id for a in apps}
        started = time.monotonic()
        while True:
            live = await self.sandbox.control.sessions()
            connected = {s["application_id"] for s in live if s["connected"]} & wanted
            if len(connected) == len(wanted):
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{len(connected)}/{len(wanted)} online after {timeout_s}s")
            await asyncio.sleep(0.25)

    async def stats(self) -> dict[str, Any]:
        assert self.sandbox is not None
        return await self.sandbox.control.stats()  # type: ignore[no-any-return]

    def stop(self) -> None:
        for proc in self.replicas:
            if proc.proc.poll() is None:
                proc.stop(30)
        if self.sandbox is not None:
            self.sandbox.stop()
        self.infra.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
