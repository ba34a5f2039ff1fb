"""Fleet settings: environment variables with the bot-service prefix `BOT_`.

Kept apart from `bot_service.settings` (the API half's) so each half owns its knobs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FleetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore", populate_by_name=True)

    # A unit's lease (and a replica's membership key) expires this long after its last
    # renewal; renewals run every quarter of it and a replica that could not renew for half
    # of it disconnects the unit itself (self-fencing).
    lease_ttl_s: float = Field(15.0, ge=0.5, le=600)
    # Periodic reconcile (watches trigger it at once; this catches expirations).
    reconcile_interval_s: float = Field(2.0, ge=0.05, le=120)
    # Discord allows one IDENTIFY per 5 s per max_concurrency bucket of a bot.
    identify_window_s: float = Field(5.0, ge=0.0, le=60)
    # Stop with error/identify_budget_exhausted when session_start_limit.remaining
    # would drop to this (Discord resets the token of a bot that exceeds it).
    identify_reserve: int = Field(10, ge=0, le=1000)
    # Crash restarts: exponential backoff with jitter between these bounds.
    backoff_base_s: float = Field(1.0, gt=0, le=60)
    backoff_max_s: float = Field(120.0, gt=0, le=3600)
    # Answer an interaction with a deferral when the command takes longer than this
    # (Discord's limit for the first answer is 3 s).
    defer_after_s: float = Field(1.5, gt=0, le=2.8)
    # A command sync that Discord refused for a passing reason (429, 5xx, unreachable) is
    # tried again this long after (a refused command set waits for the next change).
    command_sync_retry_s: float = Field(30.0, gt=0, le=3600)
    # How long a command may run before the bot answers that it failed.
    execute_timeout_s: float = Field(12.0, gt=0, le=840)
    # discord.py waits this long for GUILD_CREATEs after READY.
    guild_ready_timeout_s: float = Field(0.5, ge=0, le=10)
    # Gateway transport compression (zstd-stream, or zlib-stream without zstandard). Off by
    # default: the decompression context costs ~28 KiB per connection, the largest item of
    # an idle bot, while compression only saves inbound bandwidth.
    gateway_compress: bool = False
    # Allocations from this size up get their own mmap, and glibc's dynamic threshold is
    # turned off: the 256 KiB SSL read buffer of each TLS connection then costs only the
    # pages it uses (~15 KiB less RSS per idle bot). 0 leaves malloc as it is.
    malloc_mmap_threshold_kib: int = Field(128, ge=0, le=32768)
    # How long a handed-off session is kept for the next owner to RESUME.
    resume_window_s: float = Field(120.0, ge=1, le=3600)
    # Development and tests only (refused in production): a JSON file {bot_id: token} used
    # instead of the database, for benchmarks that run thousands of sandbox bots.
    dev_tokens_file: Path | None = None

    @property
    def renew_interval_s(self) -> float:
        return self.lease_ttl_s / 4

    @property
    def fence_after_s(self) -> float:
        return self.lease_ttl_s / 2

    @property
    def heartbeat_interval_s(self) -> float:
        return self.lease_ttl_s / 4
