"""Reads the fleet's per-shard status (`bot_status` KV, written by the fleet) to know
whether a bot still has a live gateway session, e.g. before deleting its data."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from services.bus.kv import Store

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


def _of_bot(key: str, bot_id: UUID) -> bool:
    b = str(bot_id)
    return key == b or key.startswith(b + ".") or key.startswith(b + "_")


class FleetView:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> Store | None:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(STATUS_BUCKET)
            except BucketNotFoundError:
                return None
        return Store(self._kv)

    async def live_bots(self, bot_ids: Iterable[UUID]) -> set[UUID]:
        """The bots among `bot_ids` that still show a live shard."""
        wanted = set(bot_ids)
        store = await self._bucket()
        if store is None or not wanted:
            return set()
        live: set[UUID] = set()
        for key in await store.keys():
            owner = next((b for b in wanted if _of_bot(key, b)), None)
            if owner is None or owner in live:
                continue
            got = await store.get(key)
            if got is not None and _live(got[0]):
                live.add(owner)
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
