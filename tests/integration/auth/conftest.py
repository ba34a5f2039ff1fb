"""One auth-service + gateway pair per test module (starting processes costs CPU)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.infra.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.auth import auth_env
from tests.fixtures.sandbox import SandboxProcess


@dataclass
class AuthStack:
    auth: ServiceProcess
    gateway: ServiceProcess
    url: str


def start_stack(
    infra: Infra, sandbox: SandboxProcess, gateways: int = 1, **extra: str
) -> tuple[list[ServiceProcess], list[str]]:
    env = auth_env(sandbox, **extra)
    log_dir = infra.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    procs: list[ServiceProcess] = []
    stamp = int(time.time() * 1000)
    auth = spawn_service(
        "auth", {**infra.service_env("auth"), **env}, log_path=log_dir / f"auth-{stamp}.log"
    )
    procs.append(auth)
    auth.wait_ready(60)
    urls = []
    for i in range(gateways):
        gw = spawn_service(
            "gateway",
            {**infra.service_env("gateway"), "GATEWAY_HTTP_PORT": "0", **env},
            log_path=log_dir / f"gateway-{stamp}-{i}.log",
        )
        procs.append(gw)
    for gw in procs[1:]:
        gw.wait_ready(60)
        assert gw.url
        urls.append(gw.url)
    return procs, urls


@pytest.fixture(scope="module")
def stack(infra: Infra, sandbox: SandboxProcess) -> Iterator[AuthStack]:
    procs, urls = start_stack(infra, sandbox)
    try:
        yield AuthStack(procs[0], procs[1], urls[0])
    finally:
        for proc in reversed(procs):
            proc.stop()
