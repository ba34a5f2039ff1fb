"""Per-shard status: written to KV `bot_status` by the owning replica, announced as
`evt.bot.<owner>.<bot>.status`, and read back (with the bot-level summary) for the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from bot_service.fleet.host import FleetCore
from proto.events import LogLevel
from proto.fleet import BotState, BotStatus, BotStatusChanged, DesiredBot, ShardStatus
from services.bus.kv import Store

if TYPE_CHECKING:
    from bot_service.fleet.unit import ShardUnit

log = logging.getLogger(__name__)


def status_key(bot_id: UUID, shard_id: int) -> str:
    return f"{bot_id}.{shard_id}"


_LEVEL_OF_STATE: dict[BotState, LogLevel] = {"error": "error", "reconnecting": "warning"}


def level_of(state: BotState) -> LogLevel:
    return _LEVEL_OF_STATE.get(state, "info")


def describe(
    state: BotState, shard_id: int, shard_count: int, reason: str | None, message: str | None
) -> str:
    text = f"shard {shard_id}/{shard_count} {state}"
    if reason:
        text += f" ({reason})"
    if message:
        text += f": {message}"
    return text


class StatusBoard:
    """Serialises status writes and events (in order, off the caller's path)."""

    def __init__(self, fleet: FleetCore, store: Store) -> None:
        self.fleet = fleet
        self.store = store
        self._queue: asyncio.Queue[tuple[DesiredBot, ShardStatus]] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()

    def unit_changed(self, unit: ShardUnit) -> None:
        self.push(unit.desired, self.snapshot(unit))

    def snapshot(self, unit: ShardUnit) -> ShardStatus:
        now = datetime.now(UTC)
        return ShardStatus(
            shard_id=unit.key.shard_id,
            shard_count=unit.shard_count,
            state=unit.state,
            reason=unit.reason,
            message=unit.message,
            since=unit.since,
            replica=self.fleet.replica,
            latency_ms=unit.latency_ms,
            guild_count=unit.guild_count,
            connected_at=unit.connected_at if unit.state == "online" else None,
            heartbeat_at=now,
            retry_at=unit.retry_at,
        )

    def push(self, desired: DesiredBot, status: ShardStatus) -> None:
        self._idle.clear()
        self._queue.put_nowait((desired, status))

    async def flush(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)

    async def run(self) -> None:
        while True:
            desired, status = await self._queue.get()
            try:
                await self._write(desired, status)
            except Exception:
                log.warning("could not write the status of %s", desired.bot_id, exc_info=True)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _write(self, desired: DesiredBot, status: ShardStatus) -> None:
        await self.store.put(
            status_key(desired.bot_id, status.shard_id), status.model_dump_json().encode()
        )
        connected_s = (
            round((datetime.now(UTC) - status.connected_at).total_seconds(), 3)
            if status.connected_at
            else None
        )
        # The event carries the status's own fields (state, reason, shard, replica,
        # latency, guilds); its message is the human summary, not the status's detail.
        event = BotStatusChanged.from_row(
            status,
            owner_id=desired.workspace_id,
            bot_id=desired.bot_id,
            message=describe(
                status.state, status.shard_id, status.shard_count, status.reason, status.message
            ),
            level=level_of(status.state),
            connected_s=connected_s,
        )
        await self.fleet.runtime.events.publish("bot", "status", event)

    async def refresh(self, units: Iterable[ShardUnit]) -> None:
        """Periodic heartbeat/latency refresh in KV (no event: nothing changed)."""
        for unit in units:
            with contextlib.suppress(Exception):
                await self.store.put(
                    status_key(unit.key.bot_id, unit.key.shard_id),
                    self.snapshot(unit).model_dump_json().encode(),
                )

    async def delete_bot(self, bot_id: UUID, shard_count: int) -> None:
        for shard in range(shard_count):
            with contextlib.suppress(Exception):
                await self.store.delete(status_key(bot_id, shard))

    async def read_shards(self, bot_id: UUID, shard_count: int) -> list[ShardStatus | None]:
        async def one(shard: int) -> ShardStatus | None:
            got = await self.store.get(status_key(bot_id, shard))
            return ShardStatus.model_validate_json(got[0]) if got else None

        return list(await asyncio.gather(*(one(s) for s in range(shard_count))))


def summarize(
    desired: DesiredBot,
    shards: list[ShardStatus | None],
    shard_count: int,
    live_members: set[str],
) -> BotStatus:
    """The bot-level status shown to its owner."""
    now = datetime.now(UTC)
    seen: list[ShardStatus] = []
    for shard_id, shard in enumerate(shards):
        if shard is None:
            shard = ShardStatus(
                shard_id=shard_id,
                shard_count=shard_count,
                state="starting" if desired.running else "offline",
                since=now,
            )
        elif shard.state not in ("offline", "error") and shard.replica not in live_members:
            # Its replica is gone: another one takes the shard over when the lease expires.
            shard = shard.model_copy(
                update={
                    "state": "reconnecting" if desired.running else "offline",
                    "reason": "replica_lost" if desired.running else None,
                    "message": "the replica running this shard stopped; moving it"
                    if desired.running
                    else None,
                    "latency_ms": None,
                }
            )
        seen.append(shard)
    states = [s.state for s in seen]
    if not desired.running:
        state: BotState = (
            "stopping"
            if any(s in ("online", "starting", "reconnecting") for s in states)
            else "offline"
        )
        leading = next((s for s in seen if s.state != "offline"), None)
    elif "error" in states:
        state = "error"
        leading = next(s for s in seen if s.state == "error")
    elif states and all(s == "online" for s in states):
        state = "online"
        leading = None
    elif "reconnecting" in states:
        state = "reconnecting"
        leading = next(s for s in seen if s.state == "reconnecting")
    else:
        state = "starting"
        leading = next((s for s in seen if s.state == "starting"), None)
    if state == "offline":
        seen = [
            s if s.state == "offline" else s.model_copy(update={"state": "offline"}) for s in seen
        ]
    since = max((s.since for s in seen), default=now)
    return BotStatus(
        bot_id=desired.bot_id,
        state=state,
        reason=leading.reason if leading else None,
        message=leading.message if leading else None,
        since=since,
        shards=seen,
    )
