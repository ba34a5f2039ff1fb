"""Connecting to NATS: retry until the server answers, then reconnect forever."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoServersError

log = logging.getLogger(__name__)

ReconnectHook = Callable[[], Awaitable[None]]
# Per connection: what to run after each reconnect (core subscriptions missed every message
# sent while disconnected, so caches fed by them must start over).
_RECONNECT_HOOKS: weakref.WeakKeyDictionary[NATS, list[ReconnectHook]] = (
    weakref.WeakKeyDictionary()
)


def on_reconnected(nc: NATS, hook: ReconnectHook) -> None:
    """Run `hook` after every reconnect of `nc` (made by `connect`); an error it raises is
    logged, never stops the others."""
    _RECONNECT_HOOKS.setdefault(nc, []).append(hook)


async def run_reconnect_hooks(nc: NATS) -> None:
    for hook in list(_RECONNECT_HOOKS.get(nc, ())):
        try:
            await hook()
        except Exception:
            log.exception("a reconnect hook failed")


async def connect(
    url: str,
    *,
    name: str,
    user: str | None = None,
    password: str | None = None,
    deadline_s: float = 60.0,
) -> NATS:
    """Connect, retrying until `deadline_s`; once connected, drops reconnect forever.

    nats-py keeps retrying the first connect itself when reconnects are allowed, so the
    deadline is enforced around that single call.
    """
    connected = False
    client: NATS | None = None

    async def on_error(exc: Exception) -> None:
        # Before the first connection every refused attempt lands here: keep it quiet.
        if connected:
            log.warning("nats error: %s", type(exc).__name__)

    async def on_disconnected() -> None:
        if connected:
            log.warning("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected")
        if client is not None:
            await run_reconnect_hooks(client)

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                servers=[url],
                name=name,
                user=user,
                password=password,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                connect_timeout=2,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                # Bounded buffer while disconnected: publishes fail instead of piling up.
                pending_size=8 * 1024 * 1024,
            ),
            timeout=deadline_s,
        )
    except (TimeoutError, NoServersError, OSError) as exc:
        raise ConnectionError(
            f"NATS at {_safe(url)} did not answer within {deadline_s:g}s"
        ) from exc
    connected = True
    client = nc
    return nc


def _safe(url: str) -> str:
    """The URL without credentials, for messages."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url
