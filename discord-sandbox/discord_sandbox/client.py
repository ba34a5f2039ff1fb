"""A minimal Gateway v10 client: enough protocol for tests and the session benchmark to drive
the sandbox frame by frame (bots themselves use a real library such as discord.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import zlib
from typing import Any

import aiohttp
import zstandard

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class GatewayClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"gateway closed with {code}")
        self.code = code


class GatewayClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        compress: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._http = session
        query = "v=10&encoding=json" + (f"&compress={compress}" if compress else "")
        self.url = f"{url}{'&' if '?' in url else '?'}{query}"
        self.compress = compress
        self.ssl_context = ssl_context
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.seq: int | None = None
        self.session_id: str | None = None
        self.heartbeat_interval: float = 41.25
        self.close_code: int | None = None
        self._zlib = zlib.decompressobj()
        self._zlib_buffer = bytearray()
        self._zstd = zstandard.ZstdDecompressor().decompressobj()
        self._heartbeat: asyncio.Task[None] | None = None

    async def connect(self, *, heartbeat: bool = True) -> dict[str, Any]:
        """Open the socket and return HELLO's `d`; heartbeats at HELLO's interval unless
        told not to (then the server closes the connection as a zombie)."""
        self.ws = await self._http.ws_connect(
            self.url, autoclose=False, max_msg_size=0, ssl=self.ssl_context or True
        )
        hello = await self.receive()
        if hello.get("op") != 10:
            raise RuntimeError(f"expected HELLO, got {hello}")
        self.heartbeat_interval = hello["d"]["heartbeat_interval"] / 1000
        if heartbeat:
            self.start_heartbeat()
        hello_data: dict[str, Any] = hello["d"]
        return hello_data

    async def send(self, op: int, data: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps({"op": op, "d": data}))

    async def identify(
        self, token: str, intents: int = 513, shard: list[int] | None = None
    ) -> None:
        data: dict[str, Any] = {
            "token": token,
            "intents": intents,
            "properties": {"os": "linux", "browser": "sandbox-client", "device": "sandbox-client"},
        }
        if shard is not None:
            data["shard"] = shard
        await self.send(2, data)

    async def resume(self, token: str, session_id: str, seq: int | None) -> None:
        await self.send(6, {"token": token, "session_id": session_id, "seq": seq})

    def start_heartbeat(self) -> None:
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            while self.ws is not None and not self.ws.closed:
                await self.send(1, self.seq)
                await asyncio.sleep(self.heartbeat_interval)

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next payload; raises GatewayClosed when the server closes."""
        assert self.ws is not None
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type == aiohttp.WSMsgType.TEXT:
                payload: dict[str, Any] = json.loads(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                text = self._decompress(msg.data)
                if text is None:
                    continue
                payload = json.loads(text)
            else:
                self.close_code = (
                    self.ws.close_code if msg.type != aiohttp.WSMsgType.CLOSE else int(msg.data)
                )
                await self._stop_heartbeat()
                with contextlib.suppress(Exception):
                    await self.ws.close()
                raise GatewayClosed(self.close_code)
            if payload.get("s") is not None:
                self.seq = payload["s"]
            if payload.get("t") == "READY":
                self.session_id = payload["d"]["session_id"]
            return payload

    def _decompress(self, data: bytes) -> str | None:
        if self.compress == "zstd-stream":
            chunk: bytes = self._zstd.decompress(data)
            return chunk.decode()
        self._zlib_buffer.extend(data)
        if not data.endswith(ZLIB_SUFFIX):
            return None
        text = self._zlib.decompress(self._zlib_buffer).decode()
        self._zlib_buffer.clear()
        return text

    async def wait_for(
        self, event: str | None = None, op: int | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Skip payloads until one with the given dispatch name (or opcode) arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            payload = await self.receive(timeout=max(deadline - loop.time(), 0.001))
            if (event is not None and payload.get("t") == event) or (
                op is not None and payload.get("op") == op
            ):
                return payload

    async def close(self, code: int = 1000) -> None:
        await self._stop_heartbeat()
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code)

    async def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
