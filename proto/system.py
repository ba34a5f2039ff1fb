"""Contracts every service answers: its status for the gateway's `/v1/status`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from proto.base import Contract, Empty
from proto.registry import SERVICES, Rep, Req, RpcSpec, rpc


class ServiceStatus(Contract):
    service: str
    version: str
    instance: str
    uptime_s: float


def _answered_by_each(
    services: Iterable[str],
    operation: str,
    request: type[Req],
    reply: type[Rep],
    *,
    caller: str,
    summary: str,
    planned: bool = False,
) -> list[RpcSpec[Req, Rep]]:
    """The same operation served by each of `services`, as `rpc.<service>.<operation>`."""
    return [
        rpc(
            f"rpc.{name}.{operation}",
            request,
            reply,
            callers=[caller],
            summary=f"{name}: {summary}",
            planned=planned,
        )
        for name in services
    ]


SPECS = _answered_by_each(
    (name for name in SERVICES if name != "gateway"),
    "status",
    Empty,
    ServiceStatus,
    caller="gateway",
    summary="version and uptime of one replica",
)


class PurgeUser(Contract):
    """Delete every piece of data of one user (sent by auth-service on account deletion)."""

    user_id: UUID


class PurgeResult(Contract):
    service: str
    removed: int


# The services that store data of users and workspaces: each answers both purges, which
# auth-service calls.
DATA_SERVICES = ("bot", "command", "storage", "log")


def _purge(
    operation: str,
    request: type[Req],
    *,
    summary: str,
    served: Iterable[str] = DATA_SERVICES,
) -> list[RpcSpec[Req, PurgeResult]]:
    """The purge by each data service; those not in `served` are planned (not served yet)."""
    serving = set(served)
    return [
        *_answered_by_each(
            [s for s in DATA_SERVICES if s in serving],
            operation,
            request,
            PurgeResult,
            caller="auth",
            summary=summary,
        ),
        *_answered_by_each(
            [s for s in DATA_SERVICES if s not in serving],
            operation,
            request,
            PurgeResult,
            caller="auth",
            summary=summary,
            planned=True,
        ),
    ]


# auth-service calls each on DELETE /v1/me.
PURGE_SPECS = _purge("user.purge", PurgeUser, summary="delete all data of a user (idempotent)")


class PurgeWorkspace(Contract):
    """Delete every piece of data of one workspace (sent by auth-service when a team
    workspace is deleted; bot-service stops its bots first)."""

    workspace_id: UUID


# Every service that stores workspace data answers this (#17); auth-service calls each when
# a team workspace is deleted.
WORKSPACE_PURGE_SPECS = _purge(
    "workspace.purge",
    PurgeWorkspace,
    summary="delete all data of a workspace (idempotent)",
)
SPECS_ALL: list[RpcSpec[Any, Any]] = [*SPECS, *PURGE_SPECS, *WORKSPACE_PURGE_SPECS]


def workspace_purge_spec(service: str) -> RpcSpec[PurgeWorkspace, PurgeResult]:
    """The workspace-purge RPC that `service` answers."""
    found = [spec for spec in WORKSPACE_PURGE_SPECS if spec.service == service]
    if not found:
        raise KeyError(f"{service} stores no workspace data (no workspace.purge RPC)")
    return found[0]


def purge_spec(service: str) -> RpcSpec[PurgeUser, PurgeResult]:
    """The user-purge RPC that `service` answers."""
    found = [spec for spec in PURGE_SPECS if spec.service == service]
    if not found:
        raise KeyError(f"{service} stores no user data (no user.purge RPC)")
    return found[0]
