"""Dependencies shared by every route, defined once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.bus.rpc import RpcClient
from services.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def get_bus(request: Request) -> RpcClient:
    return get_runtime(request).client


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
Bus = Annotated[RpcClient, Depends(get_bus)]
