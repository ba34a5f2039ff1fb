"""Per-bot cache of command setups: the hot path reads no database in the steady state.

Entries are dropped when a change event for the bot's workspace arrives (any replica's change) and
right after a change made by this replica; loads of one bot are de-duplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

from prometheus_client import Counter

from command_service.bot_setup import BotSetup

SETUP_LOADS = Counter(
    "botcenter_command_setup_loads_total",
    "Bot command setups read from the database (cache misses; 0 per invocation when warm).",
)

Loader = Callable[[UUID], Awaitable[BotSetup]]


class SetupCache:
    def __init__(self, loader: Loader, *, max_bots: int = 10_000) -> None:
        self._loader = loader
        self._entries: dict[UUID, BotSetup] = {}
        self._loading: dict[UUID, asyncio.Future[BotSetup]] = {}
        self._generation: dict[UUID, int] = {}
        self._max = max_bots
        self.loads = 0

    async def get(self, bot_id: UUID) -> BotSetup:
        entry = self._entries.get(bot_id)
        if entry is not None:
            return entry
        pending = self._loading.get(bot_id)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[BotSetup] = asyncio.get_running_loop().create_future()
        self._loading[bot_id] = fut
        generation = self._generation.get(bot_id, 0)
        try:
            self.loads += 1
            SETUP_LOADS.inc()
            setup = await self._loader(bot_id)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            self._loading.pop(bot_id, None)
        # An invalidation during the load means the rows may be stale: serve, don't keep.
        if self._generation.get(bot_id, 0) == generation:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            self._entries[bot_id] = setup
        fut.set_result(setup)
        return setup

    def invalidate_bot(self, bot_id: UUID) -> None:
        self._entries.pop(bot_id, None)
        self._generation[bot_id] = self._generation.get(bot_id, 0) + 1

    def invalidate_workspace(self, workspace_id: UUID) -> None:
        for bot_id in [b for b, s in self._entries.items() if s.workspace_id == workspace_id]:
            self.invalidate_bot(bot_id)
        for bot_id in list(self._loading):
            self._generation[bot_id] = self._generation.get(bot_id, 0) + 1

    def __len__(self) -> int:
        return len(self._entries)
