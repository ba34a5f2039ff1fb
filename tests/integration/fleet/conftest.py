"""Fixtures for fleet tests: bot-service replicas (real processes) with short fleet timings,
pointed at the session sandbox; bots added and started through bot-service's own RPCs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import BucketNotFoundError, NoKeysError
from pydantic import SecretStr

from proto import bots as P
from proto import fleet as F
from proto.registry import RpcSpec
from services.bus.rpc import RpcClient
from services.devstack.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.sandbox import SandboxApp, SandboxControl, SandboxProcess

LEASE_TTL_S = 3.0
FLEET_ENV = {
    "BOT_LEASE_TTL_S": str(LEASE_TTL_S),
    "BOT_RECONCILE_INTERVAL_S": "0.5",
    "BOT_IDENTIFY_WINDOW_S": "0.3",
    "BOT_BACKOFF_BASE_S": "0.2",
    "BOT_BACKOFF_MAX_S": "2",
    "BOT_GUILD_READY_TIMEOUT_S": "0.1",
    "BOT_DELETE_STOP_TIMEOUT_S": "5",
    "LOG_LEVEL": "INFO",
}


@dataclass
class Replica:
    name: str
    proc: ServiceProcess
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int:
        return self.proc.proc.pid

    def kill(self) -> None:
        os.killpg(self.pid, signal.SIGKILL)
        self.proc.proc.wait(10)

    def terminate(self) -> None:
        self.proc.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.proc.wait(timeout)

    @property
    def alive(self) -> bool:
        return self.proc.proc.poll() is None


class Replicas:
    """Starts bot-service replicas for one test; stops the survivors at its end."""

    def __init__(self, infra: Infra, sandbox: SandboxProcess) -> None:
        self.infra = infra
        self.sandbox = sandbox
        self.started: list[Replica] = []

    def start(self, count: int = 1, **env: str) -> list[Replica]:
        log_dir = self.infra.data_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        new = []
        for _ in range(count):
            name = f"bot-{uuid.uuid4().hex[:6]}"
            full = {
                **self.infra.service_env("bot"),
                **self.sandbox.env(),
                "DISCORD_BASE_URL": self.sandbox.base_url,
                **FLEET_ENV,
                "BOT_INSTANCE": name,
                **env,
            }
            log_path = log_dir / f"fleet-{name}.log"
            proc = spawn_service("bot", full, log_path=log_path)
            new.append(Replica(name, proc, log_path))
        for replica in new:
            replica.proc.wait_ready(60.0)
        self.started += new
        return new

    def stop_all(self) -> None:
        for replica in self.started:
            if replica.alive:
                replica.terminate()
        for replica in self.started:
            if replica.alive:
                try:
                    replica.wait(30)
                except Exception:
                    replica.kill()


@pytest.fixture
def replicas(infra: Infra, sandbox: SandboxProcess) -> Iterator[Replicas]:
    started = Replicas(infra, sandbox)
    try:
        yield started
    finally:
        started.stop_all()


class Bots:
    """Adds sandbox bots through bot-service's RPCs, as one user."""

    def __init__(self, nc: NATS, control: SandboxControl) -> None:
        self.nc = nc
        self.control = control
        self.client = RpcClient(nc, "gateway", timeout_s=20.0)
        self.user = uuid.uuid4()

    async def call(
        self,
        spec: RpcSpec[Any, Any],
        req: Any,
        user: uuid.UUID | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        return await self.client.call(spec, req, user_id=user or self.user, timeout_s=timeout_s)

    async def add(
        self,
        *,
        guilds: int = 1,
        intents: int | list[str] = 1,
        shard_count: int | None = None,
        privileged: list[str] | None = None,
        start: bool = True,
        name: str = "Fleet Bot",
    ) -> tuple[SandboxApp, P.BotView]:
        app = await self.control.create_application(
            name, guild_count=guilds, privileged_intents=privileged
        )
        bot = await self.call(
            P.CREATE_BOT,
            P.CreateBot(token=SecretStr(app.token), intents=intents, shard_count=shard_count),
        )
        if start:
            await self.call(P.START_BOT, P.BotRef(bot_id=bot.id))
        return app, bot

    async def status(self, bot_id: uuid.UUID, timeout_s: float | None = None) -> F.BotStatus:
        return await self.call(F.GET_STATUS, P.BotRef(bot_id=bot_id), timeout_s=timeout_s)

    async def wait_state(
        self, bot_id: uuid.UUID, state: str, timeout: float = 20.0, reason: str | None = None
    ) -> F.BotStatus:
        give_up = time.monotonic() + timeout
        while True:
            status = await self.status(bot_id)
            if status.state == state and (reason is None or status.reason == reason):
                return status
            if time.monotonic() > give_up:
                raise AssertionError(f"bot {bot_id} is {status} (wanted {state}/{reason})")
            await asyncio.sleep(0.1)


@pytest.fixture
def bots(nc: NATS, sandbox_control: SandboxControl) -> Bots:
    return Bots(nc, sandbox_control)


async def wait_until(
    check: Callable[[], Any],
    timeout: float = 20.0,
    what: str = "",
    explain: Callable[[], Awaitable[str]] | None = None,
) -> Any:
    give_up = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > give_up:
            detail = ""
            if explain is not None:
                with contextlib.suppress(Exception):
                    detail = "\n" + await explain()
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        await asyncio.sleep(0.1)


async def explain_fleet(bots: Bots, added: list[Any], replicas: Replicas) -> str:
    """What a failed fleet wait saw: every bot that is not online or whose sandbox sessions
    are not exactly one live session, and each replica's log tail."""
    lines = []
    sessions = await bots.control.sessions(include_all=True)
    for app, bot in added:
        status = await bots.status(bot.id)
        mine = [s for s in sessions if s["application_id"] == app.application_id]
        live = [s for s in mine if s["connected"]]
        if status.state != "online" or len(live) != 1:
            lines.append(f"bot {bot.id}: {status.model_dump_json()}")
            lines += [f"  session {s}" for s in mine[-4:]]
    for replica in replicas.started:
        alive = "alive" if replica.alive else "gone"
        lines.append(f"--- replica {replica.name} ({alive}) ---\n{replica.log_tail()}")
    return "\n".join(lines)


async def running_bots(nc: Any) -> list[F.DesiredBot]:
    try:
        kv = await nc.jetstream().key_value("bot_desired")
        keys = await kv.keys()
    except (BucketNotFoundError, NoKeysError):
        return []  # no bot-service ran yet, or no bot
    out = []
    for key in keys:
        entry = await kv.get(key)
        desired = F.DesiredBot.model_validate_json(entry.value or b"{}")
        if desired.running:
            out.append(desired)
    return out


async def stop_bots(bots: Bots, running: list[F.DesiredBot]) -> None:
    for desired in running:
        await bots.call(P.STOP_BOT, P.BotRef(bot_id=desired.bot_id), desired.workspace_id)


@pytest.fixture(autouse=True)
async def quiet_fleet(nc: Any, bots: Bots, replicas: Replicas) -> AsyncIterator[None]:
    """Every fleet test starts from a quiet fleet: bots that earlier tests (any suite) left
    running — their desired state outlives them, and every new replica re-mirrors it from
    Postgres — are stopped first through a helper replica that is gone before the test
    starts its own; the test's own bots are stopped when it ends."""
    leftovers = await running_bots(nc)
    if leftovers:
        (helper,) = replicas.start(1)
        await stop_bots(bots, leftovers)
        helper.terminate()
        await asyncio.to_thread(helper.wait, 30)
    yield
    with contextlib.suppress(Exception):  # best effort: the next test's setup catches the rest
        await stop_bots(bots, await running_bots(nc))
