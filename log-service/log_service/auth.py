"""Who opens a stream: an access JWT (checked locally with auth-service's JWKS) or a ticket.

Tokens arrive in `Sec-WebSocket-Protocol` (`bearer.<jwt>` or `ticket.<value>`), never in
the URL. Tickets are single-use: stored hashed in the `log_stream_tickets` KV bucket with
a short TTL and deleted (compare-and-set) when used, so two replicas cannot both accept one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
from nats.js.errors import KeyDeletedError

from services.authn import AccessTokenVerifier, InvalidToken
from services.bus.kv import Store

log = logging.getLogger(__name__)

PROTOCOL = "botcenter.v1"
BEARER = "bearer."
TICKET = "ticket."


class AuthFailed(Exception):
    """The stream cannot be opened; the message is safe to show."""


@dataclass(frozen=True)
class StreamPrincipal:
    user_id: UUID
    # When the credential was issued: sessions revoked after this close the stream.
    issued_at: datetime


class JwtAuthenticator:
    """Access JWTs through the kernel's `services.authn.AccessTokenVerifier` (the JWKS from
    `rpc.auth.jwks`, cached; sign-out-everywhere applied through `watch_revocations`)."""

    def __init__(self, verifier: AccessTokenVerifier) -> None:
        self.verifier = verifier

    async def verify(self, token: str) -> StreamPrincipal:
        try:
            claims = await self.verifier.verify(token)
        except InvalidToken as exc:
            raise AuthFailed(exc.reason) from None
        return StreamPrincipal(claims.user_id, datetime.fromtimestamp(claims.issued_ms / 1000, UTC))


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
        try:
            found = await self.store.get(key)
        except KeyDeletedError:
            found = None
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
