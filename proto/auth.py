"""Contracts of the auth domain. The cross-service part (JWKS, personal-token check,
revocation events) is fixed here first; auth-service adds the rest below."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from proto.base import Contract, Empty
from proto.events import Event
from proto.registry import CoreSpec, EventSpec, KvSpec, RpcSpec, rpc


class Jwks(Contract):
    """The public signing keys (JWK dicts), current and previous, for local JWT checks."""

    keys: list[dict[str, Any]]
    issuer: str
    audience: str


class CheckApiToken(Contract):
    """A personal API token (`bcp_...`) presented to the gateway."""

    token: str


class ApiTokenPrincipal(Contract):
    user_id: UUID
    token_id: UUID
    scopes: list[str] = Field(default_factory=list)


class SessionsRevoked(Event):
    """`evt.auth.<user>.-.sessions_revoked`: log-out everywhere; open streams must close."""


class ApiTokenRevoked(Event):
    """`evt.auth.<user>.-.token_revoked`: gateways drop the cached token at once."""

    token_id: UUID


JWKS = rpc(
    "rpc.auth.jwks",
    Empty,
    Jwks,
    callers=["gateway", "log"],
    summary="public keys to verify access tokens locally",
)
CHECK_API_TOKEN = rpc(
    "rpc.auth.token.check",
    CheckApiToken,
    ApiTokenPrincipal,
    callers=["gateway", "log"],
    summary="resolve a personal API token to its user and scopes (401 when revoked)",
)

SPECS: list[RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec] = [
    JWKS,
    CHECK_API_TOKEN,
    EventSpec("evt.auth.*.*.sessions_revoked", SessionsRevoked, frozenset({"auth"})),
    EventSpec("evt.auth.*.*.token_revoked", ApiTokenRevoked, frozenset({"auth"})),
]
