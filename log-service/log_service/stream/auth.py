"""Who opens a stream: an access JWT (checked locally with auth-service's JWKS) or a ticket.

Tokens arrive in `Sec-WebSocket-Protocol` (`bearer.<jwt>` or `ticket.<value>`), never in
the URL. Tickets are single-use: stored hashed in the `log_stream_tickets` KV bucket with
a short TTL and deleted (compare-and-set) when used, so two replicas cannot both accept one.

A stream belongs to the credential that opened it, and lives no longer than that credential:
- an access JWT: its session (`sid` = refresh family) and its expiry (`exp` plus the same
  clock leeway the gateway grants, so the stream ends when the API starts answering 401);
- a ticket: the credential that asked the gateway for it (`POST /v1/stream/ticket`), whose
  session id (or personal token id) and expiry the gateway puts into the ticket. A ticket is
  only a way to carry a credential the browser cannot put in a subprotocol (a cookie): the
  stream it opens must close on the same sign-out, revocation and expiry as that credential,
  or a ticket taken just before logging out would keep a stream open for good.

`Revocations` answers "is this principal still good?" from the revocation events this
process follows (`services.authn.watch_revocations`, replayed at start).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson

from proto.access import Access, AccessSnapshot, Grant
from proto.logs import StreamClose, StreamTicketRequest
from services.access import personal_access
from services.authn import (
    REVOCATION_KINDS,
    AccessTokenVerifier,
    InvalidToken,
    PersonalTokenCache,
    apply_revocation,
)
from services.bus.jetstream import live_value
from services.bus.kv import Store

log = logging.getLogger(__name__)

PROTOCOL = "botcenter.v1"
BEARER = "bearer."
TICKET = "ticket."
EXPIRED_MESSAGE = "the access token expired; reconnect with a fresh token and last_event_id"


class AuthFailed(Exception):
    """The stream cannot be opened; the message is safe to show, `code` is the close code."""

    def __init__(self, message: str, code: int = StreamClose.UNAUTHORIZED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamPrincipal:
    user_id: UUID
    # When the credential was issued: sign-outs everywhere after this close the stream.
    issued_at: datetime
    # The session (refresh family) it belongs to; None for a personal token's ticket.
    session_id: UUID | None = None
    # The personal API token that asked for the ticket, if one did.
    token_id: UUID | None = None
    # When the credential stops being accepted; None: never (the stream is closed then).
    expires_at: datetime | None = None
    # The one workspace the stream was asked for (a ticket's); None: every workspace where
    # the caller may view logs.
    workspace_id: UUID | None = None
    # What the caller may do: first the access the gateway sent when the ticket was issued
    # (None for a bearer token), then what `AccessResolver` resolved at open.
    access: Access | None = None

    @property
    def issued_ms(self) -> int:
        return int(self.issued_at.timestamp() * 1000)


class JwtAuthenticator:
    """Access JWTs through the kernel's `services.authn.AccessTokenVerifier` (the JWKS from
    `rpc.auth.jwks`, cached; sign-outs applied through `watch_revocations`)."""

    def __init__(self, verifier: AccessTokenVerifier) -> None:
        self.verifier = verifier

    async def verify(self, token: str) -> StreamPrincipal:
        try:
            claims = await self.verifier.verify(token)
        except InvalidToken as exc:
            if exc.expired:
                raise AuthFailed(EXPIRED_MESSAGE, StreamClose.TOKEN_EXPIRED) from None
            raise AuthFailed(exc.reason) from None
        return StreamPrincipal(
            claims.user_id,
            datetime.fromtimestamp(claims.issued_ms / 1000, UTC),
            session_id=claims.session_id,
            expires_at=datetime.fromtimestamp(claims.expires_at + self.verifier.leeway_s, UTC),
        )


class TicketStore:
    def __init__(self, store: Store, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s

    @staticmethod
    def _key(ticket: str) -> str:
        return hashlib.sha256(ticket.encode()).hexdigest()

    async def issue(
        self,
        user_id: UUID,
        credential: StreamTicketRequest | None = None,
        access: Access | None = None,
    ) -> tuple[str, datetime]:
        """A ticket for `user_id`, carrying the session/token and expiry of `credential`, the
        workspace it asks for and the caller's `access` when it was issued."""
        credential = credential or StreamTicketRequest()
        ticket = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        value = orjson.dumps(
            {
                "user_id": str(user_id),
                "issued_at": now.isoformat(),
                "session_id": str(credential.session_id) if credential.session_id else None,
                "token_id": str(credential.token_id) if credential.token_id else None,
                "expires_at": credential.expires_at.isoformat() if credential.expires_at else None,
                "workspace_id": str(credential.workspace_id) if credential.workspace_id else None,
                "access": access.encode() if access is not None else None,
            }
        )
        await self.store.create(self._key(ticket), value, ttl_s=self.ttl_s)
        return ticket, now + timedelta(seconds=self.ttl_s)

    async def redeem(self, ticket: str) -> StreamPrincipal:
        if not ticket or len(ticket) > 128:
            raise AuthFailed("the stream ticket is not valid")
        key = self._key(ticket)
        found = await live_value(self.store, key)
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

        def uuid_of(name: str) -> UUID | None:
            raw = data.get(name)
            return UUID(raw) if raw else None

        expires = data.get("expires_at")
        return StreamPrincipal(
            UUID(data["user_id"]),
            issued,
            session_id=uuid_of("session_id"),
            token_id=uuid_of("token_id"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            workspace_id=uuid_of("workspace_id"),
            access=Access.decode(data["access"]) if data.get("access") else None,
        )


class Revocations:
    """Sign-outs and revoked personal tokens known to this process: fed by the core-NATS
    revocation events (`watch_revocations`), the replay at start, and the live stream's own
    consumer (`apply`), whichever comes first."""

    def __init__(self, verifier: AccessTokenVerifier, tokens: PersonalTokenCache) -> None:
        self.verifier = verifier
        self.tokens = tokens

    def apply(self, subject: str, data: bytes) -> bool:
        """Apply a revocation event; True when it was one."""
        if subject.rsplit(".", 1)[-1] not in REVOCATION_KINDS:
            return False
        return apply_revocation(subject, data, self.verifier, self.tokens)

    def refused(self, principal: StreamPrincipal) -> str | None:
        """Why the principal may no longer stream (safe to show), or None."""
        if self.verifier.signed_out(principal.user_id, principal.issued_ms):
            return "signed out everywhere"
        if principal.session_id is not None and self.verifier.session_revoked(principal.session_id):
            return "this session was signed out"
        if principal.token_id is not None and self.tokens.is_revoked(principal.token_id):
            return "the personal API token was revoked"
        return None


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


# How long a stream waits for auth-service's answer about a user's access: a re-check after
# an access change must close a stream within a second, answer or not.
RESOLVE_TIMEOUT_S = 0.5
ACCESS_CHANGED_MESSAGE = "access to a workspace changed; reconnect to see what you may still see"
NO_WORKSPACE_MESSAGE = "no access to this workspace's logs; do not retry"

# Workspace id -> the bots the caller is limited to there (None: every bot).
Views = dict[str, frozenset[str] | None]


def views_of(access: Access, workspace_id: UUID | None = None) -> Views:
    """The workspaces whose events a stream of `access` shows (where it holds `logs.view`,
    or only `workspace_id`), each with its bot limit."""
    views: Views = {}
    for grant in access.grants:
        if workspace_id is not None and grant.workspace_id != workspace_id:
            continue
        if grant.allows("logs.view"):
            views[str(grant.workspace_id)] = (
                frozenset(str(b) for b in grant.bot_ids) if grant.bot_ids else None
            )
    return views


def narrowed(before: Views, after: Views) -> bool:
    """True when `after` hides something `before` showed: a workspace, or bots of one."""
    for ws, bots in before.items():
        if ws not in after:
            return True
        now = after[ws]
        if now is not None and (bots is None or not bots <= now):
            return True
    return False


class AccessResolver:
    """The caller's current access from auth-service (`rpc.auth.access.get`), bounded by what
    the ticket carried when a personal token asked for it (the gateway applied the token's
    ceiling there).

    At open the ticket's access serves unless an access change for the user came after it
    (asking auth again would cost a round trip per stream for the same answer); after a
    change auth decides, and when it does not answer, the personal workspace alone (what
    every user had before teams): never more."""

    def __init__(self, fetch: Callable[[UUID], Awaitable[AccessSnapshot]]) -> None:
        self.fetch = fetch
        # user id -> when their access last changed (AccessChanged seen by this replica)
        self.changed: dict[UUID, datetime] = {}

    def note_change(self, user_id: UUID, at: datetime) -> None:
        if len(self.changed) >= 100_000:
            self.changed.clear()
        self.changed[user_id] = at

    async def snapshot(self, user_id: UUID) -> AccessSnapshot | None:
        """What auth-service answers now about the user, or None when it did not answer in
        time."""
        try:
            return await asyncio.wait_for(self.fetch(user_id), RESOLVE_TIMEOUT_S)
        except Exception as exc:  # timeout, no responders, refused: "unknown now"
            log.info("could not resolve a stream's access: %s", type(exc).__name__)
            return None

    @staticmethod
    def bounded(principal: StreamPrincipal, snapshot: AccessSnapshot) -> Access:
        """The stream's access by `snapshot`: within what the ticket carried when a personal
        token asked for it."""
        grants = [
            Grant.model_validate(g.model_dump(include=set(Grant.model_fields)))
            for g in snapshot.grants
        ]
        ceiling = principal.access if principal.token_id is not None else None
        if ceiling is not None:
            bounded = []
            for grant in grants:
                cap = ceiling.grant(grant.workspace_id)
                if cap is not None:
                    grant.permissions &= cap.permissions
                    bounded.append(grant)
            grants = bounded
        return Access(user_id=principal.user_id, token_id=principal.token_id, grants=grants)

    async def current(self, principal: StreamPrincipal) -> Access | None:
        """The access auth-service gives now, or None when it did not answer in time."""
        snapshot = await self.snapshot(principal.user_id)
        return None if snapshot is None else self.bounded(principal, snapshot)

    async def resolve(self, principal: StreamPrincipal) -> Access:
        """What the stream may show at open: the ticket's access while no change of the
        user's access came after it (the gateway issued it seconds ago from its current
        snapshot, which the same AccessChanged invalidates), else auth-service's answer,
        else the personal workspace alone."""
        carried = principal.access
        changed = self.changed.get(principal.user_id)
        if carried is not None and (changed is None or changed < principal.issued_at):
            return carried
        found = await self.current(principal)
        return found if found is not None else personal_access(principal.user_id)
