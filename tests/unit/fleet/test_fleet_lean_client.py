"""The lean discord.py client parts of a unit: heartbeat on the event loop (no thread per
connection), parsers looked up per event, large buffers kept out of the heap."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import discord
import pytest
import zstandard
from discord.state import ConnectionState

from bot_service.fleet.discordpy import (
    FleetWebSocket,
    LazyParsers,
    TaskKeepAlive,
)


class FakeSocket:
    """The part of aiohttp's websocket that DiscordWebSocket writes to."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.close_code: int | None = None
        self.fail = False

    async def send_str(self, data: str) -> None:
        if self.fail:
            raise ConnectionResetError("gone")
        self.sent.append(json.loads(data))

    async def close(self, *, code: int = 1000) -> bool:
        self.closed, self.close_code = True, code
        return True


def _ws(socket: FakeSocket, heartbeat_timeout: float = 60.0) -> FleetWebSocket:
    ws = FleetWebSocket(socket, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    ws.shard_id = 0
    ws.sequence = 7
    ws._max_heartbeat_timeout = heartbeat_timeout
    return ws


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_hello_starts_a_heartbeat_task_not_a_thread() -> None:
    socket = FakeSocket()
    ws = _ws(socket)
    threads = threading.active_count()
    await ws.received_message(json.dumps({"op": 10, "d": {"heartbeat_interval": 20}}))
    keep_alive = ws._keep_alive
    assert isinstance(keep_alive, TaskKeepAlive)
    assert threading.active_count() == threads
    assert socket.sent[0] == {"op": 1, "d": 7}  # one heartbeat at once, as discord.py does
    await _until(lambda: len(socket.sent) >= 4)
    assert all(p == {"op": 1, "d": 7} for p in socket.sent)
    # HEARTBEAT_ACK goes through discord.py and sets the latency.
    await ws.received_message(json.dumps({"op": 11}))
    assert 0 <= ws.latency < 1
    # Later messages are discord.py's: a heartbeat request is answered with the sequence.
    ws.sequence = 9
    sent = len(socket.sent)
    await ws.received_message(json.dumps({"op": 1, "d": None}))
    assert {"op": 1, "d": 9} in socket.sent[sent:]
    await ws.close(code=1000)
    assert ws._keep_alive is None
    assert socket.close_code == 1000
    # Stopped: the heartbeat task has ended, so nothing more can be sent.
    task = keep_alive._task
    assert task is not None
    await _until(task.done)


async def test_silent_gateway_is_closed_resumable() -> None:
    socket = FakeSocket()
    ws = _ws(socket, heartbeat_timeout=0.05)
    await ws.received_message(json.dumps({"op": 10, "d": {"heartbeat_interval": 20}}))
    await _until(lambda: socket.closed)
    assert socket.close_code == 4000
    assert ws._keep_alive is None


async def test_heartbeat_stops_when_the_socket_fails() -> None:
    socket = FakeSocket()
    ws = _ws(socket)
    await ws.received_message(json.dumps({"op": 10, "d": {"heartbeat_interval": 20}}))
    keep_alive = ws._keep_alive
    assert isinstance(keep_alive, TaskKeepAlive)
    socket.fail = True
    task = keep_alive._task
    assert task is not None
    await _until(task.done)
    assert not task.cancelled()
    assert task.exception() is None


async def test_compressed_hello_is_decompressed_once() -> None:
    zstd = zstandard
    socket = FakeSocket()
    ws = _ws(socket)
    compressor = zstd.ZstdCompressor().compressobj()
    hello = json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}).encode()
    frame = compressor.compress(hello) + compressor.flush(zstd.COMPRESSOBJ_FLUSH_BLOCK)
    await ws.received_message(frame)
    assert isinstance(ws._keep_alive, TaskKeepAlive)
    assert ws._keep_alive.interval == 41.25
    ready = json.dumps({"op": 11}).encode()
    await ws.received_message(
        compressor.compress(ready) + compressor.flush(zstd.COMPRESSOBJ_FLUSH_BLOCK)
    )
    assert ws.latency != float("inf")
    ws._keep_alive.stop()


def _state() -> ConnectionState[Any]:
    return ConnectionState(
        dispatch=lambda *a: None,
        handlers={},
        hooks={},
        http=None,  # type: ignore[arg-type]
        intents=discord.Intents.none(),
        member_cache_flags=discord.MemberCacheFlags.none(),
        max_messages=None,
        chunk_guilds_at_startup=False,
    )


def test_lazy_parsers_answer_as_discord_py_parsers_do() -> None:
    state = _state()
    eager = state.parsers
    lazy = LazyParsers(state)
    assert len(eager) > 50
    for event, func in eager.items():
        assert lazy[event] == func
    for unknown in ("NOT_AN_EVENT", "guild_create", "__CLASS__"):
        try:
            lazy[unknown]
        except KeyError:
            pass
        else:
            raise AssertionError(f"{unknown} resolved")
    assert len(lazy) == 0  # nothing is kept per client


_PROBE = """
import ctypes, sys
from bot_service.fleet.discordpy import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(n, ctypes.c_size_t) for n in names.split()]

libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):
    print("skip")
    sys.exit()
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
pinned = pin_mmap_threshold(int(sys.argv[1]))
size = 256 * 1024  # uvloop's SSL read buffer per TLS connection
# The first round is served by mmap; freeing it raises glibc's dynamic threshold.
for block in [libc.malloc(size) for _ in range(64)]:
    libc.free(block)
before = libc.mallinfo2().hblks
blocks = [libc.malloc(size) for _ in range(64)]
print(pinned, libc.mallinfo2().hblks - before)
"""


def _probe(kib: int) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(kib)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_pinned_mmap_threshold_keeps_ssl_sized_buffers_out_of_the_heap() -> None:
    if _probe(0) == "skip":
        pytest.skip("not glibc")
    pinned, mmaps = _probe(0).split()
    assert pinned == "False"
    assert int(mmaps) < 16  # glibc's default: the second round comes from the heap
    pinned, mmaps = _probe(128).split()
    assert pinned == "True"
    assert int(mmaps) > 48  # pinned: each buffer its own mmap again


def test_installed_discord_py_has_every_internal_the_lean_client_uses() -> None:
    from bot_service.fleet import discordpy

    assert discordpy.missing_internals() == []


def test_without_the_internals_discord_py_runs_its_own_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discord.gateway import DiscordWebSocket

    from bot_service.fleet import discordpy

    monkeypatch.setattr(discordpy, "_missing", ["DiscordWebSocket._keep_alive"])
    assert discordpy.websocket_class() is DiscordWebSocket
    client = discordpy.LeanClient(intents=discord.Intents.none())
    assert type(client._connection.parsers) is dict
    monkeypatch.setattr(discordpy, "_missing", [])
    assert discordpy.websocket_class() is FleetWebSocket
    client = discordpy.LeanClient(intents=discord.Intents.none())
    assert isinstance(client._connection.parsers, LazyParsers)


def test_gateway_url_follows_the_discord_base_url() -> None:
    from bot_service.fleet.discordpy import gateway_url

    assert str(gateway_url("http://127.0.0.1:9000/")) == "ws://127.0.0.1:9000/gateway"
    assert str(gateway_url("https://discord.com")) == "wss://discord.com/gateway"
