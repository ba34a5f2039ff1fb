"""Verifying botcenter access tokens without a round trip (gateway, log-service).

`AccessTokenVerifier` checks access JWTs locally against auth-service's JWKS (fetched
through `rpc.auth.jwks`, cached, refreshed at most every few seconds when a token names an
unknown `kid`, and every `max_age_s` anyway). Only asymmetric algorithms the JWKS key
itself declares are accepted, so `alg=none` and HS/RS confusion fail. A "sign out
everywhere" (`SessionsRevoked`) makes every token of that user issued before it invalid:
the token id is a UUIDv7 whose timestamp orders it against the event.

`PersonalTokenCache` resolves `bcp_…` personal tokens with `rpc.auth.token.check` and keeps
answers for a short time; `ApiTokenRevoked` drops an entry at once.

Signing out one session (`SessionRevoked`, carrying the session id = the token's `sid`)
refuses that session's tokens. `ctl.auth.keys_rotated` (a new key is published, signing a
little later) refreshes the JWKS at once, retrying briefly until the new `kid` shows up.
`ctl.auth.key_retired` (a leaked key) drops the key and the tokens cached with it at once
and remembers it, so a JWKS from an auth replica that has not reloaded yet cannot bring it
back; a process that missed the signal drops it on its next JWKS refresh (`max_age_s`),
as the retired key is no longer published and cached answers are kept only while their
key is.

`watch_revocations` subscribes a process to these (core NATS, every replica);
`replay_revocations` applies the revocations of the last access-token lifetime from
JetStream, so a process that starts (or restarts) knows them before it reports ready
(`replay_access_window` picks that window from the JWKS, or the longest allowed).
`apply_revocation` applies one such event (log-service also feeds it what its live
stream's consumer sees, and asks `signed_out` / `session_revoked` about stream tickets).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from pydantic import ValidationError

from proto.auth import (
    KEY_RETIRED_SUBJECT,
    KEYS_ROTATED_SUBJECT,
    ApiTokenPrincipal,
    ApiTokenRevoked,
    Jwks,
    KeyRetired,
    KeysRotated,
    SessionRevoked,
    SessionsRevoked,
)
from services.bus.jetstream import replay
from services.bus.types import JetStream, Msg, NatsClient, StreamNotFoundError, Subscription

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset({"EdDSA", "ES256"})
SESSIONS_REVOKED_SUBJECT = "evt.auth.*.*.sessions_revoked"
TOKEN_REVOKED_SUBJECT = "evt.auth.*.*.token_revoked"  # noqa: S105
SESSION_REVOKED_SUBJECT = "evt.auth.*.*.session_revoked"
EVENTS_STREAM = "EVENTS"
# Event kinds (last subject token) that `apply_revocation` understands.
REVOCATION_KINDS = frozenset({"sessions_revoked", "session_revoked", "token_revoked"})
# The longest access-token lifetime auth-service allows (`AUTH_ACCESS_TTL_S`): how far
# back to replay when the JWKS (which says the real lifetime) cannot be fetched.
MAX_ACCESS_TTL_S = 24 * 3600
# How long a key announced by a rotation or retirement may force JWKS refreshes.
ANNOUNCED_KEY_S = 60.0


class InvalidToken(Exception):
    """The token is not acceptable; `reason` is safe to show. `expired`: only its lifetime
    is over (a fresh token from the same session would do)."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID | None
    token_id: str
    issued_ms: int
    expires_at: int
    kid: str = ""  # the signing key: a cached answer is dropped with its key


def _issued_ms(jti: str, iat: int) -> int:
    try:
        ident = UUID(jti)
    except ValueError:
        return iat * 1000
    return ident.int >> 80 if ident.version == 7 else iat * 1000


class AccessTokenVerifier:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[Jwks]],
        *,
        min_refresh_interval_s: float = 5.0,
        max_age_s: float = 300.0,
        leeway_s: int = 10,
        cache_size: int = 20_000,
        revocation_ttl_s: float = 24 * 3600,
    ) -> None:
        self._fetch = fetch
        self._min_refresh = min_refresh_interval_s
        self._max_age = max_age_s
        self._leeway = leeway_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._issuer = ""
        self._audience = ""
        self._fetched_at = -1e9
        self._lock = asyncio.Lock()
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_size = cache_size
        self._revoked: dict[UUID, tuple[int, float]] = {}
        self._revoked_sessions: dict[UUID, float] = {}  # session id -> forget after
        self._revocation_ttl = revocation_ttl_s
        self.access_ttl_s: int | None = None
        # Keys retired at once (leaked): never taken back, even from a JWKS that a replica
        # which has not reloaded yet still publishes.
        self._retired: set[str] = set()
        # Keys announced (rotation, retirement) in the last ANNOUNCED_KEY_S: a token signed
        # with one that is missing from our JWKS (fetched from a replica that had not
        # reloaded yet) forces a refresh despite `min_refresh_s`. Only announced kids, so
        # random kids still cannot make every request fetch the JWKS.
        self._announced: dict[str, float] = {}

    @property
    def leeway_s(self) -> int:
        """Seconds a token is still accepted after its `exp` (clock skew between hosts)."""
        return self._leeway

    # ------------------------------------------------------------------ keys
    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if not force and age < self._min_refresh:
                return
            jwks = await self._fetch()
            keys: dict[str, jwt.PyJWK] = {}
            for data in jwks.keys:
                kid, alg = data.get("kid"), data.get("alg")
                if not isinstance(kid, str) or alg not in ALLOWED_ALGORITHMS:
                    continue
                if kid in self._retired:
                    continue
                try:
                    keys[kid] = jwt.PyJWK(data, algorithm=alg)
                except jwt.PyJWTError:
                    log.warning("ignoring an unusable key in the JWKS", extra={"kid": kid})
            self._keys = keys
            self._issuer = jwks.issuer
            self._audience = jwks.audience
            self.access_ttl_s = jwks.access_ttl_s
            self._fetched_at = time.monotonic()

    async def key_published(self, kid: str, *, attempts: int = 10, pause_s: float = 0.5) -> bool:
        """A new key was announced: refresh now, and again shortly while the JWKS we get
        (from a replica that has not reloaded yet) does not list it."""
        now = time.monotonic()
        self._announced = {k: t for k, t in self._announced.items() if t > now}
        self._announced[kid] = now + ANNOUNCED_KEY_S
        for attempt in range(attempts):
            if kid in self._keys:
                return True
            if attempt:
                await asyncio.sleep(pause_s)
            try:
                await self.refresh(force=True)
            except Exception:
                log.warning("could not refresh the JWKS after a key rotation")
        return kid in self._keys

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid in self._retired:
            raise InvalidToken("the token was signed with a retired key; sign in again")
        if time.monotonic() - self._fetched_at > self._max_age:
            await self.refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            # A key we were told about may have been missing from the JWKS of a replica
            # that had not reloaded yet: ask again rather than wait out `min_refresh_s`.
            announced = self._announced.get(kid, 0.0) > time.monotonic()
            await self.refresh(force=announced)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        return key

    # ---------------------------------------------------------------- verify
    async def verify(self, token: str) -> AccessClaims:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and cached.kid not in self._keys:
            # Its key left the JWKS (retired): check the token again, which refuses it.
            self._cache.pop(token, None)
            cached = None
        if cached is not None:
            if cached.expires_at + self._leeway < now:
                self._cache.pop(token, None)
                raise InvalidToken("the token has expired", expired=True)
            self._check_revoked(cached)
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken("the token's algorithm is not accepted")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key")
        key = await self._key(kid)
        if key.algorithm_name != alg:
            raise InvalidToken("the token's algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired", expired=True) from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token comes from another issuer") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token's signature or claims are invalid") from None
        try:
            sid = claims.get("sid")
            result = AccessClaims(
                user_id=UUID(str(claims["sub"])),
                session_id=UUID(str(sid)) if sid else None,
                token_id=str(claims["jti"]),
                issued_ms=_issued_ms(str(claims["jti"]), int(claims["iat"])),
                expires_at=int(claims["exp"]),
                kid=kid,
            )
        except (ValueError, TypeError):
            raise InvalidToken("the token's claims are invalid") from None
        self._check_revoked(result)
        self._cache[token] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def retire_key(self, kid: str) -> None:
        """A signing key was retired (`ctl.auth.key_retired`): its tokens are refused from
        now on, cached ones included, and no later JWKS brings it back."""
        self._retired.add(kid)
        self._keys.pop(kid, None)
        for token in [t for t, c in self._cache.items() if c.kid == kid]:
            del self._cache[token]

    # ----------------------------------------------------------- revocation
    def revoke_sessions(self, user_id: UUID, before_ms: int) -> None:
        """Tokens of `user_id` issued before `before_ms` (epoch ms) are refused from now on."""
        previous = self._revoked.get(user_id)
        if previous is None or previous[0] < before_ms:
            self._revoked[user_id] = (before_ms, time.monotonic() + self._revocation_ttl)
        if len(self._revoked) > 100_000:
            limit = time.monotonic()
            self._revoked = {u: v for u, v in self._revoked.items() if v[1] > limit}

    def revoke_session(self, session_id: UUID) -> None:
        """Tokens carrying `sid` = `session_id` are refused from now on."""
        now = time.monotonic()
        self._revoked_sessions[session_id] = now + self._revocation_ttl
        if len(self._revoked_sessions) > 100_000:
            self._revoked_sessions = {
                sid: until for sid, until in self._revoked_sessions.items() if until > now
            }

    def signed_out(self, user_id: UUID, issued_ms: int) -> bool:
        """True when `user_id` signed out everywhere at or after `issued_ms` (epoch ms)."""
        entry = self._revoked.get(user_id)
        return entry is not None and issued_ms <= entry[0]

    def session_revoked(self, session_id: UUID) -> bool:
        """True when the session (refresh family) was signed out or its refresh token reused."""
        return session_id in self._revoked_sessions

    def _check_revoked(self, claims: AccessClaims) -> None:
        if self.signed_out(claims.user_id, claims.issued_ms):
            raise InvalidToken("this session was signed out")
        if claims.session_id is not None and self.session_revoked(claims.session_id):
            raise InvalidToken("this session was signed out")


class PersonalTokenCache:
    """Short-lived answers of `rpc.auth.token.check`, keyed by the token's SHA-256."""

    def __init__(
        self,
        check: Callable[[str], Awaitable[ApiTokenPrincipal]],
        *,
        ttl_s: float = 30.0,
        max_entries: int = 10_000,
    ) -> None:
        self._check = check
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[ApiTokenPrincipal, float]] = OrderedDict()
        self._revoked: dict[UUID, float] = {}

    async def resolve(self, token: str) -> ApiTokenPrincipal:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now and entry[0].token_id not in self._revoked:
            return entry[0]
        principal = await self._check(token)  # raises for unknown/revoked tokens
        if principal.token_id not in self._revoked:
            self._entries[key] = (principal, now + self._ttl)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return principal

    def drop_token(self, token_id: UUID) -> None:
        now = time.monotonic()
        # Remembered for one cache period, so an answer already on its way is not cached.
        self._revoked[token_id] = now + self._ttl
        self._revoked = {t: until for t, until in self._revoked.items() if until > now}
        for key, (principal, _) in list(self._entries.items()):
            if principal.token_id == token_id:
                del self._entries[key]

    def drop_user(self, user_id: UUID) -> None:
        for key, (principal, _) in list(self._entries.items()):
            if principal.user_id == user_id:
                del self._entries[key]

    def is_revoked(self, token_id: UUID) -> bool:
        until = self._revoked.get(token_id)
        return until is not None and until > time.monotonic()


def apply_revocation(
    subject: str,
    data: bytes,
    verifier: AccessTokenVerifier | None,
    tokens: PersonalTokenCache | None,
) -> bool:
    """Apply one revocation event by its subject's kind; False when it is not one."""
    kind = subject.rsplit(".", 1)[-1]
    try:
        if kind == "sessions_revoked":
            event = SessionsRevoked.model_validate_json(data)
            if verifier is not None:
                verifier.revoke_sessions(event.owner_id, int(event.occurred_at.timestamp() * 1000))
            if tokens is not None and event.message == "account deleted":
                tokens.drop_user(event.owner_id)
        elif kind == "session_revoked":
            one = SessionRevoked.model_validate_json(data)
            if verifier is not None:
                verifier.revoke_session(one.session_id)
        elif kind == "token_revoked":
            revoked = ApiTokenRevoked.model_validate_json(data)
            if tokens is not None:
                tokens.drop_token(revoked.token_id)
        else:
            return False
    except ValidationError:
        return False
    return True


async def watch_revocations(
    nc: NatsClient,
    verifier: AccessTokenVerifier | None,
    tokens: PersonalTokenCache | None,
) -> list[Subscription]:
    """Apply `SessionsRevoked` / `SessionRevoked` / `ApiTokenRevoked` events as they happen
    (every replica), and refresh the JWKS when a new signing key is announced."""

    async def on_revocation(msg: Msg) -> None:
        apply_revocation(msg.subject, msg.data, verifier, tokens)

    async def on_key_signal(msg: Msg) -> None:
        """A new key (`KeysRotated`) is fetched; a retired one (`KeyRetired`) is dropped and
        the key that signs now fetched."""
        if verifier is None:
            return
        try:
            if msg.subject == KEY_RETIRED_SUBJECT:
                retired = KeyRetired.model_validate_json(msg.data)
                verifier.retire_key(retired.kid)
                kid = retired.signing_kid
            else:
                kid = KeysRotated.model_validate_json(msg.data).kid
        except ValidationError:
            return
        await verifier.key_published(kid)

    subs = [
        await nc.subscribe(SESSIONS_REVOKED_SUBJECT, cb=on_revocation),
        await nc.subscribe(SESSION_REVOKED_SUBJECT, cb=on_revocation),
        await nc.subscribe(TOKEN_REVOKED_SUBJECT, cb=on_revocation),
    ]
    if verifier is not None:
        subs.append(await nc.subscribe(KEYS_ROTATED_SUBJECT, cb=on_key_signal))
        subs.append(await nc.subscribe(KEY_RETIRED_SUBJECT, cb=on_key_signal))
    await nc.flush()
    return subs


async def replay_revocations(
    js: JetStream,
    verifier: AccessTokenVerifier | None,
    tokens: PersonalTokenCache | None,
    *,
    since_s: float,
    batch: int = 500,
    fetch_timeout_s: float = 2.0,
) -> int:
    """Apply the revocation events of the last `since_s` seconds from the EVENTS stream
    (an ephemeral consumer on `evt.auth.>`, read until caught up). Returns how many were
    applied. Call after `watch_revocations`, so nothing falls between replay and live."""
    start = datetime.now(UTC) - timedelta(seconds=since_s)
    applied = 0
    try:
        async with replay(js, EVENTS_STREAM, "evt.auth.>", start_time=start) as events:
            pending = events.pending
            while pending:
                msgs = await events.fetch(batch, fetch_timeout_s)
                if msgs is None:
                    break
                for m in msgs:
                    pending = m.pending
                    if apply_revocation(m.subject, m.data, verifier, tokens):
                        applied += 1
    except StreamNotFoundError:
        return 0  # no events stream yet: nothing was ever revoked
    return applied


async def replay_access_window(
    js: JetStream,
    verifier: AccessTokenVerifier,
    tokens: PersonalTokenCache | None,
    *,
    margin_s: float = 60.0,
) -> int:
    """`replay_revocations` over the lifetime of access tokens (plus `margin_s` for clock
    skew): the lifetime from the JWKS reply, or the longest allowed when auth-service cannot
    say right now (the replay itself needs only JetStream, so a verifier does not wait for
    auth-service to know what was revoked)."""
    try:
        await verifier.refresh(force=True)
    except Exception:
        log.warning("JWKS not available; replaying revocations of the longest token lifetime")
    ttl = verifier.access_ttl_s or MAX_ACCESS_TTL_S
    applied = await replay_revocations(js, verifier, tokens, since_s=ttl + margin_s)
    log.info("revocations replayed", extra={"applied": applied, "window_s": ttl})
    return applied
