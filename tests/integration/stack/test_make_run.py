"""`make run` smoke test: `botcenter up` starts the product, answers, keeps its data
across runs and leaves no process behind when stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.devstack.embedded import free_port
from tests.fixtures.infra import poll, world_readable_tmpdir

BOTCENTER = str(Path(sys.executable).parent / "botcenter")


class Up:
    """One `botcenter up` process with its output collected line by line."""

    def __init__(self, data_dir: Path) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "NATS_URL", "S3_URL", "DISCORD_BASE_URL")
        }
        env["BOTCENTER_DATA_DIR"] = str(data_dir)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [BOTCENTER, "up", "--port", str(self.port), "--sandbox-port", str(free_port())],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def url(self) -> str | None:
        for line in self.lines:
            if line.startswith("botcenter is running: "):
                return line.split(": ", 1)[1].strip()
        if self.proc.poll() is not None:
            raise AssertionError("botcenter up exited:\n" + "\n".join(self.lines))
        return None

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=90)


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def processes_using(path: Path) -> set[int]:
    """Processes whose command line names the data folder (PostgreSQL is daemonized)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmdline:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def marker_query(data_dir: Path, sql: str) -> object:
    pg = data_dir / "postgres"
    port = (pg / "pgdata" / "postmaster.pid").read_text().splitlines()[3].strip()
    password = (pg / "pg_password").read_text().strip()
    conn = await asyncpg.connect(
        f"postgresql://postgres:{password}@127.0.0.1:{port}/botcenter"
    )
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = world_readable_tmpdir("bc-up-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_up_serves_keeps_data_and_stops_cleanly(data_dir: Path) -> None:
    first = Up(data_dir)
    try:
        url = poll(first.url, timeout_s=180, interval_s=0.2, what="botcenter up ready")
        async with httpx.AsyncClient(base_url=str(url), timeout=10) as client:
            assert (await client.get("/readyz")).status_code == 200
            # Every service answers (the anonymous status says only that).
            assert (await client.get("/v1/status")).json() == {"ok": True}
        await marker_query(data_dir, "create table smoke_marker(id int)")
        secrets_before = (data_dir / "secrets.json").read_text()
        tree = descendants(first.proc.pid) | processes_using(data_dir)
        assert len(tree) >= 8, "every service, the sandbox, NATS and PostgreSQL run"
    finally:
        code = first.interrupt()
    assert code == 0, "\n".join(first.lines)
    assert "stopped" in first.lines
    left = poll(
        lambda: not [p for p in tree if alive(p)], timeout_s=30, what="every process gone"
    )
    assert left

    second = Up(data_dir)
    try:
        poll(second.url, timeout_s=180, interval_s=0.2, what="second run ready")
        assert await marker_query(data_dir, "select to_regclass('smoke_marker') is not null")
        assert (data_dir / "secrets.json").read_text() == secrets_before
    finally:
        assert second.interrupt() == 0
