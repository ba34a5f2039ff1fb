"""Every call a request makes carries the caller's `bc-access` (#17 §3.2), set once by
`authenticate`: checked through the real app, its dependencies and a route, with the bus and
the credential check replaced (the access cache is real)."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace
from typing import Any

import httpx

from gateway.access import AccessCache
from gateway.app import create_app
from gateway.auth import Authn
from gateway.ratelimit import RateLimiter
from gateway.settings import Settings
from proto.access import ALL_PERMISSIONS_MASK, Access, AccessSnapshot, WorkspaceGrant
from proto.workspaces import WorkspaceList
from services.access import access_var

USER = uuid.uuid4()


class Verifier:
    leeway_s = 0

    async def verify(self, token: str) -> Any:
        return SimpleNamespace(user_id=USER, session_id=None, expires_at=int(time.time()) + 60)


class Bus:
    def __init__(self) -> None:
        self.headers: list[str | None] = []

    async def call(self, spec: Any, req: Any, **options: Any) -> Any:
        # What RpcClient.call_raw would put in `bc-access` (options name none).
        assert "access" not in options
        self.headers.append(access_var.get())
        return WorkspaceList(workspaces=[])


async def test_a_route_call_carries_the_callers_access() -> None:
    async def fetch(user_id: uuid.UUID) -> AccessSnapshot:
        grant = WorkspaceGrant(workspace_id=user_id, role="owner",
                               permissions=ALL_PERMISSIONS_MASK, name="Personal", personal=True)
        return AccessSnapshot(user_id=user_id, version=1, grants=[grant])

    settings = Settings()
    bus = Bus()
    runtime = SimpleNamespace(settings=settings, settings_as=lambda _: settings, client=bus)
    authn = Authn(
        verifier=Verifier(),  # type: ignore[arg-type]
        tokens=None,  # type: ignore[arg-type]
        per_user=RateLimiter(100, 100),
        rate_limit=False,
        access=AccessCache(fetch),
    )
    app = create_app(runtime, authn)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        listed = await c.get("/v1/workspaces", headers={"Authorization": "Bearer jwt"})
        assert listed.status_code == 200, listed.text
        anonymous = await c.get("/v1/workspaces")
        assert anonymous.status_code == 401
    assert len(bus.headers) == 1
    header = bus.headers[0]
    assert header is not None
    access = Access.decode(header)
    assert access.user_id == USER
    assert access.sees(USER)
