"""The REST v10 surface: one router that wraps every route with Discord's cross-cutting
behaviour — injected faults, authentication, rate limits and JSON errors — so route modules
only hold the logic of their endpoint."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from .config import BucketLimit
from .context import SandboxContext, ctx_of
from .errors import DiscordError, bad_request, field_error, invalid_form, unauthorized
from .jsonresp import json_response
from .oauth_store import TokenGrant
from .state import Application, StateError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIXES = ("/api/v10", "/api/v9", "/api")
APP_KEY: web.RequestKey[Application] = web.RequestKey("sandbox_app", Application)
GRANT_KEY: web.RequestKey[TokenGrant] = web.RequestKey("sandbox_grant", TokenGrant)


@dataclass(slots=True, frozen=True)
class RouteOptions:
    # "bot": Authorization: Bot <token>; "bearer": an OAuth2 access token;
    # "either": bot or bearer; "none": the URL itself carries the credential (webhooks).
    auth: str = "bot"
    # Name of the Tunables field holding this route's BucketLimit.
    limit: str = "default_route_limit"
    # Path parameters that make a separate bucket (Discord's "major parameters").
    major: tuple[str, ...] = ()
    global_limit: bool = True


class RestRouter:
    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Handler, RouteOptions]] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, path, handler, RouteOptions(**options)))
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)

    def install(self, app: web.Application) -> None:
        for method, path, handler, options in self.routes:
            wrapped = _wrap(handler, options, f"{method} {path}")
            for prefix in API_PREFIXES:
                app.router.add_route(method, prefix + path, wrapped)


def _wrap(handler: Handler, options: RouteOptions, route_key: str) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        ctx = ctx_of(request)
        ctx.stats.incr("rest_requests")
        try:
            await _apply_faults(ctx)
            caller = _authenticate(ctx, request, options.auth)
            headers: dict[str, str] = {}
            if caller is not None:
                if options.global_limit and caller.startswith("bot:"):
                    blocked = ctx.limiter.hit_global(caller, ctx.config.tunables.global_limit)
                    if blocked is not None:
                        return _limited(ctx, request, blocked.too_many())
                limit: BucketLimit = getattr(ctx.config.tunables, options.limit)
                major = "/".join(request.match_info.get(name, "") for name in options.major)
                decision = ctx.limiter.hit(caller, f"{options.limit}:{route_key}", major, limit)
                if not decision.allowed:
                    return _limited(ctx, request, decision.too_many())
                headers = decision.headers()
            try:
                response = await handler(request)
            except StateError as exc:
                raise DiscordError(exc.status, 0, exc.message) from exc
            response.headers.update(headers)
            return response
        except DiscordError as exc:
            return exc.response()

    return wrapped


def _limited(ctx: SandboxContext, request: web.Request, response: web.Response) -> web.Response:
    ctx.stats.incr("rate_limits_sent")
    app: Application | None = request.get(APP_KEY)
    if app is not None:
        ctx.stats.app(app.id).rate_limited += 1
    return response


async def _apply_faults(ctx: SandboxContext) -> None:
    faults = ctx.faults
    if faults.rest_latency_ms > 0:
        await asyncio.sleep(faults.rest_latency_ms / 1000)
    if faults.rest_error_rate > 0 and random.random() < faults.rest_error_rate:
        ctx.stats.incr("rest_faults")
        raise DiscordError(500, 0, "500: Internal Server Error (injected by the sandbox)")


def _authenticate(ctx: SandboxContext, request: web.Request, mode: str) -> str | None:
    """Returns the caller key for rate limits; stores the app or grant on the request."""
    if mode == "none":
        return "url:" + request.path
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if mode in ("bot", "either") and scheme == "Bot" and credential:
        app = ctx.state.app_by_token(credential.strip())
        if app is None:
            raise unauthorized()
        request[APP_KEY] = app
        return f"bot:{app.id}"
    if mode in ("bearer", "either") and scheme == "Bearer" and credential:
        grant = ctx.oauth.bearer(credential.strip(), provider="discord")
        if grant is None:
            raise unauthorized()
        request[GRANT_KEY] = grant
        return f"bearer:{grant.user_id}"
    raise unauthorized()


def bot_app(request: web.Request) -> Application:
    app: Application | None = request.get(APP_KEY)
    if app is None:
        raise unauthorized()
    return app


def bearer_grant(request: web.Request) -> TokenGrant | None:
    grant: TokenGrant | None = request.get(GRANT_KEY)
    return grant


def snowflake_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError:
        raise invalid_form(
            field_error([name], "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        ) from None
    if value < 0 or value >= 1 << 64:
        raise invalid_form(
            field_error([name], "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        )
    return value


async def read_body(request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
    """JSON body, or multipart with `payload_json` and `files[n]` (as discord.py sends files).
    Returns (payload, attachments metadata)."""
    content_type = request.content_type
    if content_type.startswith("multipart/"):
        payload: Any = {}
        files: list[dict[str, Any]] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                payload = _parse_json(await part.text())
            elif part.filename is not None:
                data = await part.read()
                files.append(
                    {
                        "filename": part.filename,
                        "size": len(data),
                        "content_type": part.headers.get(
                            "Content-Type", "application/octet-stream"
                        ),
                    }
                )
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    return _parse_json(raw.decode("utf-8", errors="replace")), []


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise bad_request("400: Bad Request", code=50109) from None


async def json_body(request: web.Request) -> dict[str, Any]:
    payload, _ = await read_body(request)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise invalid_form(
            field_error([], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        )
    return payload


def ok(data: Any, status: int = 200) -> web.Response:
    return json_response(data, status=status)
