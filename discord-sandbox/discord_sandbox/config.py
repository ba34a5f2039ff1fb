"""Settings of one sandbox process.

`ServerConfig` is fixed at start (where to listen, TLS, snapshot file). `Tunables` are the
knobs tests and benchmarks turn at run time through `PATCH /_sandbox/config`; their defaults
are Discord's own values so that a client tuned against the sandbox behaves the same against
discord.com.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class BucketLimit:
    """A fixed-window rate limit: `limit` requests per `window_s` seconds."""

    limit: int
    window_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "window_s": self.window_s}


@dataclass(slots=True)
class Tunables:
    # Discord sends 41.25 s; tests shorten it so heartbeat-driven behaviour is quick to observe.
    heartbeat_interval_ms: int = 41_250
    # One IDENTIFY per window per max_concurrency bucket (Discord: 5 s).
    identify_window_s: float = 5.0
    # "enforce": a too-early IDENTIFY is counted and answered with INVALID_SESSION(false),
    # as Discord does. "count": counted only (benchmarks that start sessions as fast as they can).
    identify_limit_mode: str = "enforce"
    # How long a disconnected session may still be resumed.
    resume_window_s: float = 180.0
    # Dispatches kept per session for RESUME replay.
    replay_buffer: int = 1000
    # Discord wants the first interaction callback within 3 s; later ones get 10062.
    interaction_callback_timeout_s: float = 3.0
    # Interaction tokens (follow-ups, edits) stay valid for 15 minutes.
    interaction_token_ttl_s: float = 900.0
    # Discord requires sharding from 2,500 guilds per shard on.
    max_guilds_per_shard: int = 2500
    # Recommended shards in GET /gateway/bot: one per 1,000 guilds.
    guilds_per_recommended_shard: int = 1000
    session_start_total: int = 1000
    session_start_reset_after_s: float = 86_400.0
    # REST rate limits (per bot, per route bucket and major parameter).
    global_limit: BucketLimit = field(default_factory=lambda: BucketLimit(50, 1.0))
    default_route_limit: BucketLimit = field(default_factory=lambda: BucketLimit(50, 1.0))
    message_create_limit: BucketLimit = field(default_factory=lambda: BucketLimit(5, 5.0))
    avatar_change_limit: BucketLimit = field(default_factory=lambda: BucketLimit(2, 600.0))
    command_write_limit: BucketLimit = field(default_factory=lambda: BucketLimit(25, 20.0))
    webhook_limit: BucketLimit = field(default_factory=lambda: BucketLimit(30, 5.0))
    # Gateway commands a client may send per connection (Discord: 120 per 60 s, then close
    # 4008). Heartbeats are not counted: the sandbox's heartbeat interval may be shortened.
    gateway_send_limit: BucketLimit = field(default_factory=lambda: BucketLimit(120, 60.0))
    oauth_code_ttl_s: float = 600.0
    oauth_access_token_ttl_s: int = 604_800
    google_access_token_ttl_s: int = 3599

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, patch: dict[str, Any]) -> None:
        """Apply a partial update; raises ValueError naming the first bad field."""
        known = {f.name: f for f in fields(self)}
        for key, value in patch.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}")
            current = getattr(self, key)
            if isinstance(current, BucketLimit):
                if not isinstance(value, dict):
                    raise ValueError(f"{key} must be an object {{limit, window_s}}")
                limit = int(value.get("limit", current.limit))
                window = float(value.get("window_s", current.window_s))
                if limit < 1 or window <= 0:
                    raise ValueError(f"{key} needs limit >= 1 and window_s > 0")
                setattr(self, key, BucketLimit(limit, window))
            elif key == "identify_limit_mode":
                if value not in ("enforce", "count"):
                    raise ValueError("identify_limit_mode must be 'enforce' or 'count'")
                self.identify_limit_mode = value
            elif isinstance(current, bool) or not isinstance(current, int | float):
                raise ValueError(f"{key} cannot be changed")
            else:
                number = type(current)(value)
                if number < 0:
                    raise ValueError(f"{key} must not be negative")
                setattr(self, key, number)


@dataclass(slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8790
    tls: bool = False
    cert_dir: Path | None = None
    state_file: Path | None = None
    public_url: str | None = None
    tunables: Tunables = field(default_factory=Tunables)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def base_url(self, bound_port: int | None = None) -> str:
        """The URL clients use; `--public-url` wins (e.g. behind a proxy or in a container)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{bound_port or self.port}"
