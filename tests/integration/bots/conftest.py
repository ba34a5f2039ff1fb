"""Fixtures for bot-service API tests: one bot-service process per module, pointed at the
session sandbox, and a typed RPC caller acting as a given user (header `bc-user-id`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from proto.registry import RpcSpec
from services.bus.rpc import RpcClient
from services.devstack.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.sandbox import SandboxProcess


@pytest.fixture(scope="module")
def bot_service(infra: Infra, sandbox: SandboxProcess) -> Iterator[ServiceProcess]:
    """bot-service as its own process (`botcenter service bot`), talking to the sandbox."""
    log_dir = infra.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    env = {
        **infra.service_env("bot"),
        "DISCORD_BASE_URL": sandbox.base_url,
        "BOT_DELETE_STOP_TIMEOUT_S": "3",
    }
    proc = spawn_service("bot", env, log_path=log_dir / f"bot-api-{uuid.uuid4().hex[:8]}.log")
    proc.wait_ready(60.0)
    try:
        yield proc
    finally:
        proc.stop()


class Caller:
    """Calls bot-service over NATS as one user, like the gateway does."""

    def __init__(self, nc: NATS) -> None:
        self.client = RpcClient(nc, "gateway", timeout_s=15.0)

    async def __call__(self, spec: RpcSpec[Any, Any], req: Any, user: uuid.UUID | None) -> Any:
        return await self.client.call(spec, req, user_id=user)


@pytest.fixture
def call(nc: NATS, bot_service: ServiceProcess) -> Caller:
    return Caller(nc)
