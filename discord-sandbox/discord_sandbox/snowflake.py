"""Discord snowflake ids: milliseconds since the Discord epoch, shifted left by 22 bits."""

from __future__ import annotations

import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeGenerator:
    """Monotonic snowflakes, unique within the process.

    Guild ids are special: Discord routes a guild to shard `(guild_id >> 22) % shard_count`,
    so guilds created in the same millisecond would all land on one shard. `next(spread=True)`
    gives each such id its own millisecond, which spreads consecutive guilds over the shards
    the way real, independently created guilds are. The spread ids of a run step one
    millisecond modulo `SPREAD_CYCLE` even when the clock moves on between them (a loaded
    machine), so any shard count dividing the cycle still gets them round-robin.
    """

    SPREAD_CYCLE = 64

    def __init__(self, worker: int = 1, process: int = 1) -> None:
        self._prefix = ((worker & 0x1F) << 17) | ((process & 0x1F) << 12)
        self._last_ms = 0
        self._last_spread_ms = -1
        self._increment = 0

    def next(self, *, spread: bool = False) -> int:
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if spread:
            ms = max(now_ms, self._last_ms + 1)
            ms += (self._last_spread_ms + 1 - ms) % self.SPREAD_CYCLE
            self._last_spread_ms = ms
            self._increment = 0
        else:
            ms = max(now_ms, self._last_ms)
            if ms == self._last_ms:
                self._increment += 1
                if self._increment > 0xFFF:
                    ms += 1
                    self._increment = 0
            else:
                self._increment = 0
        self._last_ms = ms
        return (ms << 22) | self._prefix | self._increment

    def observe(self, snowflake: int) -> None:
        """Keep ids loaded from a snapshot from being issued again."""
        ms = snowflake >> 22
        if ms > self._last_ms:
            self._last_ms = ms
            self._increment = 0xFFF  # the next id moves to a fresh millisecond


def snowflake_time_ms(snowflake: int) -> int:
    """Unix milliseconds encoded in a snowflake."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % max(shard_count, 1)
