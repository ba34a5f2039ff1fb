"""Shared by the gateway benchmarks: infra (PostgreSQL, NATS), a discord-sandbox and
auth-service, with the gateway's rate limits on (their cost is part of every request) but
far above any load a benchmark makes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from services.devstack.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.auth import auth_env
from tests.fixtures.sandbox import SandboxProcess, start_sandbox

UNLIMITED = "1000000"


class AuthStack:
    def __init__(self, prefix: str) -> None:
        self.data = Path(tempfile.mkdtemp(prefix=prefix))
        self.data.chmod(0o755)
        self.infra = Infra(self.data, durable=False, progress=lambda _: None)
        self.load_before = [round(x, 2) for x in os.getloadavg()]
        self.sandbox: SandboxProcess | None = None
        self.env: dict[str, str] = {}
        # Stopped with the stack, last started first.
        self.procs: list[ServiceProcess] = []

    def start(self, **env: str) -> None:
        """Infra, sandbox and auth-service; `env` goes to every service started here."""
        self.infra.start()
        try:
            self.sandbox = start_sandbox(self.data / "sandbox")
            self.env = auth_env(
                self.sandbox,
                LOG_LEVEL="WARNING",
                GATEWAY_RATE_IP_PER_S=UNLIMITED,
                GATEWAY_RATE_IP_BURST=UNLIMITED,
                GATEWAY_RATE_USER_PER_S=UNLIMITED,
                GATEWAY_RATE_USER_BURST=UNLIMITED,
                **env,
            )
            self.procs.append(self.service("auth"))
        except BaseException:
            self.stop()
            raise

    def service(self, name: str, **env: str) -> ServiceProcess:
        """A service on this stack, ready; the caller stops it (or adds it to `procs`)."""
        proc = spawn_service(name, {**self.infra.service_env(name), **self.env, **env})
        proc.wait_ready(60)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        self.infra.stop()
        shutil.rmtree(self.data, ignore_errors=True)
