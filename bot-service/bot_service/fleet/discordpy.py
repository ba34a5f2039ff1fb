"""Every use of discord.py's private internals and module globals, in one place.

A replica holds up to thousands of idle clients, so three things discord.py does per
client are done once or more cheaply here (behaviour on the wire is unchanged):

- `TaskKeepAlive`: the gateway heartbeat as an asyncio task instead of discord.py's
  `KeepAliveHandler` thread (a thread per connection costs its stack and thread state,
  ~17 KiB RSS, and spreads allocations over glibc's per-thread arenas).
- `LazyParsers`: discord.py's `ConnectionState.parsers` binds all ~75 `parse_*` methods
  into a dict per client (~11 KiB); this mapping looks a parser up when an event arrives.

And `pin_mmap_threshold` keeps glibc from recycling dirty heap pages for the 256 KiB SSL
read buffer uvloop allocates per TLS connection (~15 KiB RSS per idle bot).

None of these internals is discord.py's promise (`Client._get_state`,
`ConnectionState.parsers`, `DiscordWebSocket._keep_alive`, `._decompressor`,
`._max_heartbeat_timeout`, `utils._from_json`). `missing_internals` checks the installed
discord.py once; when one is absent the fleet runs discord.py's own code instead (its
`DiscordWebSocket` with the heartbeat thread, the eager parser dict) and logs so: same
behaviour, more memory per bot (bench/bot_memory.py measures it).

Discord's URLs: the gateway URL is given per connection (`open_gateway`), never through
the process-wide `DiscordWebSocket.DEFAULT_GATEWAY`. REST and CDN have no per-client
setting in discord.py: interaction replies go through discord.py's process-wide webhook
adapter, which builds its URLs from `Route.BASE` (an `HTTPClient` subclass would not
reach it), and asset URLs come from `Asset.BASE` in classmethods with no client at hand.
So `point_rest_and_cdn` still sets those two class attributes, for the whole process.
This is the only module of the product allowed to touch discord.py's private members
(ruff SLF001).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
import discord.asset
import discord.http
import yarl
from discord import utils
from discord.gateway import DiscordWebSocket
from discord.state import ConnectionState

if TYPE_CHECKING:
    from typing import Self

log = logging.getLogger(__name__)


class TaskKeepAlive:
    """discord.py's `KeepAliveHandler` (same attributes and timing) run as an asyncio task:
    a heartbeat every `interval`; when nothing was received for `heartbeat_timeout` the
    socket is closed with 4000 (resumable) and `poll_event` reconnects."""

    __slots__ = (
        "_last_ack",
        "_last_recv",
        "_last_send",
        "_sleeping",
        "_stopped",
        "_task",
        "heartbeat_timeout",
        "interval",
        "latency",
        "shard_id",
        "ws",
    )

    def __init__(self, *, ws: DiscordWebSocket, interval: float, shard_id: int | None) -> None:
        self.ws = ws
        self.interval = interval
        self.shard_id = shard_id
        self.heartbeat_timeout: float = ws._max_heartbeat_timeout
        self.latency = float("inf")
        now = time.perf_counter()
        self._last_ack = now
        self._last_send = now
        self._last_recv = now
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._sleeping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"keep-alive shard {self.shard_id}"
        )

    async def _run(self) -> None:
        ws = self.ws
        while not self._stopped:
            self._sleeping = True
            try:
                await asyncio.sleep(self.interval)
            finally:
                self._sleeping = False
            if self._stopped:
                return
            if self._last_recv + self.heartbeat_timeout < time.perf_counter():
                log.warning(
                    "shard %s stopped responding to the gateway; closing to reconnect",
                    self.shard_id,
                )
                self._stopped = True
                try:
                    await ws.close(4000)
                except Exception:
                    log.warning("closing a silent gateway socket failed", exc_info=True)
                return
            try:
                await ws.send_heartbeat(self.get_payload())
            except Exception:
                log.debug("heartbeat of shard %s not sent", self.shard_id, exc_info=True)
                self._stopped = True
                return
            self._last_send = time.perf_counter()

    def get_payload(self) -> dict[str, Any]:
        return {"op": self.ws.HEARTBEAT, "d": self.ws.sequence}

    def stop(self) -> None:
        """Stop beating. A heartbeat being written completes (as with discord.py's thread);
        only the sleep between two is cancelled."""
        self._stopped = True
        task = self._task
        if task is not None and self._sleeping and task is not asyncio.current_task():
            task.cancel()

    def tick(self) -> None:
        self._last_recv = time.perf_counter()

    def beat(self) -> dict[str, Any]:
        self._last_send = time.perf_counter()
        return self.get_payload()

    def ack(self) -> None:
        ack_time = time.perf_counter()
        self._last_ack = ack_time
        self.latency = ack_time - self._last_send
        if self.latency > 10:
            log.warning("shard %s heartbeat is %.1fs behind", self.shard_id, self.latency)


class FleetWebSocket(DiscordWebSocket):
    """discord.py's gateway socket with its heartbeat on the event loop (`TaskKeepAlive`).

    Only HELLO is handled here (it is the first message of every connection); everything
    else goes to discord.py unchanged."""

    async def received_message(self, msg: Any, /) -> None:
        if self._keep_alive is not None:
            await super().received_message(msg)
            return
        if type(msg) is bytes:
            msg = self._decompressor.decompress(msg)
            if msg is None:  # a partial frame
                return
        payload = _from_json(msg)
        if not isinstance(payload, dict) or payload.get("op") != self.HELLO:
            await super().received_message(msg)  # already decompressed: parsed as text
            return
        self.log_receive(msg)
        keep_alive = TaskKeepAlive(
            ws=self, interval=payload["d"]["heartbeat_interval"] / 1000.0, shard_id=self.shard_id
        )
        self._keep_alive = keep_alive  # type: ignore[assignment]
        await self.send_as_json(keep_alive.get_payload())  # a heartbeat at once, as discord.py
        keep_alive.start()


# discord.py's JSON reader (orjson when installed); the standard library's when it is gone.
_from_json: Callable[[str | bytes], Any] = getattr(utils, "_from_json", json.loads)


class LazyParsers(dict[str, Callable[[Any], None]]):
    """`ConnectionState.parsers` without a bound method per event type: `parsers["X_Y"]`
    is `state.parse_x_y` (KeyError when there is none, as for an unknown event)."""

    __slots__ = ("_state",)

    def __init__(self, state: ConnectionState[Any]) -> None:
        super().__init__()
        self._state = state

    def __missing__(self, event: str) -> Callable[[Any], None]:
        func: Callable[[Any], None] | None = getattr(self._state, f"parse_{event.lower()}", None)
        if func is None or not event.isupper():
            raise KeyError(event)
        return func


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def pin_mmap_threshold(kib: int) -> bool:
    """Serve every allocation of at least `kib` KiB by its own mmap, for good.

    uvloop allocates a 256 KiB SSL read buffer per TLS connection and touches only the
    pages a read fills (a few for an idle gateway socket). glibc serves such a block from
    mmap at first, but after the first large free it raises its mmap threshold and serves
    the next ones from the heap, over pages earlier allocations dirtied, which stay
    resident. Setting the threshold explicitly turns that adjustment off. False when not
    set (`kib` 0, or a C library without glibc's mallopt).
    """
    if kib <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, kib * 1024))
    log.info("malloc mmap threshold %s at %d KiB", "pinned" if done else "not pinned", kib)
    return done


# ---------------------------------------------------------------- what this discord.py has


def _sets_attribute(func: Callable[..., Any] | None, name: str) -> bool:
    """Whether `func` assigns or reads attribute `name` (its code names it)."""
    code = getattr(func, "__code__", None)
    return code is not None and name in code.co_names


def missing_internals() -> list[str]:
    """The discord.py internals the lean client needs that the installed version lacks."""
    missing: list[str] = []
    init = DiscordWebSocket.__init__
    for attribute in ("_keep_alive", "_decompressor"):
        if not _sets_attribute(init, attribute):
            missing.append(f"DiscordWebSocket.{attribute}")
    if not _sets_attribute(
        getattr(DiscordWebSocket.from_client, "__func__", None), "_max_heartbeat_timeout"
    ):
        missing.append("DiscordWebSocket._max_heartbeat_timeout")
    if not callable(getattr(discord.Client, "_get_state", None)):
        missing.append("Client._get_state")
    if not _sets_attribute(ConnectionState.__init__, "parsers"):
        missing.append("ConnectionState.parsers")
    return missing


_missing: list[str] | None = None


def _lean() -> bool:
    global _missing
    if _missing is None:
        _missing = missing_internals()
        if _missing:
            log.warning(
                "discord.py lean client unavailable, discord.py's own code runs: "
                "this discord.py lacks %s",
                ", ".join(_missing),
            )
        else:
            log.info("discord.py lean client on (heartbeat task, lazy parsers)")
    return not _missing


# ---------------------------------------------------------------- the client


class LeanClient(discord.Client):
    """A `discord.Client` whose connection state looks parsers up per event."""

    def _get_state(self, **options: Any) -> ConnectionState[Self]:
        # discord.py builds its state in this hook (there is no public one).
        state = super()._get_state(**options)
        if _lean():
            state.parsers = LazyParsers(state)
        return state


def websocket_class() -> type[DiscordWebSocket]:
    return FleetWebSocket if _lean() else DiscordWebSocket


async def open_gateway(
    client: discord.Client, *, default_gateway: yarl.URL, **params: Any
) -> DiscordWebSocket:
    """Open a gateway socket for `client` (`params` as `DiscordWebSocket.from_client`); a
    missing `gateway` is this fleet's gateway, not discord.py's process-wide default."""
    params["gateway"] = params.get("gateway") or default_gateway
    ws = await websocket_class().from_client(client, **params)
    # An invalidated session resets `ws.gateway` to DEFAULT_GATEWAY: this instance's.
    ws.DEFAULT_GATEWAY = default_gateway
    return ws


def last_heartbeat_ack(ws: DiscordWebSocket) -> float | None:
    """When the socket last saw a HEARTBEAT_ACK (perf_counter), when its keep-alive says;
    discord.py has no public reading of it (only `latency`)."""
    keep_alive = getattr(ws, "_keep_alive", None)
    ack = getattr(keep_alive, "_last_ack", None)
    return ack if isinstance(ack, float) else None


# ---------------------------------------------------------------- URLs


def gateway_url(base_url: str) -> yarl.URL:
    """The gateway of the Discord at `base_url` (https://discord.com → wss://…/gateway)."""
    return yarl.URL(re.sub(r"^http", "ws", base_url.rstrip("/")) + "/gateway")


def point_rest_and_cdn(base_url: str) -> None:
    """discord.py's REST base and CDN, for the whole process (see the module comment for
    why these two cannot be set per client)."""
    base = base_url.rstrip("/")
    discord.http.Route.BASE = f"{base}/api/v10"
    discord.asset.Asset.BASE = base
