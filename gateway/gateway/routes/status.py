"""`GET /v1/status`: is botcenter up (one RPC per service, each with a short deadline).

Without a sign-in the answer is only `{"ok": …}`. A signed-in caller also sees which
services answer (and why one does not), so the console can say what is down. Versions,
replica names and uptimes are never shown here (they help an attacker pick an exploit
more than they help a user); operators ask `rpc.<service>.status` over NATS (every
replica answers with its version, instance name and uptime).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from gateway.auth import Principal, authenticate
from gateway.deps import Bus, Runtime
from gateway.settings import Settings
from proto.base import Empty
from proto.system import SPECS as STATUS_SPECS
from services.errors import RpcError

router = APIRouter(tags=["status"])


class ServiceState(BaseModel):
    service: str
    ok: bool
    error: str | None = None


class StatusOut(BaseModel):
    ok: bool
    # Only for a signed-in caller.
    services: list[ServiceState] | None = None


async def _signed_in(request: Request) -> Principal | None:
    """The caller if the request carries valid credentials; never refuses the request."""
    try:
        return await authenticate(request)
    except (HTTPException, RpcError):
        return None


@router.get(
    "/v1/status",
    response_model=StatusOut,
    response_model_exclude_none=True,
    summary="Is botcenter up (signed in: which services answer)",
)
async def status(request: Request, bus: Bus, runtime: Runtime) -> StatusOut:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    timeout = settings.status_timeout_s

    async def one(spec_index: int) -> ServiceState:
        spec = STATUS_SPECS[spec_index]
        try:
            await bus.call(spec, Empty(), timeout_s=timeout)
        except RpcError as err:
            return ServiceState(service=spec.service, ok=False, error=err.message)
        return ServiceState(service=spec.service, ok=True)

    states = await asyncio.gather(*(one(i) for i in range(len(STATUS_SPECS))))
    services = [ServiceState(service="gateway", ok=True), *states]
    ok = all(s.ok for s in services)
    if await _signed_in(request) is None:
        return StatusOut(ok=ok)
    return StatusOut(ok=ok, services=services)


class ConsoleConfig(BaseModel):
    discord_base_url: str


@router.get(
    "/v1/config",
    response_model=ConsoleConfig,
    summary="Public settings the console needs (the Discord it builds invite links against)",
)
async def console_config(runtime: Runtime) -> ConsoleConfig:
    # DISCORD_BASE_URL: discord.com in production, the discord-sandbox in development and
    # tests; the browser already goes there to sign in, so it is no secret.
    return ConsoleConfig(discord_base_url=runtime.settings.discord_base_url.rstrip("/"))
