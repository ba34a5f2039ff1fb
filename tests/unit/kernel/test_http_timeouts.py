"""services.http_timeouts' protocol, driven by hand: bytes in, timers, what goes out.

The integration tests (tests/integration/gateway/test_gateway_slow_clients.py) run the
same protocol in the real gateway over sockets; here the transport is in memory, so what
the protocol keeps between the bytes can be looked at."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from services.http_timeouts import SlowClientLimits, slow_client_protocol

LIMITS = SlowClientLimits(header_timeout_s=0.2, body_timeout_s=0.2, body_min_rate=0)


class MemoryTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def unauthenticated(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers at once without reading the body (as a 401 or a 429 does)."""
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"no"})


def connection(app: Any = unauthenticated) -> tuple[Any, MemoryTransport]:
    cls = slow_client_protocol(LIMITS)
    config = uvicorn.Config(app, http=cls, log_config=None, proxy_headers=False)
    config.load()
    protocol = cls(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
    transport = MemoryTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def until(check: Any, deadline_s: float = 5.0) -> None:
    give_up = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < give_up, "timed out"
        await asyncio.sleep(0.01)


async def test_headers_that_stop_get_408_and_a_close() -> None:
    protocol, transport = connection()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
    await until(lambda: transport.closed)
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in transport.written
    assert b'"code":"request_timeout"' in transport.written


async def test_a_connection_that_never_sends_is_closed_silently() -> None:
    _, transport = connection()
    await until(lambda: transport.closed)
    assert transport.written == b""


async def test_complete_headers_disarm_the_deadline() -> None:
    protocol, transport = connection()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await until(lambda: b"401" in transport.written)
    assert not protocol._header_timer.armed
    assert not transport.closed  # kept alive (uvicorn's keep-alive timer decides later)


async def test_an_early_answer_drops_the_unread_body_and_the_client_must_finish() -> None:
    protocol, transport = connection()
    head = b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n"
    protocol.data_received(head + b"\x00" * 200_000)
    await until(lambda: transport.written.startswith(b"HTTP/1.1 401"))
    # Nothing will read those 200 kB any more: they are not kept for the connection's life.
    assert len(protocol.cycle.body) == 0
    assert not transport.closed
    # More of the body is fine, but the client may not linger: closed after the drain limit.
    protocol.data_received(b"\x00" * 1000)
    await until(lambda: transport.closed)
    assert transport.written.count(b"HTTP/1.1") == 1  # the 401 only, no 408 after it
