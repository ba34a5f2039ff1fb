"""Dependencies shared by every route, defined once as `Annotated` aliases.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread
pool, which costs a thread hop (and GIL hand-offs) on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.bus.rpc import RpcClient
from services.runtime import ServiceRuntime


async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def get_bus(request: Request) -> RpcClient:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.client


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
Bus = Annotated[RpcClient, Depends(get_bus)]
