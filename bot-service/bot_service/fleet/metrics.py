"""The fleet's Prometheus metrics (served by the kernel's `/metrics` from the default registry).

Cardinality: a replica may hold 1,000 bots, so no metric is labelled by bot or shard. Labels
are closed sets: `state` (BotState), `reason` (the diagnosis codes of `diagnosis.py` plus the
fleet's own: handoff, fenced, replica_lost…), `kind` (RECONNECT_KINDS), `scope`
(RATE_LIMIT_SCOPES), `cause` (LEASE_LOST_CAUSES).

Which bot is affected is per-bot information for its owner and the operator, and travels
where per-bot data belongs: its status (`GET /v1/bots/{id}/status`: state/reason, e.g.
`reconnecting/rate_limited` with `retry_at`) and its log events (`evt.log.<owner>.<bot>.warning`,
source `discord.ratelimit`, at most one per shard per RATE_LIMIT_LOG_EVERY_S, naming the scope,
the route template, the retry time and how many 429s were seen since the previous one).

Unit counts are not kept up to date with inc/dec: a collector counts the live units of the
fleet(s) of this process at scrape time, so the gauges cannot drift from the truth.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Protocol

import aiohttp
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RECONNECT_KINDS = ("resume", "reidentify", "handoff_resume", "restart")
RATE_LIMIT_SCOPES = ("global", "bucket", "shared", "gateway")
LEASE_LOST_CAUSES = ("taken", "renewal_failed")
STATES = ("starting", "online", "reconnecting", "stopping", "error")
RATE_LIMIT_LOG_EVERY_S = 60.0

HEARTBEAT_SECONDS = Histogram(
    "botcenter_discord_heartbeat_seconds",
    "Gateway heartbeat round trip (HEARTBEAT to HEARTBEAT_ACK), one sample per ACK.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONNECTS = Counter(
    "botcenter_discord_reconnects_total",
    "Gateway reconnections started by a unit: resume (same session, after a drop or "
    "Discord's RECONNECT), reidentify (session invalid: new IDENTIFY), handoff_resume "
    "(RESUME of a session another replica handed off), restart (new client after an error).",
    ["kind"],
)
IDENTIFY_WAIT_SECONDS = Histogram(
    "botcenter_discord_identify_wait_seconds",
    "Time a unit waited for its IDENTIFY slot (the bot's max_concurrency bucket, all replicas).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
IDENTIFIES = Counter(
    "botcenter_bot_identify_total",
    "IDENTIFYs sent (new gateway sessions; Discord allows about 1,000 a day per bot).",
)
RATE_LIMITED = Counter(
    "botcenter_discord_rate_limited_total",
    "Discord 429s seen by the fleet (REST: global, bucket = per-bot route bucket, shared = "
    "per-resource; gateway = close 4008). The bot is in its status and log events.",
    ["scope"],
)
LEASE_LOST = Counter(
    "botcenter_bot_lease_lost_total",
    "Units disconnected by fencing: taken (the lease's revision moved: another replica has "
    "it) or renewal_failed (NATS did not answer for half the lease TTL: self-fencing).",
    ["cause"],
)

for _kind in RECONNECT_KINDS:
    RECONNECTS.labels(_kind)
for _scope in RATE_LIMIT_SCOPES:
    RATE_LIMITED.labels(_scope)
for _cause in LEASE_LOST_CAUSES:
    LEASE_LOST.labels(_cause)


class UnitCensus(Protocol):
    """What the collector asks a fleet at scrape time."""

    def census(self) -> Iterable[tuple[str, str | None]]:
        """(state, reason) of every unit this replica owns (holds the lease of)."""
        ...

    def shards_owned(self) -> int: ...


_FLEETS: weakref.WeakSet[UnitCensus] = weakref.WeakSet()


def track(fleet: UnitCensus) -> None:
    _FLEETS.add(fleet)


def untrack(fleet: UnitCensus) -> None:
    _FLEETS.discard(fleet)


class FleetCollector(Collector):
    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "botcenter_bot_units",
                "Units (bot shards) this replica owns, by state and reason (reason is empty "
                "when there is none).",
                labels=["state", "reason"],
            ),
            GaugeMetricFamily(
                "botcenter_bot_shards_owned", "Units (bot shards) whose lease this replica holds."
            ),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        units, owned = self._families()
        tally: Tally[tuple[str, str]] = Tally({(state, ""): 0 for state in STATES})
        total = 0
        for fleet in list(_FLEETS):
            for attempt in range(3):  # a scrape from another thread may race a change
                try:
                    seen = [(state, reason or "") for state, reason in fleet.census()]
                    count = fleet.shards_owned()
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
            tally.update(seen)
            total += count
        for (state, reason), value in sorted(tally.items()):
            units.add_metric([state, reason], value)
        owned.add_metric([], total)
        yield units
        yield owned


REGISTRY.register(FleetCollector())


# ---------------------------------------------------------------------- Discord 429s
_ID = re.compile(r"^[0-9]+$")
_WORD = re.compile(r"^[a-z@_-]{1,32}$")


def route_template(path: str) -> str:
    """`/api/v10/channels/123/messages` → `/channels/:id/messages`; interaction and webhook
    tokens (and anything else that is not a resource name) never leave this function."""
    parts = path.split("/")
    with contextlib.suppress(ValueError):
        parts = parts[parts.index("api") + 2 :]
    out = []
    for part in parts:
        if not part:
            continue
        out.append(":id" if _ID.match(part) else part if _WORD.match(part) else ":token")
    return "/" + "/".join(out)


def rate_limit_scope(headers: object) -> str:
    """Discord's `X-RateLimit-Scope` (user/global/shared) as this metric's scope."""
    get = getattr(headers, "get", None)
    if get is None:
        return "bucket"
    scope = str(get("X-RateLimit-Scope") or "").lower()
    if scope == "global" or str(get("X-RateLimit-Global") or "").lower() == "true":
        return "global"
    if scope == "shared":
        return "shared"
    return "bucket"


def retry_after_of(headers: object) -> float | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    try:
        return float(get("Retry-After"))
    except (TypeError, ValueError):
        return None


RateLimitHook = Callable[[str, str, str, float | None], Awaitable[None] | None]


def rate_limit_trace(on_429: RateLimitHook | None = None) -> aiohttp.TraceConfig:
    """An aiohttp trace for a Discord HTTP session (discord.py's `http_trace=`): counts every
    429 — also those discord.py waits out and retries by itself — and tells `on_429`
    (scope, method, route template, retry-after seconds)."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.response.status != 429:
            return
        headers = params.response.headers
        scope = rate_limit_scope(headers)
        RATE_LIMITED.labels(scope).inc()
        if on_429 is not None:
            result = on_429(
                scope, params.method, route_template(params.url.path), retry_after_of(headers)
            )
            if result is not None:
                await result

    trace.on_request_end.append(on_request_end)
    trace.freeze()
    return trace
