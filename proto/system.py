"""Contracts every service answers: its status for the gateway's `/v1/status`."""

from __future__ import annotations

from proto.base import Contract, Empty
from proto.registry import SERVICES, RpcSpec, rpc


class ServiceStatus(Contract):
    service: str
    version: str
    instance: str
    uptime_s: float


SPECS: list[RpcSpec[Empty, ServiceStatus]] = [
    rpc(
        f"rpc.{name}.status",
        Empty,
        ServiceStatus,
        callers=["gateway"],
        summary=f"{name}: version and uptime of one replica",
    )
    for name in SERVICES
    if name != "gateway"
]
