"""log-service's own HTTP app: `GET /v1/stream` (websocket); the kernel adds health routes."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from log_service.stream.auth import PROTOCOL, AuthFailed, credentials_from_protocols
from log_service.stream.context import StreamContext
from log_service.stream.hub import CLOSE_TOO_SLOW
from services.errors import RpcError

log = logging.getLogger(__name__)


def origin_allowed(
    origin: str | None, host: str | None, forwarded_host: str | None, allowed: set[str]
) -> bool:
    """Browsers always send Origin; other clients may omit it (they are not CSWSH victims)."""
    if not origin:
        return True
    origin = origin.rstrip("/")
    if origin in allowed or "*" in allowed:
        return True
    if allowed:
        return False
    # Default: same host as the one the browser connected to (directly or via the gateway).
    netloc = urlsplit(origin).netloc
    return bool(netloc) and netloc in {h for h in (host, forwarded_host) if h}


def create_stream_app(context: StreamContext) -> Starlette:
    hub = context.hub
    verifier = context.authenticator
    tickets = context.tickets
    settings = context.settings
    allowed = settings.allowed_origins()

    async def endpoint(_: Request) -> JSONResponse:
        # Where this replica's stream is served (the picows port or this one); no secrets.
        return JSONResponse({"url": context.address.url(), "server": settings.stream_server})

    async def stream(ws: WebSocket) -> None:
        headers = ws.headers
        if not origin_allowed(
            headers.get("origin"), headers.get("host"), headers.get("x-forwarded-host"), allowed
        ):
            # Refused before the handshake completes: the browser sees a failed connection.
            await ws.close(code=1008, reason="origin not allowed")
            return
        offered = [
            p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()
        ]
        subprotocol = PROTOCOL if PROTOCOL in offered else None
        if not hub.replayed:
            # Before the revocations are replayed a signed-out token would pass: not yet.
            await ws.accept(subprotocol=subprotocol)
            await ws.close(code=CLOSE_TOO_SLOW, reason="the stream server is starting; try again")
            return
        try:
            kind, value = credentials_from_protocols(offered)
            principal = await (
                verifier.verify(value) if kind == "bearer" else tickets.redeem(value)
            )
            principal = await hub.authorize(principal)
        except AuthFailed as exc:
            await ws.accept(subprotocol=subprotocol)
            await ws.close(code=exc.code, reason=str(exc)[:120])
            return
        except RpcError:
            await ws.accept(subprotocol=subprotocol)
            await ws.close(
                code=CLOSE_TOO_SLOW, reason="cannot check credentials right now; try again"
            )
            return
        await ws.accept(subprotocol=subprotocol)
        # Checked after the last await before `serve` registers the client: concurrent
        # opens of one user cannot all pass the per-user cap.
        refused = hub.admission(principal)
        if refused is not None:
            await ws.close(code=refused[0], reason=refused[1][:120])
            return
        await hub.serve(ws, principal)

    return Starlette(
        routes=[
            WebSocketRoute("/v1/stream", stream),
            Route("/stream-endpoint", endpoint, methods=["GET"]),
        ]
    )
