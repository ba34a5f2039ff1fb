"""Live status of many bots at once for the bots list, read from the fleet's own KV
(`bot_desired`, `bot_status`) in this process: no request per bot from the console."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from proto.bots import BotStatusBrief
from proto.fleet import BotStatus

log = logging.getLogger(__name__)


def brief(status: BotStatus) -> BotStatusBrief:
    """The bot-level summary: mean latency and total guilds of the shards that report them."""
    latencies = [s.latency_ms for s in status.shards if s.latency_ms is not None]
    guilds = [s.guild_count for s in status.shards if s.guild_count is not None]
    return BotStatusBrief(
        state=status.state,
        reason=status.reason,
        message=status.message,
        latency_ms=round(sum(latencies) / len(latencies), 1) if latencies else None,
        guild_count=sum(guilds) if guilds else None,
    )


class LiveStatus:
    """Reads through the fleet started in this process (`runtime.state["fleet"]`)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    async def one(self, bot_id: UUID) -> BotStatusBrief | None:
        fleet = self._state.get("fleet")
        if fleet is None:
            return None
        try:
            desired = await fleet.desired_of(bot_id)
            if desired is None:
                return None
            return brief(await fleet.bot_status(desired))
        except Exception:
            # The list still answers without a status (the console then asks per bot).
            log.warning("could not read the status of bot %s", bot_id, exc_info=True)
            return None

    async def many(self, bot_ids: Iterable[UUID]) -> dict[UUID, BotStatusBrief | None]:
        ids = list(bot_ids)
        found = await asyncio.gather(*(self.one(b) for b in ids))
        return dict(zip(ids, found, strict=True))

    async def full(self, bot_id: UUID) -> BotStatus | None:
        fleet = self._state.get("fleet")
        if fleet is None:
            return None
        desired = await fleet.desired_of(bot_id)
        if desired is None:
            return None
        status: BotStatus = await fleet.bot_status(desired)
        return status
