"""Live status of many bots at once for the bots list, read from the fleet's own KV
(`bot_desired`, `bot_status`) in this process: no request per bot from the console."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol
from uuid import UUID

from proto.bots import BotStatusBrief
from proto.fleet import BotStatus, DesiredBot

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


class FleetReader(Protocol):
    """The status reads of the fleet (`bot_service.fleet.Fleet`)."""

    async def desired_of(self, bot_id: UUID) -> DesiredBot | None: ...

    async def bot_status(self, desired: DesiredBot) -> BotStatus: ...


class LiveStatus:
    """Reads through the fleet of this process, once `app.setup` has set `fleet`."""

    def __init__(self, fleet: FleetReader | None = None) -> None:
        self.fleet = fleet

    async def one(self, bot_id: UUID) -> BotStatusBrief | None:
        fleet = self.fleet
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
        fleet = self.fleet
        if fleet is None:
            return None
        desired = await fleet.desired_of(bot_id)
        if desired is None:
            return None
        return await fleet.bot_status(desired)
