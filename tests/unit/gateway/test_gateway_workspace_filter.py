"""`?workspace_id=` on every list route (#17): the id reaches the service's request as given,
its absence means every workspace (None), and a value that is not an id is a 422 before
any call."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.auth import Principal, current_user
from gateway.deps import get_bus
from gateway.errors import install_error_handlers
from gateway.routes import bots, commands, files, logs
from proto.errors import ErrorCode
from services.errors import RpcError

LISTS = [
    "/v1/bots", "/v1/files", "/v1/prompts", "/v1/connections", "/v1/logs", "/v1/events/summary"
]


class Bus:
    """Keeps each request and answers 404, so no reply needs building."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def call(self, spec: Any, req: Any, **_: Any) -> Any:
        self.sent.append(req)
        raise RpcError(ErrorCode.NOT_FOUND, "workspace not found")


@pytest.fixture
async def api() -> Any:
    bus = Bus()
    app = FastAPI()
    install_error_handlers(app)
    for module in (bots, commands, files, logs):
        app.include_router(module.router)
    app.dependency_overrides[get_bus] = lambda: bus
    app.dependency_overrides[current_user] = lambda: Principal(
        user_id=uuid.uuid4(), kind="session", scopes=frozenset()
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client, bus


@pytest.mark.parametrize("path", LISTS)
async def test_the_workspace_filter_reaches_the_service(api: Any, path: str) -> None:
    client, bus = api
    ws = uuid.uuid4()
    assert (await client.get(path, params={"workspace_id": str(ws)})).status_code == 404
    assert (await client.get(path)).status_code == 404
    assert [req.workspace_id for req in bus.sent] == [ws, None]
    bad = await client.get(path, params={"workspace_id": "team-a"})
    assert bad.status_code == 422, bad.text
    assert len(bus.sent) == 2
