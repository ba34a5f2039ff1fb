"""Slow clients: a deadline for request headers and a pace for request bodies.

uvicorn bounds neither: a connection that stops mid-headers, or a body that stops (or
trickles) mid-way, holds its socket, its task and its buffers for as long as the client
likes. Two pieces bound them, installed on every service's HTTP server by the runner:

- `slow_client_protocol(limits)`: uvicorn's httptools protocol with two timers.
  *Headers*: armed when a connection opens and when the first byte of each further request
  arrives, disarmed when the headers are complete; when it fires, the client gets `408`
  (or, on a connection that never sent a byte, a plain close). *Drain*: once the response
  is sent while the client is still sending the request body (the app answered without
  reading it all, e.g. 401 or 429 on an upload), the body bytes uvicorn buffered for the
  app are dropped (nothing reads them any more) and the client has `body_timeout_s` to
  finish sending, else the connection is closed.
- `BodyTimeoutMiddleware`: while the app waits for the request body, each wait may last at
  most `body_timeout_s`, and in all the time spent waiting the body must average
  `body_min_rate` bytes/s after a first `body_timeout_s` of grace (Apache's mod_reqtimeout
  model: `body=T,MinRate=R`); otherwise the client gets `408` with `Connection: close` and
  the app sees the client go away. Only the time the app spends *waiting for the client*
  counts, so a slow app (or TCP flow control while it works) never times a client out,
  and a request whose body is complete is never timed (streamed responses keep listening
  for the disconnect as long as they like). Websockets are not touched: they upgrade once
  their headers are in, and the websocket ping keeps them honest afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from proto.errors import ErrorCode
from services.errors import envelope_json
from services.timer import Timer

log = logging.getLogger(__name__)

SLOW_CLIENTS = Counter(
    "botcenter_http_slow_clients_total",
    "Requests cut because the client was too slow, by stage (headers, body, drain).",
    ["stage"],
)


@dataclass(frozen=True)
class SlowClientLimits:
    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: float  # bytes/s averaged over the time spent waiting; 0 = no minimum


def timeout_response(message: str, timeout_s: float) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = envelope_json(ErrorCode.REQUEST_TIMEOUT, message, {"timeout_s": timeout_s})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


def _raw_408(message: str, timeout_s: float) -> bytes:
    headers, body = timeout_response(message, timeout_s)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return b"HTTP/1.1 408 Request Timeout\r\n" + head + b"\r\n" + body


class SlowClientHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a post-response drain limit."""

    limits: ClassVar[SlowClientLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer = Timer()
        self._drain_timer = Timer()
        self._in_message = False  # between the first byte of a request and its last
        self._bytes_seen = False  # of the request being waited for

    # ---- connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._bytes_seen = False
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer.cancel()
        self._drain_timer.cancel()
        super().connection_lost(exc)

    # ---- parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = True
        self._bytes_seen = True
        if not self._header_timer.armed:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._header_timer.cancel()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        self._drain_timer.cancel()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and cycle.body:
            # Body bytes the app never read: nothing reads them once the answer is out, yet
            # the cycle keeps them while the connection lives (up to ~300 KiB each).
            cycle.body = bytearray()
        if self._in_message and not self._drain_timer.armed and not self.transport.is_closing():
            # Answered before the client finished sending: it may finish, not linger.
            when = self.loop.time() + self.limits.body_timeout_s
            self._drain_timer.arm(self.loop, when, self._on_drain_timeout)

    # ---- timers
    def _arm_header_timer(self) -> None:
        when = self.loop.time() + self.limits.header_timeout_s
        self._header_timer.arm(self.loop, when, self._on_header_timeout)

    def _on_header_timeout(self) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined request started while the previous answer is still being
            # written: never cut into that answer; look again later.
            self._arm_header_timer()
            return
        if not self._bytes_seen:
            # Opened and never used (a browser's preconnect, or a held socket): just close.
            self.transport.close()
            return
        SLOW_CLIENTS.labels("headers").inc()
        timeout = self.limits.header_timeout_s
        self.transport.write(
            _raw_408(f"the request headers did not arrive within {timeout:g} s", timeout)
        )
        self.transport.close()

    def _on_drain_timeout(self) -> None:
        if not self.transport.is_closing():
            SLOW_CLIENTS.labels("drain").inc()
            self.transport.close()


def slow_client_protocol(limits: SlowClientLimits) -> type[asyncio.Protocol]:
    """The protocol class for `uvicorn.Config(http=...)` with these limits."""
    return type("SlowClientHttpProtocol", (SlowClientHttpProtocol,), {"limits": limits})


def _has_body(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return bool(value != b"0")
        if key == b"transfer-encoding":
            return True
    return False


class CutShort:
    """A request whose body a middleware may refuse half-way (too slow, too large). After
    `answer`, the app reads a disconnect, its output is dropped unless its own response had
    already started, and an exception it raises on the way out is swallowed (`run`)."""

    __slots__ = ("_send", "done", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.done = False
        self.started = False

    async def answer(self, respond: Callable[[Send], Awaitable[None]]) -> Message:
        """Refuse the body: `respond` (the middleware's error response) goes out unless the
        app's response has started; returns the disconnect the app reads instead."""
        self.done = True
        if not self.started:
            await respond(self._send)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.done and not self.started:
            return  # the middleware's answer went out instead
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        try:
            await app(scope, receive, self.send)
        except Exception:
            if not self.done:
                raise
            log.debug("app stopped after its request body was cut short", exc_info=True)


@dataclass(eq=False)
class BodyTimeoutMiddleware:
    """Answers `408` (and closes) when the client sends the request body too slowly."""

    app: ASGIApp
    limits: SlowClientLimits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        limits = self.limits
        loop = asyncio.get_running_loop()
        received = 0
        waited = 0.0
        body_done = False
        cut = CutShort(send)

        async def paced_receive() -> Message:
            nonlocal received, waited, body_done
            if cut.done:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            allowed = limits.body_timeout_s
            too_slow = False
            if limits.body_min_rate > 0:
                allowance = limits.body_timeout_s + received / limits.body_min_rate - waited
                too_slow = allowance < allowed
                allowed = min(allowed, allowance)
            began = loop.time()
            try:
                async with asyncio.timeout(max(0.0, allowed)):
                    message = await receive()
            except TimeoutError:
                SLOW_CLIENTS.labels("body").inc()
                return await cut.answer(lambda out: _send_408(out, limits, received, too_slow))
            waited += loop.time() - began
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        await cut.run(self.app, scope, paced_receive)


async def _send_408(send: Send, limits: SlowClientLimits, received: int, too_slow: bool) -> None:
    if too_slow:
        why = f"it arrived slower than {limits.body_min_rate:g} bytes/s"
    else:
        why = f"nothing arrived for {limits.body_timeout_s:g} s"
    message = f"the request body came too slowly: {why} ({received} bytes received)"
    headers, body = timeout_response(message, limits.body_timeout_s)
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})
