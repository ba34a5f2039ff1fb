"""The Gateway v10 websocket endpoint: framing, encoding, compression and opcode routing.

Session rules live in `sessions.GatewayHub`; this module only speaks the wire protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import WSMsgType, web

from .compress import COMPRESSIONS, make_encoder
from .sessions import (
    HEARTBEAT,
    IDENTIFY,
    PRESENCE,
    REQUEST_MEMBERS,
    RESUME,
    VOICE_STATE,
    Connection,
    GatewayHub,
)

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = frozenset({"9", "10"})
# Discord rejects gateway payloads above 4 KiB; discord.py never sends more than that.
MAX_PAYLOAD = 4096
HUB_KEY: web.AppKey[GatewayHub] = web.AppKey("gateway_hub", GatewayHub)


async def gateway_handler(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    query = request.query
    # No permessage-deflate: Discord compresses at the payload level (compress=...).
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_PAYLOAD * 16, autoping=True)
    await ws.prepare(request)
    compress = query.get("compress")
    conn = Connection(ws, make_encoder(compress if compress in COMPRESSIONS else None))
    hub.connections.add(conn)
    hub.stats.incr("connections")
    client_code: int | None = None
    try:
        if query.get("v", "10") not in SUPPORTED_VERSIONS:
            conn.close(4012, "Invalid API version.")
        elif query.get("encoding", "json") != "json":
            conn.close(4002, "Only encoding=json is supported by the sandbox.")
        elif compress is not None and compress not in COMPRESSIONS:
            conn.close(4002, "Unknown compression.")
        else:
            hub.hello(conn)
        client_code = await _read_loop(hub, conn)
    finally:
        hub.connection_lost(conn, client_code)
        if ws.closed and not conn.closing:
            await conn.stop()  # the client closed first: nothing left to send
        else:
            conn.close(1000)  # no-op if a close is already queued
            # Let queued frames and the close frame go out, then stop the writer.
            try:
                await asyncio.wait_for(asyncio.shield(conn.writer), 2.0)
            except (TimeoutError, asyncio.CancelledError):
                await conn.stop()
    return ws


async def _read_loop(hub: GatewayHub, conn: Connection) -> int | None:
    """Read until the socket closes; returns the client's close code if it closed first."""
    ws = conn.ws
    while True:
        # Discord drops connections that stop heartbeating; allow 1.5 intervals plus slack.
        timeout = hub.tunables.heartbeat_interval_ms / 1000 * 1.5 + 1.0
        try:
            msg = await ws.receive(timeout=timeout)
        except TimeoutError:
            if conn.closing:
                return None  # our close went unanswered too: give the socket up
            conn.close(4009, "Session timed out.")
            continue
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            if conn.closing:
                continue
            _handle(hub, conn, msg.data)
        elif msg.type == WSMsgType.CLOSE:
            return int(msg.data) if msg.data is not None else None
        elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return ws.close_code if conn.server_close_code is None else None


def _handle(hub: GatewayHub, conn: Connection, raw: str | bytes) -> None:
    if len(raw) > MAX_PAYLOAD:
        conn.close(4002, "Payload too large.")
        return
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        conn.close(4002, "Error while decoding payload.")
        return
    if not isinstance(payload, dict) or not isinstance(payload.get("op"), int):
        conn.close(4002, "Error while decoding payload.")
        return
    op = payload["op"]
    data = payload.get("d")
    if op == HEARTBEAT:
        hub.heartbeat(conn, data)
        return
    limit = hub.tunables.gateway_send_limit
    if not conn.count_command(limit.limit, limit.window_s):
        hub.stats.incr("gateway_rate_limited")
        conn.close(4008, "Rate limited.")
        return
    if op == IDENTIFY:
        hub.identify(conn, data)
    elif op == RESUME:
        hub.resume(conn, data)
    elif conn.session is None:
        conn.close(4003, "Not authenticated.")
    elif op == REQUEST_MEMBERS:
        hub.request_members(conn, data)
    elif op in (PRESENCE, VOICE_STATE):
        return  # accepted and ignored: the sandbox has no presence or voice
    else:
        conn.close(4001, "Unknown opcode.")
