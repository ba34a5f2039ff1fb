"""Benchmark: interaction round trip seen by the sandbox (INTERACTION_CREATE sent → callback
received) for a `template` command at a sustained rate, through the platform (bot-service's
discord.py client → `rpc.command.execute` → command-service renders the template → the
bot answers) next to a bare discord.py bot answering the same command in its own process.

Both bots run on uvloop against one discord-sandbox (plain HTTP, long heartbeats) in the
same guild; interactions are injected open-loop at `rate`/s through the sandbox control
API and the sandbox's own `latency_ms` (record created → callback received) is read back.
Targets (issue 6): platform p99 <= 10 ms at 200/s; platform p50 <= bare p50 + 1 ms.

    python -m bench command_roundtrip            # via the runner, writes bench/results/
    python bench/command_roundtrip.py [--rate 200] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import uvloop
from pydantic import SecretStr

from bench._fleet import SANDBOX_ARGS
from proto import bots as B
from proto import commands as C
from services.bus.rpc import RpcClient
from services.devstack.embedded import stop_process
from services.devstack.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.sandbox import SandboxControl, SandboxProcess, start_sandbox

COMMAND = "ping"
TEMPLATE = "pong {{ user.username }}"


# ------------------------------------------------------------------ the bare bot process
def bare_bot(base_url: str, token: str) -> None:
    """A plain discord.py bot that registers `/ping` and answers it in-process."""
    import discord

    from tests.fixtures.sandbox import point_discord_py_at

    point_discord_py_at(base_url)

    class Bare(discord.Client):
        async def on_ready(self) -> None:
            assert self.application_id is not None
            await self.http.bulk_upsert_global_commands(
                self.application_id, [{"name": COMMAND, "description": "ping", "type": 1}]
            )
            sys.stdout.write("READY\n")
            sys.stdout.flush()

        async def on_interaction(self, interaction: discord.Interaction) -> None:
            data: dict[str, Any] = dict(interaction.data or {})
            if data.get("name") == COMMAND:
                await interaction.response.send_message(f"pong {interaction.user.name}")

    async def run() -> None:
        client = Bare(
            intents=discord.Intents(guilds=True), member_cache_flags=discord.MemberCacheFlags.none()
        )
        await client.start(token)

    uvloop.run(run())


# ------------------------------------------------------------------ measurement
def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def drive(
    control: SandboxControl,
    app_id: str,
    guild_id: str,
    user_id: str,
    rate: float,
    seconds: float,
    expect: str,
) -> dict[str, Any]:
    """Inject `rate`/s interactions for `seconds` (open loop), then read each answer."""
    count = int(rate * seconds)
    ids: list[str | None] = [None] * count
    late_sends = 0

    async def inject(i: int) -> None:
        ids[i] = await control.inject_interaction(app_id, guild_id, user_id, name=COMMAND)

    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late_sends += 1
        tasks.append(asyncio.create_task(inject(i)))
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.monotonic() - started

    sem = asyncio.Semaphore(50)
    latencies: list[float] = []
    wrong = 0
    missing = 0

    async def read(interaction_id: str | None) -> None:
        nonlocal wrong, missing
        if interaction_id is None:
            missing += 1
            return
        async with sem:
            try:
                answer = await control.wait_for_answer(interaction_id, wait=10)
            except Exception:
                missing += 1
                return
        if answer.get("latency_ms") is None:
            missing += 1
        elif answer.get("content") != expect or answer.get("deferred"):
            wrong += 1
        else:
            latencies.append(float(answer["latency_ms"]))

    await asyncio.gather(*(read(i) for i in ids))
    if not latencies:
        return {"sent": count, "answered": 0, "missing": missing, "wrong": wrong}
    return {
        "sent": count,
        "offered_per_s": round(count / elapsed, 1),
        "answered": len(latencies),
        "missing": missing,
        "wrong": wrong,
        "late_sends": late_sends,
        "p50_ms": round(statistics.median(latencies), 3),
        "p90_ms": round(percentile(latencies, 0.90), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }


async def run(
    infra: Infra, sandbox: SandboxProcess, rate: float, seconds: float, warmup_s: float
) -> dict[str, object]:
    control = sandbox.control
    nc = await nats.connect(infra.admin_nats_url)
    client = RpcClient(nc, "gateway", timeout_s=20.0)
    owner = uuid.uuid4()
    bare: subprocess.Popen[bytes] | None = None
    try:
        member = await control.create_user("bench-user")
        guild = await control.create_guild("bench guild", members=[member.id])
        platform_app = await control.create_application("platform bot")
        bare_app = await control.create_application("bare bot")
        for app in (platform_app, bare_app):
            await control.install(guild.guild_id, app.application_id)

        bot = await client.call(
            B.CREATE_BOT, B.CreateBot(token=SecretStr(platform_app.token)), user_id=owner
        )
        spec = C.CommandIn.model_validate(
            {
                "name": COMMAND,
                "description": "ping",
                "response": {"type": "template", "content": TEMPLATE},
            }
        )
        await client.call(C.CREATE, C.CreateCommand(bot_id=bot.id, command=spec), user_id=owner)
        await client.call(B.START_BOT, B.BotRef(bot_id=bot.id), user_id=owner)
        deadline = time.monotonic() + 60
        while True:
            status = await client.call(C.SYNC_STATUS, C.BotCommandRef(bot_id=bot.id), user_id=owner)
            if status.in_sync and status.ok:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the platform bot did not come online with its command")
            await asyncio.sleep(0.2)

        bare_args = [sandbox.base_url, bare_app.token]
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.command_roundtrip", "--bare", *bare_args],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,
        )
        assert bare.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, bare.stdout.readline)
        if line.strip() != b"READY":
            raise RuntimeError("the bare bot did not start")

        expect = f"pong {member.username}"
        figures: dict[str, object] = {"rate_per_s": rate, "seconds": seconds}
        for name, app in (("bare", bare_app), ("platform", platform_app)):
            await drive(
                control, app.application_id, guild.guild_id, member.id, rate, warmup_s, expect
            )
            figures[name] = await drive(
                control, app.application_id, guild.guild_id, member.id, rate, seconds, expect
            )
        await client.call(B.STOP_BOT, B.BotRef(bot_id=bot.id), user_id=owner)
    finally:
        stop_process(bare)
        await control.aclose()
        await nc.close()
    platform_f: dict[str, Any] = figures["platform"]  # type: ignore[assignment]
    bare_f: dict[str, Any] = figures["bare"]  # type: ignore[assignment]
    if "p50_ms" in platform_f and "p50_ms" in bare_f:
        figures["p50_added_ms"] = round(platform_f["p50_ms"] - bare_f["p50_ms"], 3)
        figures["target_p99_ms_max"] = 10.0
        figures["target_p50_added_ms_max"] = 1.0
        figures["meets_targets"] = (
            platform_f["p99_ms"] <= 10.0
            and figures["p50_added_ms"] <= 1.0  # type: ignore[operator]
            and platform_f["missing"] == 0
            and platform_f["wrong"] == 0
        )
    return figures


def main(rate: float = 200.0, seconds: float = 8.0, warmup_s: float = 1.5) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bc-bench-cmd-"))
    work.chmod(0o755)
    infra = Infra(work / "infra", durable=False, progress=lambda _: None)
    sandbox: SandboxProcess | None = None
    procs: list[ServiceProcess] = []
    try:
        infra.start()
        sandbox = start_sandbox(work / "sandbox", extra_args=SANDBOX_ARGS)
        for name in ("bot", "command"):
            env = {
                **infra.service_env(name),
                **sandbox.env(),
                "DISCORD_BASE_URL": sandbox.base_url,
                "LOG_LEVEL": "WARNING",
            }
            procs.append(spawn_service(name, env, log_path=work / f"{name}.log"))
        for proc in procs:
            proc.wait_ready(120)
        figures = uvloop.run(run(infra, sandbox, rate, seconds, warmup_s))
    finally:
        for proc in procs:
            proc.stop(30)
        if sandbox is not None:
            sandbox.stop()
        infra.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    for name in ("bare", "platform"):
        print(f"{name:>8}: {figures[name]}")
    platform: dict[str, Any] = figures["platform"]  # type: ignore[assignment]
    print(
        f"platform adds {figures.get('p50_added_ms')} ms at p50 (target <= 1 ms); "
        f"platform p99 {platform.get('p99_ms')} ms (target <= 10 ms); "
        f"targets met: {figures.get('meets_targets')}"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", nargs=2, metavar=("BASE_URL", "TOKEN"))
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    if args.bare:
        bare_bot(*args.bare)
    else:
        main(args.rate, args.seconds)
