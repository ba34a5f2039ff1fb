"""Token-bucket rate limits: per client IP (every request, stricter on sign-in endpoints)
and per user (applied where the user is known, in `gateway.auth`).

Buckets live in memory per replica, bounded (least recently used keys are forgotten), so
a flood of distinct keys cannot grow memory. Refusals are `429` with `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import KW_ONLY, dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from proto.errors import ErrorCode
from services.errors import envelope_json
from services.sizes import human_duration


class RateLimiter:
    """Token buckets by key: `rate_per_s` tokens per second, up to `burst`."""

    def __init__(self, rate_per_s: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, cost: float = 1.0, now: float | None = None) -> float:
        """Spend `cost` tokens; returns 0.0 when allowed, else seconds until it would be."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (cost - tokens) / self.rate
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


def client_ip(scope: Scope, trusted_hops: int) -> str:
    """The client's address: the one the outermost of `trusted_hops` proxies saw.

    Each trusted proxy appends the address it saw to X-Forwarded-For (in one header, or a
    header line of its own — both are one list, in order), so the entry `trusted_hops` from
    the end is the last one a trusted proxy wrote; anything before it is the client's own
    say. With fewer entries than trusted hops (the request did not come through them), or
    with `trusted_hops` = 0, it is the peer of the connection.
    """
    if trusted_hops > 0:
        hops: list[str] = []
        for key, value in scope.get("headers", []):
            if key == b"x-forwarded-for":
                hops += [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


# Paths that are never limited (probes and metrics scrapes).
_EXEMPT = ("/healthz", "/readyz", "/metrics")


@dataclass(eq=False)
class IpRateLimitMiddleware:
    app: ASGIApp
    _: KW_ONLY
    general: RateLimiter
    login: RateLimiter
    trusted_hops: int = 0
    enabled: bool = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(_EXEMPT):
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope, self.trusted_hops)
        wait = self.general.take(ip)
        if not wait and is_login_path(path):
            wait = self.login.take(ip)
        if wait:
            await too_many(send, wait)
            return
        await self.app(scope, receive, send)


def is_login_path(path: str) -> bool:
    """Sign-in, callback, refresh and logout: where guessing would happen."""
    return path.startswith("/v1/auth/") and path != "/v1/auth/providers"


async def too_many(send: Send, wait_s: float) -> None:
    retry = retry_after_header(wait_s)
    body = envelope_json(
        ErrorCode.RATE_LIMITED,
        f"too many requests; try again in {human_duration(float(retry))}",
        {"retry_after": float(retry)},
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", retry.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
