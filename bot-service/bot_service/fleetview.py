"""Reads the fleet's per-shard status (`bot_status` KV, written by the fleet) to know
whether a bot still has a live gateway session, e.g. before deleting its data."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from uuid import UUID

from services.bus.kv import Store
from services.bus.types import BucketNotFoundError, JetStream, KeyValue

STATUS_BUCKET = "bot_status"
LIVE_STATES = frozenset({"starting", "online", "reconnecting", "stopping"})


def _live(value: bytes | None) -> bool:
    if not value:
        return False
    try:
        data = json.loads(value)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    if data.get("state") in LIVE_STATES:
        return True
    shards = data.get("shards")
    return isinstance(shards, list) and any(
        isinstance(s, dict) and s.get("state") in LIVE_STATES for s in shards
    )


class FleetView:
    def __init__(self, js: JetStream) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue | None:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(STATUS_BUCKET)
            except BucketNotFoundError:
                return None
        return self._kv

    async def _keys_of(self, kv: KeyValue, bot_id: UUID) -> list[str]:
        try:
            return await kv.keys(filters=[f"{bot_id}.*"])
        except Exception as exc:  # nats-py raises NoKeysError when nothing matches
            if type(exc).__name__ == "NoKeysError":
                return []
            raise

    async def live_bots(self, bot_ids: Iterable[UUID]) -> set[UUID]:
        """The bots among `bot_ids` that still show a live shard (keys `<bot_id>.<shard>`)."""
        kv = await self._bucket()
        if kv is None:
            return set()
        store = Store(kv)
        live: set[UUID] = set()
        for bot_id in set(bot_ids):
            for key in await self._keys_of(kv, bot_id):
                got = await store.get(key)
                if got is not None and _live(got[0]):
                    live.add(bot_id)
                    break
        return live

    async def wait_stopped(self, bot_ids: Iterable[UUID], timeout_s: float) -> bool:
        """True once none of the bots shows a live shard; False at the deadline."""
        pending = set(bot_ids)
        give_up = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            pending = await self.live_bots(pending)
            if not pending:
                return True
            if time.monotonic() >= give_up:
                return False
            await asyncio.sleep(min(delay, max(0.0, give_up - time.monotonic())))
            delay = min(delay * 2, 0.5)
