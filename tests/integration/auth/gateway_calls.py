"""auth-service called over NATS as the gateway calls it, shared by the auth tests that drive
its RPCs directly (workspaces, audit)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from proto.registry import RpcSpec
from services.bus.rpc import RpcClient
from services.db.engine import plain_url
from services.errors import RpcError
from tests.fixtures.auth import SignedIn


class AuthCalls:
    """Calls auth-service for a signed-in user (or nobody); `headers` go with every call (the
    gateway's `bc-client` and request id, on a state-changing request)."""

    def __init__(self, nc: NATS, headers: dict[str, str] | None = None) -> None:
        self.client = RpcClient(nc, "gateway", timeout_s=15.0)
        self.headers = headers

    async def __call__(
        self, spec: RpcSpec[Any, Any], req: Any, user: SignedIn | None = None
    ) -> Any:
        user_id = user.user_id if user else None
        return await self.client.call(spec, req, user_id=user_id, headers=self.headers)

    async def refused(
        self, spec: RpcSpec[Any, Any], req: Any, user: SignedIn | None = None
    ) -> RpcError:
        with pytest.raises(RpcError) as caught:
            await self(spec, req, user)
        return caught.value


async def expire_invitation(database_url: str, invitation_id: uuid.UUID) -> None:
    """Age an invitation past its expiry (the shortest one a caller may ask for lasts 60 s)."""
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        await admin.execute(
            "update auth.invitations set expires_at = now() - interval '1 second' where id = $1",
            invitation_id,
        )
    finally:
        await admin.close()
