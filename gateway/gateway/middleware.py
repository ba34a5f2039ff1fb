"""Pure ASGI middleware: request id, metrics, body size limit."""

from __future__ import annotations

import time
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proto.errors import ErrorCode
from services.bus.rpc import new_request_id
from services.telemetry.logs import request_id_var

HTTP_REQUESTS = Counter(
    "botcenter_http_requests_total",
    "HTTP requests by route and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "botcenter_http_request_seconds",
    "HTTP request duration by route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Request id in and out, and metrics by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Metric children by label values: `labels()` validates and locks on every call.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")  # the last one wins, as it always did
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else new_request_id()
        rid_header = (b"x-request-id", rid.encode())
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        # FastAPI itself opens the server span (continuing an incoming traceparent).
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, time.perf_counter() - started)
            request_id_var.reset(token)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]
        route = _route_of(scope)
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(method, route, str(status))
            if len(self._counters) < 10_000:
                self._counters[(method, route, status)] = counter
        counter.inc()
        timer = self._timers.get((method, route))
        if timer is None:
            timer = HTTP_SECONDS.labels(method, route)
            if len(self._timers) < 10_000:
                self._timers[(method, route)] = timer
        timer.observe(seconds)


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 — by Content-Length up front, and while
    streaming for chunked bodies — so a huge request is never read whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        length: int | None = None
        for key, value in scope["headers"]:
            if key == b"content-type" and value.startswith(b"multipart/form-data"):
                limit = self.max_upload_bytes
            elif key == b"content-length" and value.isdigit():
                length = int(value)
        if length is not None and length > limit:
            await _too_large(send, limit)
            return
        seen = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer 413 now and tell the app the client went away, so it stops
                    # reading; whatever it tries to send afterwards is dropped.
                    refused = True
                    if not started:
                        await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not refused:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {
            "error": {
                "code": ErrorCode.TOO_LARGE.value,
                "message": f"request body is larger than {limit} bytes",
                "details": {"limit_bytes": limit},
                "fields": [],
            }
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
