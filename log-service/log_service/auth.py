"""Who opens a stream: an access JWT (checked locally with auth-service's JWKS) or a ticket.

Tokens arrive in `Sec-WebSocket-Protocol` (`bearer.<jwt>` or `ticket.<value>`), never in
the URL. Tickets are single-use: stored hashed in the `log_stream_tickets` KV bucket with
a short TTL and deleted (compare-and-set) when used, so two replicas cannot both accept one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import orjson
from jwt import PyJWK

from proto.auth import JWKS
from proto.base import Empty
from services.bus.kv import Store
from services.bus.rpc import RpcClient

log = logging.getLogger(__name__)

PROTOCOL = "botcenter.v1"
BEARER = "bearer."
TICKET = "ticket."
_ALGORITHMS = ["EdDSA", "ES256", "RS256", "PS256"]


class AuthFailed(Exception):
    """The stream cannot be opened; the message is safe to show."""


@dataclass(frozen=True)
class StreamPrincipal:
    user_id: UUID
    # When the credential was issued: sessions revoked after this close the stream.
    issued_at: datetime


class JwksVerifier:
    """Access-token checks with the JWKS from `rpc.auth.jwks`, refreshed on an unknown kid."""

    def __init__(self, client: RpcClient, *, min_refresh_s: float = 10.0) -> None:
        self.client = client
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, PyJWK] = {}
        self._issuer = ""
        self._audience = ""
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            if self._keys and not force:
                return
            if force and time.monotonic() - self._fetched < self.min_refresh_s:
                return
            reply = await self.client.call(JWKS, Empty(), timeout_s=5.0)
            keys: dict[str, PyJWK] = {}
            for jwk in reply.keys:
                try:
                    keys[str(jwk.get("kid", ""))] = PyJWK(jwk)
                except Exception:
                    log.warning("skipping an unusable JWK (kid %s)", jwk.get("kid"))
            self._keys, self._issuer, self._audience = keys, reply.issuer, reply.audience
            self._fetched = time.monotonic()

    async def verify(self, token: str) -> StreamPrincipal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthFailed("the access token is malformed") from None
        kid = str(header.get("kid", ""))
        await self._refresh(False)
        if kid not in self._keys:
            await self._refresh(True)
        key = self._keys.get(kid)
        if key is None:
            raise AuthFailed("the access token was signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                audience=self._audience or None,
                issuer=self._issuer or None,
                options={"require": ["exp", "sub", "iat"]},
            )
            user_id = UUID(str(claims["sub"]))
        except jwt.ExpiredSignatureError:
            raise AuthFailed("the access token has expired") from None
        except (jwt.PyJWTError, ValueError):
            raise AuthFailed("the access token is not valid") from None
        if claims.get("typ") not in (None, "access"):
            raise AuthFailed("not an access token")
        return StreamPrincipal(user_id, datetime.fromtimestamp(int(claims["iat"]), UTC))


class TicketStore:
    def __init__(self, store: Store, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s

    @staticmethod
    def _key(ticket: str) -> str:
        return hashlib.sha256(ticket.encode()).hexdigest()

    async def issue(self, user_id: UUID) -> tuple[str, datetime]:
        ticket = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        value = orjson.dumps({"user_id": str(user_id), "issued_at": now.isoformat()})
        await self.store.create(self._key(ticket), value, ttl_s=self.ttl_s)
        return ticket, now + timedelta(seconds=self.ttl_s)

    async def redeem(self, ticket: str) -> StreamPrincipal:
        if not ticket or len(ticket) > 128:
            raise AuthFailed("the stream ticket is not valid")
        key = self._key(ticket)
        found = await self.store.get(key)
        if found is None:
            raise AuthFailed("the stream ticket is unknown, used or expired")
        value, revision = found
        # Single use: only the replica whose delete wins may accept it.
        if not await self.store.delete(key, revision=revision):
            raise AuthFailed("the stream ticket is unknown, used or expired")
        data = orjson.loads(value)
        issued = datetime.fromisoformat(data["issued_at"])
        if datetime.now(UTC) - issued > timedelta(seconds=self.ttl_s):
            raise AuthFailed("the stream ticket has expired")
        return StreamPrincipal(UUID(data["user_id"]), issued)


def credentials_from_protocols(offered: list[str]) -> tuple[str, str]:
    """('bearer' | 'ticket', value) from the offered subprotocols."""
    for proto in offered:
        if proto.startswith(BEARER) and len(proto) > len(BEARER):
            return "bearer", proto[len(BEARER) :]
        if proto.startswith(TICKET) and len(proto) > len(TICKET):
            return "ticket", proto[len(TICKET) :]
    raise AuthFailed(
        "send an access token as subprotocol `bearer.<token>` or a ticket as `ticket.<ticket>`"
    )
