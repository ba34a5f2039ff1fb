"""Contracts every service answers: its status for the gateway's `/v1/status`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

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


class PurgeUser(Contract):
    """Delete every piece of data of one user (sent by auth-service on account deletion)."""

    user_id: UUID


class PurgeResult(Contract):
    service: str
    removed: int


# Every service that stores user data answers this; auth-service calls each on DELETE /v1/me.
PURGE_SPECS: list[RpcSpec[PurgeUser, PurgeResult]] = [
    rpc(
        f"rpc.{name}.user.purge",
        PurgeUser,
        PurgeResult,
        callers=["auth"],
        summary=f"{name}: delete all data of a user (idempotent)",
    )
    for name in ("bot", "command", "storage", "log")
]
SPECS_ALL: list[RpcSpec[Any, Any]] = [*SPECS, *PURGE_SPECS]
