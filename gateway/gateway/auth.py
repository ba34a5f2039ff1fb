"""Who is calling: `CurrentUser` and `require_scope`, checked at the gateway without a
round trip for access JWTs.

Credentials, in order: `Authorization: Bearer <jwt>`, `Authorization: Bearer bcp_…` (a
personal API token, resolved through `rpc.auth.token.check` with a short cache), or the
`bc_access` session cookie (then unsafe methods need the CSRF header, see `gateway.csrf`).

    from gateway.auth import CurrentUser, Principal, require_scope

    @router.get("/v1/bots")
    async def list_bots(bus: Bus, user: CurrentUser) -> ...:            # any signed-in caller
        return await bus.call(LIST, req, user_id=user.user_id)

    @router.post("/v1/bots")
    async def create_bot(bus: Bus, user: Annotated[Principal, require_scope("bots:write")]):
        ...

A session (browser or `mode=token` sign-in) holds every scope; a personal token holds the
scopes it was created with (`<area>:write` implies `<area>:read`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, HTTPException, Request

from gateway.access import ACCESS_CHANGED_SUBJECT, AccessCache, Restriction, token_restriction
from gateway.csrf import check_csrf
from gateway.ratelimit import RateLimiter
from proto.access import Access, AccessQuery, AccessSnapshot
from proto.auth import ACCOUNT_SCOPE, API_SCOPES, CHECK_API_TOKEN, JWKS, CheckApiToken
from proto.base import Empty
from proto.errors import ErrorCode
from proto.workspaces import ACCESS_GET
from services.access import access_var
from services.authn import (
    AccessTokenVerifier,
    InvalidToken,
    PersonalTokenCache,
    replay_revocations,
    watch_revocations,
)
from services.bus.connection import on_reconnected
from services.bus.types import Msg
from services.errors import RpcError
from services.runtime import ServiceRuntime

ACCESS_COOKIE = "bc_access"
REFRESH_COOKIE = "bc_refresh"
API_TOKEN_PREFIX = "bcp_"  # noqa: S105 - a prefix, not a secret
SESSION_SCOPES: frozenset[str] = frozenset(API_SCOPES) | {ACCOUNT_SCOPE}
# Replay revocations a little further back than the access-token lifetime (clock skew).
REPLAY_MARGIN_S = 60.0
# Where the caller is kept once known (per request, in the ASGI scope; a plain key rather
# than `request.state`, whose misses cost an exception each).
_PRINCIPAL_KEY = "botcenter.principal"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    kind: Literal["session", "pat"]
    scopes: frozenset[str]
    token_id: UUID | None = None
    session_id: UUID | None = None
    via_cookie: bool = False
    # When this credential stops being accepted (access token: `exp` plus the clock
    # leeway; personal token: its expiry; None: never). A stream ticket carries it.
    expires_at: datetime | None = None
    # What the caller may do in which workspace now (a token: narrowed below its owner),
    # and its `bc-access` header; None only for principals built outside a request (tests).
    access: Access | None = None
    access_header: str | None = None
    # The snapshot `access` was made from: `GET /v1/me` lists its workspaces.
    snapshot: AccessSnapshot | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def expand_scopes(scopes: list[str]) -> frozenset[str]:
    out = set(scopes)
    for scope in scopes:
        if scope.endswith(":write"):
            out.add(scope[: -len(":write")] + ":read")
    return frozenset(out)


@dataclass
class Authn:
    """Per-process authentication state: built by `install` at setup, handed to the app
    (`gateway.app.create_app`), which keeps it as `app.state.authn` for `_authn`."""

    verifier: AccessTokenVerifier
    tokens: PersonalTokenCache
    per_user: RateLimiter
    rate_limit: bool
    access: AccessCache
    cors_origins: list[str] = field(default_factory=list)


async def install(runtime: ServiceRuntime) -> Authn:
    """Create the verifier and token cache, and follow revocation events."""
    settings: Any = runtime.settings
    timeout = settings.auth_timeout_s

    async def fetch_jwks() -> Any:
        return await runtime.client.call(JWKS, Empty(), timeout_s=timeout)

    async def check(token: str) -> Any:
        return await runtime.client.call(
            CHECK_API_TOKEN, CheckApiToken(token=token), timeout_s=timeout
        )

    async def fetch_access(user_id: UUID) -> AccessSnapshot:
        return await runtime.client.call(
            ACCESS_GET, AccessQuery(user_id=user_id), timeout_s=timeout
        )

    authn = Authn(
        verifier=AccessTokenVerifier(
            fetch_jwks,
            min_refresh_interval_s=settings.jwks_min_refresh_s,
            max_age_s=settings.jwks_max_age_s,
        ),
        tokens=PersonalTokenCache(check, ttl_s=settings.api_token_cache_s),
        per_user=RateLimiter(settings.rate_user_per_s, settings.rate_user_burst),
        rate_limit=settings.rate_limit_enabled,
        access=AccessCache(fetch_access, ttl_s=settings.access_cache_s),
        cors_origins=list(settings.cors_origins),
    )
    subs = await watch_revocations(runtime.nc, authn.verifier, authn.tokens)
    subs.append(await watch_access(runtime, authn.access))

    async def unsubscribe() -> None:
        for sub in subs:
            await sub.unsubscribe()

    runtime.on_stop(unsubscribe)
    replayed = asyncio.Event()
    runtime.ready_check("revocations", _is_set(replayed))
    try:
        await _replay(runtime, authn)
        replayed.set()
    except Exception:
        log.warning("revocation replay failed; retrying in the background", exc_info=True)
        runtime.spawn(_replay_until_done(runtime, authn, replayed), name="authn-replay")
    return authn


async def watch_access(runtime: ServiceRuntime, cache: AccessCache) -> Any:
    """Drop snapshots as auth announces changes (core NATS: every replica gets each one);
    forget them all after a reconnect, as events sent meanwhile were missed."""

    async def on_changed(msg: Msg) -> None:
        cache.on_access_changed(msg.data)

    async def on_reconnect() -> None:
        cache.clear()

    sub = await runtime.nc.subscribe(ACCESS_CHANGED_SUBJECT, cb=on_changed)
    await runtime.nc.flush()
    on_reconnected(runtime.nc, on_reconnect)
    return sub


def _is_set(flag: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return flag.is_set()

    return check


async def _replay(runtime: ServiceRuntime, authn: Authn) -> None:
    """Sign-outs and revoked tokens of the last access-token lifetime (from the JWKS reply;
    24 h, the longest allowed, when auth-service does not say), applied before ready."""
    await authn.verifier.refresh(force=True)
    ttl = authn.verifier.access_ttl_s or 24 * 3600
    applied = await replay_revocations(
        runtime.js, authn.verifier, authn.tokens, since_s=ttl + REPLAY_MARGIN_S
    )
    log.info("revocations replayed", extra={"applied": applied, "window_s": ttl})


async def _replay_until_done(
    runtime: ServiceRuntime, authn: Authn, replayed: asyncio.Event
) -> None:
    delay = 0.5
    while not replayed.is_set():
        await asyncio.sleep(delay)
        try:
            await _replay(runtime, authn)
            replayed.set()
        except Exception:
            delay = min(delay * 2, 10.0)


def _authn(request: Request) -> Authn:
    authn = request.app.state.authn
    if not isinstance(authn, Authn):
        raise TypeError("the gateway app was built without its Authn (see gateway.app)")
    return authn


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthenticated("the Authorization header must be `Bearer <token>`")
    return value.strip()


async def authenticate(request: Request) -> Principal | None:
    """The caller, or None when the request carries no credentials at all."""
    cached: Principal | None = request.scope.get(_PRINCIPAL_KEY)
    if cached is not None:
        access_var.set(cached.access_header)
        return cached
    authn = _authn(request)
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(ACCESS_COOKIE)
        via_cookie = token is not None
    if not token:
        return None
    principal: Principal
    try:
        if token.startswith(API_TOKEN_PREFIX):
            if via_cookie:
                raise _unauthenticated("personal API tokens go in the Authorization header")
            try:
                pat = await authn.tokens.resolve(token)
            except RpcError as err:
                if err.code is ErrorCode.UNAUTHENTICATED:
                    raise _unauthenticated(err.message) from None
                raise
            # Its ceiling: its workspace and permissions, or (a token from before teams)
            # the permissions its scopes stood for.
            restriction: Restriction | None = token_restriction(
                pat.scopes, pat.workspace_id, pat.permissions
            )
            principal = Principal(
                user_id=pat.user_id,
                kind="pat",
                scopes=expand_scopes(pat.scopes),
                token_id=pat.token_id,
                expires_at=pat.expires_at,
            )
        else:
            claims = await authn.verifier.verify(token)
            restriction = None
            principal = Principal(
                user_id=claims.user_id,
                kind="session",
                scopes=SESSION_SCOPES,
                session_id=claims.session_id,
                via_cookie=via_cookie,
                expires_at=datetime.fromtimestamp(
                    claims.expires_at + authn.verifier.leeway_s, UTC
                ),
            )
    except InvalidToken as exc:
        raise _unauthenticated(exc.reason) from None
    if via_cookie:
        check_csrf(request, authn.cors_origins)
    if authn.rate_limit:
        wait = authn.per_user.take(str(principal.user_id))
        if wait:
            raise RpcError(
                ErrorCode.RATE_LIMITED,
                "too many requests for this account; slow down",
                details={"retry_after": wait},
            )
    # Computed at every use from the owner's current snapshot: a token loses what its owner
    # lost as soon as auth says so.
    resolved = await authn.access.access(
        principal.user_id, token_id=principal.token_id, restriction=restriction
    )
    principal = replace(
        principal,
        access=resolved.access,
        access_header=resolved.header,
        snapshot=resolved.snapshot,
    )
    request.scope[_PRINCIPAL_KEY] = principal
    # Every call this request makes carries it (the kernel forwards the served request's
    # access, as in a handler), so no route can forget it.
    access_var.set(resolved.header)
    return principal


async def current_user(request: Request) -> Principal:
    principal = await authenticate(request)
    if principal is None:
        raise _unauthenticated("sign in first (session cookie or Authorization: Bearer token)")
    return principal


async def optional_user(request: Request) -> Principal | None:
    return await authenticate(request)


# The caller of a data route. Permissions are checked by the owning service from bc-access
# (a 404 for another workspace must come before any 403, and only the service knows the
# resource's workspace); a personal token's scopes narrow that access (gateway.access), not
# the route.
CurrentUser = Annotated[Principal, Depends(current_user)]
OptionalUser = Annotated[Principal | None, Depends(optional_user)]


def require_scope(scope: str) -> Any:
    """A dependency: the caller, refused with 403 unless it holds `scope`.

    Use as `user: Annotated[Principal, require_scope("bots:write")]` or in
    `dependencies=[require_scope("bots:write")]`.
    """

    async def check(principal: CurrentUser) -> Principal:
        if scope not in principal.scopes:
            raise RpcError(
                ErrorCode.FORBIDDEN,
                f"this token lacks the {scope!r} scope"
                if principal.kind == "pat"
                else f"this action needs the {scope!r} scope",
                details={"required_scope": scope},
            )
        return principal

    return Depends(check)
