"""The stream's fast server: picows on its own port (the default, chosen by measurement).

Frames are written straight to the socket from the dispatcher — no per-connection task
and no awaited send. The "send queue" is the transport's write buffer, bounded in bytes:
a client whose buffer exceeds `LOG_STREAM_SEND_BUFFER_BYTES` is sent a 1013 close and
disconnected after `LOG_STREAM_CLOSE_TIMEOUT_S` if it never reads it. Pings are picows's
own (idle ping, closed when no pong arrives in time).

Authentication is the same as the Starlette route: the subprotocol carries the token or
ticket; the origin is checked before the upgrade; `Hub.admission` decides (revoked,
expired, replay not done, per-user and per-replica caps) right before registration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from log_service.settings import Settings
from log_service.stream.auth import PROTOCOL, AuthFailed, JwtAuthenticator, TicketStore
from log_service.stream.auth import credentials_from_protocols as parse_credentials
from log_service.stream.http import origin_allowed
from log_service.stream.hub import Client, Hub
from services.errors import RpcError

log = logging.getLogger(__name__)
PATH = "/v1/stream"


def _text_header(size: int) -> bytes:
    """The header of an unmasked, final text frame (server to client, no extensions)."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big")
    return b"\x81\x7f" + size.to_bytes(8, "big")


_wire: list[bytes] = [b"", b""]


def _framed(frame: bytes) -> bytes:
    """Header and payload of a frame, built once per event for all of a user's clients (the
    dispatcher offers the same `frame` object to each of them in turn)."""
    if _wire[0] is not frame:
        _wire[0] = frame
        _wire[1] = _text_header(len(frame)) + frame
    return _wire[1]


class PicowsClient(Client):
    """Frames for one client are gathered while the dispatcher works through a burst of
    events and written with one call when it yields: one syscall for many frames under load,
    no added delay when idle (one flush of every client with data runs on the very next loop
    iteration)."""

    def __init__(self, transport: WSTransport, listener: StreamListener) -> None:
        super().__init__(listener.principal, listener.settings.stream_resume_buffer_max)
        self.transport = transport
        self.raw = transport.underlying_transport
        self.listener = listener
        self.max_bytes = listener.settings.stream_send_buffer_bytes
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.dirty = listener.server.dirty

    def _buffered(self) -> int:
        size: int = self.raw.get_write_buffer_size()
        return size + self.pending_bytes

    def flush(self) -> None:
        if self.pending:
            data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
            self.pending.clear()
            self.pending_bytes = 0
            if not self.raw.is_closing():
                self.raw.write(data)

    def backlogged(self) -> bool:
        # The transport pauses us above its high-water mark; only then can we be over.
        return (self.listener.paused or self.pending_bytes >= self.max_bytes) and (
            self._buffered() >= self.max_bytes
        )

    def half_full(self) -> bool:
        return self.listener.paused or self._buffered() >= self.max_bytes // 2

    def backlog(self) -> str:
        return f"{self._buffered() // 1024} KiB"

    def buffered_bytes(self) -> int:
        return self._buffered()

    def abort(self) -> None:
        self.transport.disconnect(False)

    def deliver(self, frame: bytes) -> None:
        wire = _framed(frame)
        if not self.pending:
            self.dirty.add(self)
        self.pending.append(wire)
        self.pending_bytes += len(wire)

    def shutdown(self, code: int, reason: str) -> None:
        self.flush()  # what was already accepted goes before the close frame
        self.transport.send_close(WSCloseCode(code), reason.encode())
        loop = asyncio.get_running_loop()
        # Give the close frame time to get through a client that reads late; then cut it.
        loop.call_later(
            self.listener.settings.stream_close_timeout_s, self.transport.disconnect, False
        )


class DirtyClients:
    """Clients with frames waiting: all flushed by one callback on the next loop iteration
    (instead of one scheduled callback per client and event)."""

    def __init__(self) -> None:
        self.clients: list[PicowsClient] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, client: PicowsClient) -> None:
        if not self.clients:
            if self.loop is None:
                self.loop = asyncio.get_running_loop()
            self.loop.call_soon(self.flush)
        self.clients.append(client)

    def flush(self) -> None:
        clients, self.clients = self.clients, []
        for c in clients:
            c.flush()


class StreamListener(WSListener):
    def __init__(self, server: FastStreamServer, offered: list[str]) -> None:
        self.server = server
        self.settings = server.settings
        self.offered = offered
        self.principal: Any = None
        self.client: PicowsClient | None = None
        self.pending: list[bytes] = []
        self.paused = False
        self.task: asyncio.Task[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.task = asyncio.get_running_loop().create_task(self._open(transport))

    async def _open(self, transport: WSTransport) -> None:
        try:
            await self._authenticate(transport)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not open a stream")
            transport.send_close(WSCloseCode.INTERNAL_ERROR, b"internal error")
            transport.disconnect()

    async def _authenticate(self, transport: WSTransport) -> None:
        hub = self.server.hub
        if not hub.replayed:
            # Before the revocations are replayed a signed-out token would pass: not yet.
            transport.send_close(
                WSCloseCode.TRY_AGAIN_LATER, b"the stream server is starting; try again"
            )
            transport.disconnect()
            return
        try:
            kind, value = parse_credentials(self.offered)
            verify = self.server.verifier.verify if kind == "bearer" else self.server.tickets.redeem
            self.principal = await verify(value)
            self.principal = await hub.authorize(self.principal)
        except AuthFailed as exc:
            transport.send_close(WSCloseCode(exc.code), str(exc)[:120].encode())
            transport.disconnect()
            return
        except RpcError:
            transport.send_close(
                WSCloseCode.TRY_AGAIN_LATER, b"cannot check credentials right now; try again"
            )
            transport.disconnect()
            return
        if transport.is_disconnected:
            return
        # No await from here to `register`: concurrent opens cannot overshoot a cap.
        refused = hub.admission(self.principal)
        if refused is not None:
            transport.send_close(WSCloseCode(refused[0]), refused[1][:120].encode())
            transport.disconnect()
            return
        self.client = PicowsClient(transport, self)
        hub.register(self.client)
        for raw in self.pending:
            hub.on_message(self.client, raw)
        self.pending.clear()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return
        raw = frame.get_payload_as_bytes()
        if self.client is None:
            if len(self.pending) < 16:
                self.pending.append(raw)
            return
        self.server.hub.on_message(self.client, raw)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.client is not None:
            self.server.hub.unregister(self.client)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.client is not None:
            self.client.room.set()


@dataclass(eq=False)
class FastStreamServer:
    hub: Hub
    verifier: JwtAuthenticator
    tickets: TicketStore
    settings: Settings
    allowed: set[str] = field(init=False)
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    port: int = field(default=0, init=False)
    dirty: DirtyClients = field(default_factory=DirtyClients, init=False)

    def __post_init__(self) -> None:
        self.allowed = self.settings.allowed_origins()

    def _factory(self, request: WSUpgradeRequest) -> Any:
        path = request.path.decode() if isinstance(request.path, bytes) else str(request.path)
        if path.split("?", 1)[0] != PATH:
            return WSUpgradeResponse.create_error_response(404, b"not found")
        headers = request.headers
        if not origin_allowed(
            headers.get("origin"),
            headers.get("host"),
            headers.get("x-forwarded-host"),
            self.allowed,
        ):
            return WSUpgradeResponse.create_error_response(403, b"origin not allowed")
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        offered = [p for p in offered if p]
        extra = {"Sec-WebSocket-Protocol": PROTOCOL} if PROTOCOL in offered else None
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(extra_headers=extra),
            StreamListener(self, offered),
        )

    async def start(self) -> str:
        self._server = await ws_create_server(
            self._factory,
            self.settings.http_host,
            self.settings.stream_port,
            enable_auto_ping=True,
            auto_ping_idle_timeout=self.settings.stream_ping_interval_s,
            auto_ping_reply_timeout=self.settings.stream_ping_timeout_s,
            max_frame_size=64 * 1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.settings.http_host}:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
