"""IDENTIFY pacing: Discord lets the shards of one concurrency bucket of a bot start a
session once per window (about 5 s). Every replica takes its turn through one KV key per
bucket, so the pacing holds across the fleet."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from uuid import UUID

from bot_service.fleet import metrics
from services.bus.kv import Store


class IdentifyPacer:
    def __init__(self, kv: Store, window_s: float, replica: str) -> None:
        self.kv = kv
        self.window_s = window_s
        self.replica = replica

    async def wait_turn(
        self,
        bot_id: UUID,
        shard_id: int,
        max_concurrency: int,
        waiting: Callable[[float], None] | None = None,
    ) -> None:
        """Wait for the shard's concurrency bucket to allow one IDENTIFY (all replicas);
        `waiting(seconds)` is told before each wait, so the unit can say why it waits."""
        window = self.window_s
        started = time.monotonic()
        if window <= 0:
            metrics.IDENTIFY_WAIT_SECONDS.observe(0.0)
            return
        slot = f"{bot_id}.{shard_id % max_concurrency}"
        while True:
            now = time.time()
            got = await self.kv.get(slot)
            last = float(json.loads(got[0])["at"]) if got else 0.0
            if now < last + window:
                if waiting is not None:
                    waiting(last + window - now)
                await asyncio.sleep(last + window - now + 0.01)
                continue
            value = json.dumps({"at": now, "replica": self.replica}).encode()
            if got is None:
                revision = await self.kv.create(slot, value)
            else:
                revision = await self.kv.update(slot, value, got[1])
            if revision is not None:
                metrics.IDENTIFY_WAIT_SECONDS.observe(time.monotonic() - started)
                return
            await asyncio.sleep(0.01)
