"""Counters the control API reports (`GET /_sandbox/stats`); `reset()` clears them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

# The counters the stats report, by the name they are reported under.
REPORTED_COUNTERS = {
    "identifies_total": "identifies",
    "resumes_total": "resumes",
    "identify_violations": "identify_violations",
    "identify_refused": "identify_refused",
    "rate_limits_sent": "rate_limits_sent",
    "gateway_rate_limits_sent": "gateway_rate_limited",
    "connections_total": "connections",
    "dispatches_sent": "dispatches",
    "invalid_sessions_sent": "invalid_sessions",
    "heartbeats_received": "heartbeats",
    "heartbeat_acks_dropped": "heartbeat_acks_dropped",
    "rest_requests": "rest_requests",
    "rest_faults_injected": "rest_faults",
    "interactions_created": "interactions",
    "messages_created": "messages",
}


@dataclass(slots=True)
class AppStats:
    identifies: int = 0
    resumes: int = 0
    identify_violations: int = 0
    identify_refused: int = 0
    rate_limited: int = 0
    max_concurrent_sessions_per_shard: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifies": self.identifies,
            "resumes": self.resumes,
            "identify_violations": self.identify_violations,
            "identify_refused": self.identify_refused,
            "rate_limited": self.rate_limited,
            "max_concurrent_sessions_per_shard": {
                str(k): v for k, v in sorted(self.max_concurrent_sessions_per_shard.items())
            },
        }


class Stats:
    def __init__(self) -> None:
        self.per_app: defaultdict[int, AppStats] = defaultdict(AppStats)
        self.counters: defaultdict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.per_app.clear()
        self.counters.clear()

    def incr(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def app(self, app_id: int) -> AppStats:
        return self.per_app[app_id]

    def observe_concurrency(self, app_id: int, shard_id: int, live: int) -> None:
        seen = self.per_app[app_id].max_concurrent_sessions_per_shard
        if live > seen.get(shard_id, 0):
            seen[shard_id] = live

    def snapshot(self, *, live_sessions: int, connections: int) -> dict[str, Any]:
        per_app = {str(k): v.to_dict() for k, v in self.per_app.items()}
        max_unit = max(
            (
                n
                for s in self.per_app.values()
                for n in s.max_concurrent_sessions_per_shard.values()
            ),
            default=0,
        )
        return {
            "sessions_live": live_sessions,
            "connections_open": connections,
            "max_concurrent_sessions_per_unit": max_unit,
            **{name: self.counters[counter] for name, counter in REPORTED_COUNTERS.items()},
            "per_application": per_app,
        }
