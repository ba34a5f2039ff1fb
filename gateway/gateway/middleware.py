"""Pure ASGI middleware: request id, metrics, response headers, crashes, body size limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit import READS, check_recorded
from gateway.errors import internal_error_body
from gateway.ratelimit import client_ip
from proto.errors import ErrorCode
from services.audit import client_header, client_var, written_var
from services.bus.rpc import new_request_id
from services.errors import envelope_json
from services.http_timeouts import CutShort
from services.sizes import human_size
from services.telemetry.logs import request_id_var

log = logging.getLogger(__name__)

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


_SIGN_IN = "/v1/auth/"


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Request id in and out, metrics by route template, the headers every response
    carries (`response_headers`, unless the response set its own), and the answer to an
    exception that nothing else handled.

    It is the outermost of our middlewares, so 413s and 429s from the ones inside get the
    same headers; and it answers a crash itself — with the request id still set, as a JSON
    500 — instead of letting it reach Starlette's outer error middleware, which runs after
    the id is gone ("request id -") and re-raises, making the server drop the connection.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        response_headers: Sequence[tuple[bytes, bytes]] = (),
        trusted_hops: int = 0,
    ) -> None:
        self.app = app
        self.trusted_hops = trusted_hops
        self.response_headers = list(response_headers)
        self._header_names = frozenset(name.lower() for name, _ in self.response_headers)
        # Metric children by label values: `labels()` validates and locks on every call.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        agent = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")  # the last one wins, as it always did
            elif key == b"user-agent":
                agent = value.decode("latin-1")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else new_request_id()
        rid_header = (b"x-request-id", rid.encode())
        token = request_id_var.set(rid)
        # Who to write into audit records (`bc-client` on every call of the request): only
        # for what may change something, and sign-in (its callback is a GET).
        changes = scope["method"] not in READS or scope["path"].startswith(_SIGN_IN)
        client_token = client_var.set(
            client_header(client_ip(scope, self.trusted_hops), agent) if changes else None
        )
        # Filled by the calls the request makes (their `bc-audit` replies): the route runs
        # in this task, so its calls' additions are seen here after it.
        audit_token = written_var.set(())
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = self._with_headers(message.get("headers", ()), rid_header)
            await send(message)

        # FastAPI itself opens the server span (continuing an incoming traceparent).
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if response_started:
                raise  # part of the body is out: only closing the connection can say so
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": internal_error_body(rid)})
        finally:
            self._observe(scope, status, time.perf_counter() - started)
            if changes:
                check_recorded(_route_of(scope), scope["method"], status, written_var.get())
            request_id_var.reset(token)
            client_var.reset(client_token)
            written_var.reset(audit_token)

    def _with_headers(
        self, headers: Iterable[tuple[bytes, bytes]], rid_header: tuple[bytes, bytes]
    ) -> list[tuple[bytes, bytes]]:
        out = list(headers)
        if self.response_headers:
            present = {name.lower() for name, _ in out} & self._header_names
            out.extend(h for h in self.response_headers if h[0] not in present)
        out.append(rid_header)
        return out

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


@dataclass(eq=False)
class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 — by Content-Length up front, and while
    streaming for chunked bodies — so a huge request is never read whole."""

    app: ASGIApp
    _: KW_ONLY
    max_bytes: int
    max_upload_bytes: int

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
        cut = CutShort(send)

        async def limited_receive() -> Message:
            nonlocal seen
            if cut.done:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer 413 now and tell the app the client went away, so it stops
                    # reading; what it tries to send afterwards is dropped.
                    return await cut.answer(lambda out: _too_large(out, limit))
            return message

        await cut.run(self.app, scope, limited_receive)


async def _too_large(send: Send, limit: int) -> None:
    body = envelope_json(
        ErrorCode.TOO_LARGE,
        f"request body is larger than {human_size(limit)}",
        {"limit_bytes": limit},
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
