"""REST rate limits with Discord's headers and 429 bodies.

Fixed windows per (caller, bucket, major parameter) plus a per-bot global limit. Headers are
what discord.py's `Ratelimit.update()` reads; a 429 carries `Via` (without it discord.py takes
the 429 for a Cloudflare ban) and `{"retry_after", "global"}`.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from aiohttp import web

from .config import BucketLimit
from .jsonresp import json_response


@dataclass(slots=True)
class Window:
    reset_at: float  # monotonic
    count: int


@dataclass(slots=True, frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    bucket: str
    scope: str  # "user" | "global" | "shared"
    is_global: bool = False

    def headers(self) -> dict[str, str]:
        if self.is_global:
            return {}
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{time.time() + self.reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.reset_after:.3f}",
            "X-RateLimit-Bucket": self.bucket,
        }

    def too_many(self) -> web.Response:
        retry_after = round(max(self.reset_after, 0.001), 3)
        headers = self.headers()
        headers.update(
            {
                "Retry-After": str(max(1, math.ceil(retry_after))),
                "X-RateLimit-Scope": self.scope,
                "Via": "1.1 google",
            }
        )
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": self.is_global,
            "code": 0,
        }
        return json_response(body, status=429, headers=headers)


def bucket_hash(name: str) -> str:
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:32]


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[tuple[str, str, str], Window] = {}
        self._hits = 0

    def hit(
        self, caller: str, bucket: str, major: str, limit: BucketLimit, scope: str = "user"
    ) -> Decision:
        now = time.monotonic()
        key = (caller, bucket, major)
        window = self._windows.get(key)
        if window is None or now >= window.reset_at:
            window = Window(reset_at=now + limit.window_s, count=0)
            self._windows[key] = window
        allowed = window.count < limit.limit
        if allowed:
            window.count += 1
        self._maybe_prune(now)
        return Decision(
            allowed=allowed,
            limit=limit.limit,
            remaining=max(limit.limit - window.count, 0),
            reset_after=max(window.reset_at - now, 0.0),
            bucket=bucket_hash(bucket),
            scope=scope,
        )

    def hit_global(self, caller: str, limit: BucketLimit) -> Decision | None:
        """None when within the global limit, else the global 429 decision."""
        decision = self.hit(caller, "__global__", "", limit, scope="global")
        if decision.allowed:
            return None
        return Decision(
            allowed=False,
            limit=decision.limit,
            remaining=0,
            reset_after=decision.reset_after,
            bucket=decision.bucket,
            scope="global",
            is_global=True,
        )

    def clear(self) -> None:
        self._windows.clear()

    def _maybe_prune(self, now: float) -> None:
        self._hits += 1
        if self._hits % 2048:
            return
        for key in [k for k, w in self._windows.items() if now >= w.reset_at]:
            del self._windows[key]
