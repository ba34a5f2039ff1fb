"""The whole product on one machine: embedded servers, migrations, the sandbox and every
service as its own process. Used by `botcenter up` (`make run`) and by the test fixtures,
so tests start things exactly the way `make run` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from proto.catalog import REGISTRY
from proto.registry import SERVICES
from services.devstack.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    free_port,
    start_listening,
    stop_process,
)
from services.devstack.webbuild import ensure_web_build
from services.installed import Progress, migrate_all, service_definitions
from services.natsconf import nats_user, render_config
from services.settings import KernelSettings, Mode, dev_secrets, store_dev_secrets


@dataclass
class Infra:
    """PostgreSQL and NATS: embedded unless DATABASE_URL / NATS_URL say otherwise."""

    data_dir: Path
    durable: bool = True
    nats_port: int = 0
    pg_port: int = 0
    progress: Progress = print
    database_url: str | None = None
    nats_url: str | None = None
    nats_auth: bool = True
    secrets: dict[str, object] = field(default_factory=dict)
    _pg: EmbeddedPostgres | None = None
    _nats: EmbeddedNats | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.secrets = dev_secrets(self.data_dir)
        self._ensure_nats_passwords()
        self.database_url = self.database_url or os.environ.get("DATABASE_URL")
        if self.database_url is None:
            self.progress("starting embedded PostgreSQL")
            self._pg = EmbeddedPostgres(
                self.data_dir / "postgres", port=self.pg_port, durable=self.durable
            )
            self._pg.start()
            self.database_url = self._pg.admin_url
        else:
            self.progress("using PostgreSQL from DATABASE_URL")
        self.nats_url = self.nats_url or os.environ.get("NATS_URL")
        if self.nats_url is None:
            self.progress("starting embedded NATS with JetStream")
            port = self.nats_port or free_port()
            text = render_config(
                REGISTRY,
                self.nats_passwords if self.nats_auth else {},
                port=port,
                store_dir=self.data_dir / "nats" / "jetstream",
                admin_password=self.admin_password if self.nats_auth else None,
                # make run keeps data: fsync JetStream every second rather than every 2 min.
                sync_interval="1s" if self.durable else None,
            )
            self._nats = EmbeddedNats(self.data_dir / "nats", text, port)
            self._nats.start()
            self.nats_url = self._nats.url
        else:
            self.nats_auth = False
            self.progress("using NATS from NATS_URL")
        self.progress("applying migrations")
        asyncio.run(migrate_all(self.database_url, self.role_password, self.progress))

    def _ensure_nats_passwords(self) -> None:
        pw = self.secrets.setdefault("nats_passwords", {})
        assert isinstance(pw, dict)
        changed = False
        for svc in [*SERVICES, "admin"]:
            if svc not in pw:
                pw[svc] = secrets.token_urlsafe(18)
                changed = True
        if changed:
            store_dev_secrets(self.data_dir, self.secrets)

    @property
    def nats_passwords(self) -> dict[str, str]:
        pw = self.secrets["nats_passwords"]
        assert isinstance(pw, dict)
        return {k: str(v) for k, v in pw.items() if k != "admin"}

    @property
    def admin_password(self) -> str:
        pw = self.secrets["nats_passwords"]
        assert isinstance(pw, dict)
        return str(pw["admin"])

    @property
    def role_password(self) -> str:
        env = os.environ.get("DB_ROLE_PASSWORD")
        return env or str(self.secrets["db_role_password"])

    @property
    def admin_nats_url(self) -> str:
        """NATS URL with the admin user (tests and the operator CLI)."""
        assert self.nats_url is not None
        if not self.nats_auth:
            return self.nats_url
        return self.nats_url.replace("nats://", f"nats://bc_admin:{self.admin_password}@", 1)

    def service_env(self, service: str) -> dict[str, str]:
        """The environment a service process needs to reach this infrastructure."""
        assert self.database_url
        assert self.nats_url
        prefix = service.upper() + "_"
        env = {
            "BOTCENTER_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "DB_ROLE_PASSWORD": self.role_password,
            "NATS_URL": self.nats_url,
            "VAULT_KEYS": os.environ.get("VAULT_KEYS") or str(self.secrets["vault_keys"]),
        }
        if self.nats_auth:
            env[prefix + "NATS_USER"] = nats_user(service)
            env[prefix + "NATS_PASSWORD"] = self.nats_passwords[service]
        return env

    def stop(self) -> None:
        if self._nats is not None:
            self._nats.stop()
            self._nats = None
        if self._pg is not None:
            self._pg.stop()
            self._pg = None

    def stop_nats(self) -> None:
        """For tests of reconnection: stop the NATS server, keep its data."""
        assert self._nats is not None
        self._nats.stop()

    def start_nats(self) -> None:
        assert self._nats is not None
        self._nats.start()


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen[str]
    url: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def stop(self, timeout_s: float = 20.0) -> None:
        stop_process(self.proc, timeout_s)

    def wait_ready(self, deadline_s: float = 60.0, log_path: Path | None = None) -> None:
        give_up = time.monotonic() + deadline_s
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"service {self.name} exited with code {self.proc.returncode} during start"
                    + (f" (see {log_path})" if log_path else "")
                )
            if time.monotonic() > give_up:
                self.stop()
                raise TimeoutError(f"service {self.name} was not ready within {deadline_s}s")


def _botcenter() -> str:
    # The console script, not `python -m`: the repo root on sys.path would let the
    # `gateway/` folder shadow the installed `gateway` package.
    return str(Path(sys.executable).parent / "botcenter")


def start_service(
    name: str,
    env: dict[str, str],
    *,
    log_path: Path | None = None,
    deadline_s: float = 60.0,
) -> ServiceProcess:
    """Start `botcenter service NAME` and wait for its ready line."""
    sp = spawn_service(name, env, log_path=log_path)
    sp.wait_ready(deadline_s, log_path)
    return sp


def spawn_service(
    name: str, env: dict[str, str], *, log_path: Path | None = None
) -> ServiceProcess:
    """Start `botcenter service NAME` without waiting; `wait_ready` waits for its ready line."""
    full_env = {**os.environ, **env}
    log = log_path.open("a") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [_botcenter(), "service", name],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    sp = ServiceProcess(name, proc)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("BOTCENTER_READY ") and not sp.ready.is_set():
                sp.url = line.split()[2]
                sp.ready.set()

    threading.Thread(target=read, daemon=True).start()
    return sp


@dataclass
class SandboxProcess:
    proc: subprocess.Popen[bytes]
    base_url: str

    def stop(self) -> None:
        stop_process(self.proc)


def sandbox_command(port: int, *options: str) -> list[str]:
    """The command line of a discord-sandbox on the loopback interface (port 0: any free
    port, printed in its log)."""
    return [
        sys.executable,
        "-m",
        "discord_sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def start_sandbox(data_dir: Path, port: int, progress: Progress = print) -> SandboxProcess | None:
    # Looked up, never imported: the product reaches the sandbox only as a process.
    if importlib.util.find_spec("discord_sandbox") is None:
        progress("discord-sandbox is not installed; set DISCORD_BASE_URL to use Discord")
        return None
    log = (data_dir / "logs" / "sandbox.log").open("ab")
    proc = start_listening(
        sandbox_command(port, "--state", str(data_dir / "sandbox.json")),
        port,
        log,
        # The product is told plain http on this port: SANDBOX_* from the user's shell
        # (TLS, another port) must not change what the sandbox serves.
        env={k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
    )
    return SandboxProcess(proc, f"http://127.0.0.1:{port}")


RUN_FILE = "run.json"


def wait_until_ready(base_url: str, deadline_s: float) -> None:
    """Poll `GET /readyz` until it answers 200, or fail after the deadline."""
    import urllib.error
    import urllib.request

    give_up = time.monotonic() + deadline_s
    while True:
        try:
            url = base_url.rstrip("/") + "/readyz"  # our own gateway, always http(s)
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > give_up:
            raise TimeoutError(f"{base_url} was not ready within {deadline_s:g}s (see its log)")
        time.sleep(0.2)


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def running_env(data_dir: Path, service: str) -> dict[str, str]:
    """The environment `botcenter up` gave SERVICE (KeyError/FileNotFoundError if none)."""
    envs: dict[str, dict[str, str]] = json.loads((data_dir / RUN_FILE).read_text())
    return envs[service]


def operator_nats_url(settings: KernelSettings) -> str:
    """NATS_URL with an operator login when set; in development, the running stack's
    NATS with its admin login (from the data folder)."""
    explicit = os.environ.get("NATS_URL")
    if explicit:
        return explicit
    if settings.mode is not Mode.DEVELOPMENT:
        raise SystemExit("NATS_URL must name the NATS server, with an operator login")
    try:
        url = running_env(settings.data_dir.resolve(), "auth")["NATS_URL"]
    except (FileNotFoundError, KeyError):
        raise SystemExit("botcenter is not running here; set NATS_URL") from None
    passwords = dev_secrets(settings.data_dir).get("nats_passwords")
    if not isinstance(passwords, dict) or "admin" not in passwords or "@" in url:
        return url
    parts = urlsplit(url)
    secret = quote(str(passwords["admin"]), safe="")
    return parts._replace(netloc=f"bc_admin:{secret}@{parts.netloc}").geturl()


def run_stack(
    data_dir: Path,
    *,
    gateway_port: int = 8000,
    sandbox_port: int = 8790,
    progress: Progress = print,
    stop_event: threading.Event | None = None,
) -> None:
    """`botcenter up`: start everything, print the URL, stop everything on Ctrl-C/SIGTERM."""
    import signal

    stop_event = stop_event or threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: stop_event.set())
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    ensure_web_build(progress, data_dir / "logs" / "web-build.log")
    infra = Infra(data_dir, progress=progress)
    sandbox: SandboxProcess | None = None
    procs: list[ServiceProcess] = []
    try:
        infra.start()
        extra: dict[str, str] = {}
        if "DISCORD_BASE_URL" not in os.environ:
            progress("starting discord-sandbox")
            sandbox = start_sandbox(data_dir, sandbox_port, progress)
            if sandbox is not None:
                extra["DISCORD_BASE_URL"] = sandbox.base_url
                extra["GOOGLE_ISSUER"] = sandbox.base_url + "/google"
        defs = service_definitions()
        envs = {name: {**infra.service_env(name), **extra} for name in defs}
        # `botcenter env NAME` reads this to run one more replica beside `make run`.
        write_private(data_dir / RUN_FILE, json.dumps(envs, indent=2))
        progress(f"starting {len(defs)} services: {', '.join(defs)}")
        for name in defs:
            env = {**envs[name], "LOG_FORMAT": "json"}
            if name == "gateway":
                env["GATEWAY_HTTP_PORT"] = str(gateway_port)
                env.setdefault(
                    "GATEWAY_HTTP_HOST", os.environ.get("GATEWAY_HTTP_HOST", "127.0.0.1")
                )
            procs.append(spawn_service(name, env, log_path=data_dir / "logs" / f"{name}.log"))
        for p in procs:
            p.wait_ready(60.0, data_dir / "logs" / f"{p.name}.log")
            progress(f"  {p.name} ready")
        gateway = next((p for p in procs if p.name == "gateway"), None)
        if gateway is not None and gateway.url:
            # The process is up; ready means its dependencies answer too (auth keys,
            # revocations replayed): only then is the URL worth printing.
            wait_until_ready(gateway.url, 60.0)
        progress("")
        progress(f"botcenter is running: {gateway.url if gateway else '(no gateway installed)'}")
        if sandbox:
            progress(f"discord-sandbox:      {sandbox.base_url}")
        progress(f"logs:                 {data_dir / 'logs'}")
        progress("press Ctrl-C to stop")
        while not stop_event.wait(0.5):
            for p in procs:
                if p.proc.poll() is not None:
                    progress(f"{p.name} exited with code {p.proc.returncode}; see its log")
                    stop_event.set()
    finally:
        progress("stopping")
        (data_dir / RUN_FILE).unlink(missing_ok=True)
        for p in reversed(procs):
            p.stop()
        if sandbox:
            sandbox.stop()
        with contextlib.suppress(Exception):
            infra.stop()
        progress("stopped")
