"""`GET /v1/status`: which services answer, with their versions (one RPC per service)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel

from gateway import __version__
from gateway.deps import Bus, Runtime
from proto.base import Empty
from proto.system import SPECS as STATUS_SPECS
from services.errors import RpcError

router = APIRouter(tags=["status"])


class ServiceState(BaseModel):
    service: str
    ok: bool
    version: str | None = None
    instance: str | None = None
    uptime_s: float | None = None
    error: str | None = None


class StatusOut(BaseModel):
    ok: bool
    services: list[ServiceState]


@router.get("/v1/status", response_model=StatusOut, summary="Which services answer")
async def status(bus: Bus, runtime: Runtime) -> StatusOut:
    timeout = runtime.settings.status_timeout_s  # type: ignore[attr-defined]

    async def one(spec_index: int) -> ServiceState:
        spec = STATUS_SPECS[spec_index]
        try:
            reply = await bus.call(spec, Empty(), timeout_s=timeout)
        except RpcError as err:
            return ServiceState(service=spec.service, ok=False, error=err.message)
        return ServiceState(
            service=reply.service,
            ok=True,
            version=reply.version,
            instance=reply.instance,
            uptime_s=reply.uptime_s,
        )

    states = await asyncio.gather(*(one(i) for i in range(len(STATUS_SPECS))))
    gateway = ServiceState(
        service="gateway", ok=True, version=__version__, instance=runtime.settings.instance
    )
    services = [gateway, *states]
    return StatusOut(ok=all(s.ok for s in services), services=services)
