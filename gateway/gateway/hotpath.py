"""`GET /v1/me` with a Bearer access token, answered without FastAPI's routing, request
objects and dependency solving (it is the most frequent call there is, and that machinery
cost more CPU than the rest of the request).

It does exactly what the route in `gateway.routes.auth` does, with the same checks from
the same objects: the token verified by the process's `AccessTokenVerifier` (algorithm,
key, audience, issuer, expiry, revoked sessions), the per-user rate limit, the user id in
the RPC headers, auth-service's JSON sent as is. Everything around it still applies: it
sits innermost, below request ids and metrics, CORS, the per-IP limit and the body limit.

Anything else falls through to the app untouched: other paths and methods, cookie
sessions (CSRF), personal API tokens, a malformed header, and every refusal (invalid or
revoked token, rate limit), so error responses come from the one implementation there is.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import API_TOKEN_PREFIX, Authn
from gateway.errors import rpc_error_response
from proto.auth import ME
from proto.base import Empty
from services.authn import InvalidToken
from services.errors import RpcError
from services.runtime import ServiceRuntime

PATH = "/v1/me"
_EMPTY = Empty()
_JSON = (b"content-type", b"application/json")


def _bearer(scope: Scope) -> str | None:
    """The access JWT of a well-formed `Authorization: Bearer` header, else None."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or token.startswith(API_TOKEN_PREFIX):
                return None
            return token
    return None


class MeFastPath:
    def __init__(self, app: ASGIApp, *, runtime: ServiceRuntime, route: BaseRoute | None) -> None:
        self.app = app
        self.runtime = runtime
        self.route = route  # for the metrics label, as the router would set it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        authn: Authn | None = self.runtime.state.get("authn")
        if token is None or authn is None:
            await self.app(scope, receive, send)
            return
        try:
            claims = await authn.verifier.verify(token)
        except InvalidToken:
            await self.app(scope, receive, send)  # the route refuses it, in its words
            return
        if authn.rate_limit and authn.per_user.take(str(claims.user_id)):
            # Refused: the route asks the bucket again (a refusal spends nothing) and
            # answers 429 with Retry-After.
            await self.app(scope, receive, send)
            return
        if self.route is not None:
            scope["route"] = self.route
        try:
            _, raw = await self.runtime.client.call_raw(ME, _EMPTY, user_id=claims.user_id)
        except RpcError as exc:
            await rpc_error_response(exc)(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(raw)).encode()), _JSON],
            }
        )
        await send({"type": "http.response.body", "body": raw})


def me_route(routes: list[Any]) -> BaseRoute | None:
    """The route `GET /v1/me` among `routes` (the auth router's own)."""
    for route in routes:
        methods = getattr(route, "methods", None) or ()
        if getattr(route, "path", None) == PATH and "GET" in methods:
            return route  # type: ignore[no-any-return]
    return None
