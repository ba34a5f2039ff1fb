"""Connecting to NATS: retry until the server answers, then reconnect forever."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoServersError

log = logging.getLogger(__name__)


async def connect(
    url: str,
    *,
    name: str,
    user: str | None = None,
    password: str | None = None,
    deadline_s: float = 60.0,
) -> NATS:
    """Connect, retrying with backoff until `deadline_s`; later drops reconnect forever."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", type(exc).__name__)

    async def on_disconnected() -> None:
        log.warning("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    give_up = time.monotonic() + deadline_s
    delay = 0.05
    while True:
        try:
            return await nats.connect(
                servers=[url],
                name=name,
                user=user,
                password=password,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                # Fail pending requests quickly during an outage instead of buffering forever.
                pending_size=8 * 1024 * 1024,
            )
        except (NoServersError, OSError, TimeoutError) as exc:
            if time.monotonic() >= give_up:
                raise ConnectionError(f"NATS at {_safe(url)} did not answer: {exc}") from exc
            log.info("waiting for NATS at %s", _safe(url))
            await asyncio.sleep(delay + random.random() * delay)  # noqa: S311 - jitter
            delay = min(delay * 2, 2.0)


def _safe(url: str) -> str:
    """The URL without credentials, for messages."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url
