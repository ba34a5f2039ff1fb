"""The objects one sandbox process shares between its HTTP, Gateway and control surfaces."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .config import ServerConfig
from .interactions import InteractionStore
from .oauth_store import OAuthStore
from .ratelimit import RateLimiter
from .sessions import GatewayHub
from .state import SandboxState
from .stats import Stats


@dataclass(slots=True)
class Faults:
    rest_error_rate: float = 0.0
    rest_latency_ms: int = 0
    drop_heartbeat_acks: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rest_error_rate": self.rest_error_rate,
            "rest_latency_ms": self.rest_latency_ms,
            "drop_heartbeat_acks": self.drop_heartbeat_acks,
        }


class Signal:
    """Wakes every waiter on the next `notify()` (e.g. "a message was posted")."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass(slots=True)
class SandboxContext:
    config: ServerConfig
    state: SandboxState
    stats: Stats
    hub: GatewayHub
    limiter: RateLimiter
    interactions: InteractionStore
    oauth: OAuthStore
    faults: Faults = field(default_factory=Faults)
    base_url: str = ""
    messages_posted: Signal = field(default_factory=Signal)

    @property
    def gateway_url(self) -> str:
        base = self.base_url
        if base.startswith("https://"):
            base = "wss://" + base[len("https://") :]
        elif base.startswith("http://"):
            base = "ws://" + base[len("http://") :]
        return f"{base}/gateway"


CTX: web.AppKey[SandboxContext] = web.AppKey("sandbox_context", SandboxContext)


def ctx_of(request: web.Request) -> SandboxContext:
    return request.app[CTX]
