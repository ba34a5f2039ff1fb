"""The fleet controller of one replica: membership, leases, reconcile, hand-off, fencing.

- Membership: `bot_members.<replica>` is written every quarter TTL (the bucket's TTL
  removes the key of a replica that stopped writing).
- Assignment: a unit `<bot>.<shard>` belongs to the live member with the highest
  rendezvous weight; it runs only where its lease `bot_leases.<bot>.<shard>` was taken by
  create (compare-and-set) and is renewed by revision.
- Fencing: a unit whose lease could not be renewed for half the TTL is disconnected by its
  replica, before anybody else can take the lease (which needs the full TTL to pass).
- Hand-off: a unit that moves on purpose (SIGTERM, scale-up) closes with 4000 and leaves
  its session in `bot_sessions` for the next owner to RESUME.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import discord

from bot_service.fleet import diagnosis, metrics
from bot_service.fleet.actions import ACTIONS_TTL_S, ActionKeys
from bot_service.fleet.commands import CommandBridge
from bot_service.fleet.control import AvatarBook, Control
from bot_service.fleet.discordpy import gateway_url, pin_mmap_threshold, point_rest_and_cdn
from bot_service.fleet.hashing import owner
from bot_service.fleet.host import UnitKey
from bot_service.fleet.identify import IdentifyPacer
from bot_service.fleet.settings import FleetSettings
from bot_service.fleet.status import StatusBoard, summarize
from bot_service.fleet.unit import ShardUnit, StopMode
from proto.automations import ACTIONS_BUCKET
from proto.fleet import (
    BotStatus,
    DesiredBot,
    FleetMember,
    ResumeInfo,
    ShardPlan,
    ShardStatus,
    UnitLease,
)
from services.bus.kv import Store, ensure_bucket
from services.bus.types import KeyValue
from services.runtime import ServiceRuntime

log = logging.getLogger(__name__)

TokenLoader = Callable[[UUID], Awaitable[str]]


def _safe_key(name: str) -> str:
    return re.sub(r"[^-_=a-zA-Z0-9]", "_", name)


async def _bucket(runtime: ServiceRuntime, name: str, ttl_s: float | None = None) -> KeyValue:
    for attempt in range(5):
        try:
            return await ensure_bucket(runtime.js, name, ttl_s=ttl_s)
        except Exception:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)  # another replica created it at the same time
    raise AssertionError("unreachable")


class Fleet:
    """The replica's fleet; what its units see of it is `host.UnitHost`."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: FleetSettings,
        token_loader: TokenLoader,
        token_missing_errors: tuple[type[BaseException], ...] = (),
        *,
        avatars: AvatarBook | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        # The API half of bot-service records a new avatar's hash (BotView.avatar_url)
        # and the image it came from (re-applying it is a no-op).
        self.avatars = avatars
        self.discord_gateway = gateway_url(runtime.settings.discord_base_url)
        self._load_token = token_loader
        self.token_missing_errors = token_missing_errors or (LookupError,)
        self.replica = _safe_key(runtime.settings.instance)
        self.started_at = datetime.now(UTC)
        self.desired: dict[UUID, DesiredBot] = {}
        self.plans: dict[UUID, ShardPlan] = {}
        self.members: set[str] = {self.replica}
        self.units: dict[UnitKey, ShardUnit] = {}
        self._retry_at: dict[UnitKey, float] = {}
        self._planning: dict[UUID, asyncio.Task[None]] = {}
        self._plan_failed: dict[UUID, int] = {}
        # Bots whose shard plan failed here (no unit exists): generation, reason.
        self._plan_errors: dict[UUID, tuple[int, str]] = {}
        self._kick = asyncio.Event()
        self._lock = asyncio.Lock()
        self.stopping = False
        self.http: aiohttp.ClientSession | None = None
        self.commands = CommandBridge(self)
        self.control = Control(self)

    # ------------------------------------------------------------------ start/stop
    async def start(self) -> None:
        s = self.settings
        rt = self.runtime
        point_rest_and_cdn(rt.settings.discord_base_url)
        pin_mmap_threshold(s.malloc_mmap_threshold_kib)
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), trace_configs=[metrics.rate_limit_trace()]
        )
        self.desired_kv = Store(await _bucket(rt, "bot_desired"))
        self.members_kv = Store(await _bucket(rt, "bot_members", s.lease_ttl_s))
        self.leases_kv = Store(await _bucket(rt, "bot_leases", s.lease_ttl_s))
        self.sessions_kv = Store(await _bucket(rt, "bot_sessions", s.resume_window_s))
        identify_kv = Store(await _bucket(rt, "bot_identify", 3600.0))
        self.identify = IdentifyPacer(identify_kv, s.identify_window_s, self.replica)
        self.plans_kv = Store(await _bucket(rt, "bot_plans"))
        self.status = StatusBoard(self, Store(await _bucket(rt, "bot_status")))
        actions_kv = Store(await _bucket(rt, ACTIONS_BUCKET, ACTIONS_TTL_S))
        self.control.actions.keys = ActionKeys(actions_kv)
        await self._heartbeat_once()
        await self._refresh_members()
        rt.spawn(self.status.run(), name="fleet status")
        rt.spawn(self._watch(self.desired_kv, self._on_desired), name="fleet desired watch")
        rt.spawn(self._watch(self.plans_kv, self._on_plan), name="fleet plans watch")
        rt.spawn(self._watch(self.members_kv, self._on_member), name="fleet members watch")
        rt.spawn(self._heartbeat_loop(), name="fleet heartbeat")
        rt.spawn(self._renew_loop(), name="fleet lease renewal")
        rt.spawn(self._reconcile_loop(), name="fleet reconcile")
        await self.commands.start()
        self.control.register()
        rt.on_stop(self.shutdown)
        rt.ready_check("fleet", self._ready)
        metrics.track(self)
        log.info("fleet started", extra={"replica": self.replica})

    async def _ready(self) -> bool:
        return not self.stopping

    async def shutdown(self) -> None:
        """SIGTERM: leave the membership, hand every unit off with its session, release."""
        self.stopping = True
        started = time.monotonic()
        self._kick.set()
        async with self._lock:
            with contextlib.suppress(Exception):
                await self.members_kv.delete(self.replica)
            units = list(self.units.values())
            await asyncio.gather(*(self._release(u, "handoff") for u in units))
        await self.status.flush()
        await self.commands.stop()
        if self.http is not None:
            await self.http.close()
        metrics.untrack(self)
        log.info("fleet handed off %d units in %.2fs", len(units), time.monotonic() - started)

    # ------------------------------------------------------------------ metrics
    def census(self) -> Iterator[tuple[str, str | None]]:
        """(state, reason) of every unit owned here, for `botcenter_bot_units`; a bot whose
        shard plan failed here (e.g. its token was refused) counts as its shard 0."""
        for unit in list(self.units.values()):
            yield unit.state, unit.reason
        for bot_id, (generation, reason) in list(self._plan_errors.items()):
            desired = self.desired.get(bot_id)
            if (
                desired is not None
                and desired.running
                and desired.generation == generation
                and UnitKey(bot_id, 0) not in self.units
                and self.owns(f"{bot_id}.0")
            ):
                yield "error", reason

    def shards_owned(self) -> int:
        return len(self.units)

    # ------------------------------------------------------------------ tokens
    async def token(self, bot_id: UUID) -> str:
        return await self._load_token(bot_id)

    # ------------------------------------------------------------------ watches
    async def _watch(self, store: Store, handler: Callable[[str, bytes | None], None]) -> None:
        while True:
            try:
                async for key, value, _ in store.watch(">"):
                    try:
                        handler(key, value)
                    except Exception:
                        log.warning("bad KV value for %s", key, exc_info=True)
                    self._kick.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("KV watch failed; restarting it", exc_info=True)
            await asyncio.sleep(0.5)

    def _on_desired(self, key: str, value: bytes | None) -> None:
        bot_id = UUID(key)
        if value is None:
            old = self.desired.pop(bot_id, None)
            self._plan_errors.pop(bot_id, None)
            if old is not None:
                count = old.shard_count or (
                    self.plans[bot_id].shard_count if bot_id in self.plans else 1
                )
                if owner(self.members, f"{bot_id}.0") == self.replica:
                    self.runtime.spawn(self.status.delete_bot(bot_id, count), name="status cleanup")
            return
        desired = DesiredBot.model_validate_json(value)
        old = self.desired.get(bot_id)
        self.desired[bot_id] = desired
        # Presence changes reach live sessions without a restart.
        if old is not None and old.presence != desired.presence:
            for unit in self.units.values():
                if unit.key.bot_id == bot_id:
                    unit.desired = unit.desired.model_copy(update={"presence": desired.presence})
                    self.runtime.spawn(self.control.apply_presence_local(unit), name="presence")

    def _on_plan(self, key: str, value: bytes | None) -> None:
        if "." in key:
            return  # `<bot>.commands`: the command bridge reads it itself
        bot_id = UUID(key)
        if value is None:
            self.plans.pop(bot_id, None)
        else:
            self.plans[bot_id] = ShardPlan.model_validate_json(value)

    def _on_member(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.members.discard(key)
        else:
            self.members.add(key)
        if not self.stopping:
            self.members.add(self.replica)

    # ------------------------------------------------------------------ membership
    async def _heartbeat_once(self) -> None:
        member = FleetMember(
            replica=self.replica, started_at=self.started_at, units=len(self.units)
        )
        await self.members_kv.put(self.replica, member.model_dump_json().encode())

    async def _refresh_members(self) -> None:
        keys = set(await self.members_kv.keys())
        if not self.stopping:
            keys.add(self.replica)
        if keys != self.members:
            self.members = keys
            self._kick.set()

    async def _heartbeat_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            if self.stopping:
                return
            try:
                await asyncio.wait_for(self._heartbeat_once(), self.settings.heartbeat_interval_s)
                await asyncio.wait_for(self._refresh_members(), self.settings.heartbeat_interval_s)
            except Exception:
                log.warning("membership heartbeat failed", exc_info=True)

    # ------------------------------------------------------------------ desired → units
    def shard_count_of(self, desired: DesiredBot) -> int | None:
        if desired.shard_count is not None:
            return desired.shard_count
        plan = self.plans.get(desired.bot_id)
        if plan is not None and plan.generation == desired.generation:
            return plan.shard_count
        return None

    def owns(self, unit_key: str) -> bool:
        return not self.stopping and owner(self.members, unit_key) == self.replica

    async def _reconcile_loop(self) -> None:
        while True:
            wait = self.settings.reconcile_interval_s
            if self._retry_at:
                soonest = min(self._retry_at.values()) - time.monotonic()
                wait = max(0.05, min(wait, soonest))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), wait)
            self._kick.clear()
            if self.stopping:
                return
            try:
                await self.reconcile()
            except Exception:
                log.warning("reconcile failed", exc_info=True)
                await asyncio.sleep(0.5)

    async def reconcile(self) -> None:
        async with self._lock:
            if self.stopping:
                return
            wanted: dict[UnitKey, tuple[DesiredBot, int]] = {}
            for desired in self.desired.values():
                if not desired.running:
                    continue
                count = self.shard_count_of(desired)
                if count is None:
                    if self.owns(f"{desired.bot_id}.0"):
                        self._plan(desired)
                    continue
                for shard in range(count):
                    wanted[UnitKey(desired.bot_id, shard)] = (desired, count)
            # Units that must stop here: not wanted, changed, or now owned by another.
            stops: list[tuple[ShardUnit, StopMode]] = []
            for key, unit in list(self.units.items()):
                want = wanted.get(key)
                if (
                    want is None
                    or want[1] != unit.shard_count
                    or want[0].generation != unit.generation
                    or want[0].intents != unit.desired.intents
                ):
                    stops.append((unit, "stop"))
                elif not self.owns(key.key):
                    stops.append((unit, "handoff"))
            if stops:
                await asyncio.gather(*(self._release(u, mode) for u, mode in stops))
            # Units to take.
            now = time.monotonic()
            takes = [
                (key, desired, count)
                for key, (desired, count) in wanted.items()
                if key not in self.units
                and self.owns(key.key)
                and self._retry_at.get(key, 0) <= now
            ]
            for key in list(self._retry_at):
                if key not in wanted or not self.owns(key.key):
                    self._retry_at.pop(key, None)
            sem = asyncio.Semaphore(32)

            async def take(key: UnitKey, desired: DesiredBot, count: int) -> None:
                async with sem:
                    await self._acquire(key, desired, count)

            if takes:
                await asyncio.gather(*(take(*t) for t in takes))

    async def _acquire(self, key: UnitKey, desired: DesiredBot, count: int) -> None:
        lease = (
            UnitLease(
                replica=self.replica,
                generation=desired.generation,
                shard_count=count,
                acquired_at=datetime.now(UTC),
            )
            .model_dump_json()
            .encode()
        )
        try:
            revision = await self.leases_kv.create(key.key, lease)
            if revision is None:
                current = await self.leases_kv.get(key.key)
                if current is None:
                    self._retry_at[key] = time.monotonic() + 0.05
                    return
                holder = UnitLease.model_validate_json(current[0])
                if holder.replica != self.replica:
                    # Alive holder: it hands off soon. Dead one: its lease expires.
                    delay = 0.2 if holder.replica in self.members else self.settings.lease_ttl_s / 8
                    self._retry_at[key] = time.monotonic() + delay
                    return
                revision = await self.leases_kv.update(key.key, lease, current[1])
                if revision is None:
                    self._retry_at[key] = time.monotonic() + 0.2
                    return
            resume = await self._take_resume(key, desired, count)
        except Exception:
            log.warning("could not take the lease of %s", key.key, exc_info=True)
            self._retry_at[key] = time.monotonic() + 1.0
            return
        self._retry_at.pop(key, None)
        unit = ShardUnit(self, key, desired, count, resume=resume, lease_revision=revision)
        self.units[key] = unit
        unit.set_state("starting", None, "resuming the session" if resume else None)
        await self.control.subscribe(unit)
        unit.start()

    async def _take_resume(
        self, key: UnitKey, desired: DesiredBot, count: int
    ) -> ResumeInfo | None:
        got = await self.sessions_kv.get(key.key)
        if got is None:
            return None
        await self.sessions_kv.delete(key.key, revision=got[1])
        info = ResumeInfo.model_validate_json(got[0])
        age = (datetime.now(UTC) - info.at).total_seconds()
        if info.shard_count != count or info.generation != desired.generation:
            return None
        if age > self.settings.resume_window_s:
            return None
        return info

    async def _release(self, unit: ShardUnit, mode: StopMode) -> None:
        """Stop a unit here; `handoff` keeps its session for the next owner."""
        self.units.pop(unit.key, None)
        await self.control.unsubscribe(unit)
        if mode == "stop":
            unit.set_state("stopping")
        info = await unit.stop(mode)
        try:
            if info is not None and mode == "handoff":
                await self.sessions_kv.put(unit.key.key, info.model_dump_json().encode())
            if mode != "fence":
                await self.leases_kv.delete(unit.key.key, revision=unit.lease_revision)
        except Exception:
            log.warning("could not release %s", unit.key.key, exc_info=True)
        if mode == "stop":
            unit.connected_at = None
            unit.set_state("offline")
        elif mode == "handoff":
            unit.set_state("reconnecting", "handoff", "moving to another replica")

    # ------------------------------------------------------------------ renewal, fencing
    async def _renew_loop(self) -> None:
        refresh_every = max(1, int(30 / self.settings.renew_interval_s))
        tick = 0
        while True:
            await asyncio.sleep(self.settings.renew_interval_s)
            tick += 1
            units = list(self.units.values())
            sem = asyncio.Semaphore(64)
            await asyncio.gather(*(self._renew(u, sem) for u in units))
            await self._fence_stale()
            if tick % refresh_every == 0:
                await self.status.refresh([u for u in self.units.values() if u.state == "online"])

    async def _renew(self, unit: ShardUnit, sem: asyncio.Semaphore) -> None:
        async with sem:
            if self.units.get(unit.key) is not unit:
                return
            lease = (
                UnitLease(
                    replica=self.replica,
                    generation=unit.generation,
                    shard_count=unit.shard_count,
                    acquired_at=datetime.now(UTC),
                )
                .model_dump_json()
                .encode()
            )
            try:
                revision = await asyncio.wait_for(
                    self.leases_kv.update(unit.key.key, lease, unit.lease_revision),
                    self.settings.renew_interval_s,
                )
            except Exception:
                return  # NATS trouble: the fence check decides
            if revision is None:
                log.warning("lost the lease of %s; disconnecting it", unit.key.key)
                metrics.LEASE_LOST.labels("taken").inc()
                async with self._lock:
                    if self.units.get(unit.key) is unit:
                        await self._release(unit, "fence")
                self._kick.set()
                return
            unit.lease_revision = revision
            unit.last_renewal = time.monotonic()

    async def _fence_stale(self) -> None:
        limit = time.monotonic() - self.settings.fence_after_s
        stale = [u for u in self.units.values() if u.last_renewal < limit]
        if not stale:
            return
        log.warning("could not renew %d leases: disconnecting them (self-fencing)", len(stale))
        metrics.LEASE_LOST.labels("renewal_failed").inc(len(stale))
        for unit in stale:
            self.units.pop(unit.key, None)
        await asyncio.gather(*(self._fence(u) for u in stale))

    async def _fence(self, unit: ShardUnit) -> None:
        with contextlib.suppress(Exception):
            await self.control.unsubscribe(unit)
        await unit.stop("fence")
        unit.set_state("reconnecting", "fenced", "lost contact with the fleet; moving")

    # ------------------------------------------------------------------ shard plans
    def _plan(self, desired: DesiredBot) -> None:
        bot_id = desired.bot_id
        if bot_id in self._planning or self._plan_failed.get(bot_id) == desired.generation:
            return
        task = asyncio.create_task(self._resolve_plan(desired, minimum=1))
        self._planning[bot_id] = task
        task.add_done_callback(lambda _: self._planning.pop(bot_id, None))

    async def replan(self, unit: ShardUnit, current: int) -> None:
        """Discord asked for more shards (4011 or a higher recommendation)."""
        await self._resolve_plan(unit.desired, minimum=current + 1)

    async def gateway_bot(self, token: str) -> tuple[int, dict[str, Any]]:
        """(status, body) of GET /gateway/bot."""
        assert self.http is not None
        url = f"{self.runtime.settings.discord_api_url}/gateway/bot"
        async with self.http.get(url, headers={"Authorization": f"Bot {token}"}) as response:
            body = await response.json(content_type=None)
            return response.status, body if isinstance(body, dict) else {}

    async def _resolve_plan(self, desired: DesiredBot, *, minimum: int) -> None:
        attempt = 0
        while True:
            try:
                token = await self.token(desired.bot_id)
                status, body = await self.gateway_bot(token)
                if status == 401:
                    self._plan_failed[desired.bot_id] = desired.generation
                    self._plan_error(
                        desired,
                        "invalid_token",
                        diagnosis.invalid_token().message,
                    )
                    return
                if status == 200:
                    limit = body.get("session_start_limit") or {}
                    plan = ShardPlan(
                        shard_count=max(minimum, int(body.get("shards", 1))),
                        generation=desired.generation,
                        max_concurrency=max(1, int(limit.get("max_concurrency", 1))),
                    )
                    await self.plans_kv.put(str(desired.bot_id), plan.model_dump_json().encode())
                    self.plans[desired.bot_id] = plan
                    self._plan_errors.pop(desired.bot_id, None)
                    self._kick.set()
                    return
                log.warning("GET /gateway/bot answered %s", status)
            except asyncio.CancelledError:
                raise
            except self.token_missing_errors:
                return
            except Exception:
                log.warning("could not read the recommended shard count", exc_info=True)
            attempt += 1
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))

    def _plan_error(self, desired: DesiredBot, reason: str, message: str) -> None:
        now = datetime.now(UTC)
        self._plan_errors[desired.bot_id] = (desired.generation, reason)
        self.status.push(
            desired,
            ShardStatus(
                shard_id=0,
                shard_count=1,
                state="error",
                reason=reason,
                message=message,
                since=now,
                replica=self.replica,
                heartbeat_at=now,
            ),
        )

    # ------------------------------------------------------------------ callbacks (UnitHost)
    def unit_online(self, unit: ShardUnit) -> None:
        if unit.key.shard_id == 0:
            self.commands.bot_online(unit)

    def unit_changed(self, unit: ShardUnit) -> None:
        self.status.unit_changed(unit)

    async def on_interaction(self, unit: ShardUnit, interaction: discord.Interaction) -> None:
        await self.commands.on_interaction(unit, interaction)

    async def on_message(self, unit: ShardUnit, message: discord.Message) -> None:
        await self.commands.on_message(unit, message)

    def unit_of(self, bot_id: UUID, shard_id: int = 0) -> ShardUnit | None:
        return self.units.get(UnitKey(bot_id, shard_id))

    async def sync_commands(self, unit: ShardUnit) -> tuple[bool, str | None, int]:
        return await self.commands.sync_now(unit)

    # ------------------------------------------------------------------ status reads
    async def desired_of(self, bot_id: UUID) -> DesiredBot | None:
        got = await self.desired_kv.get(str(bot_id))
        if got is None:
            return None
        return DesiredBot.model_validate_json(got[0])

    async def bot_status(self, desired: DesiredBot) -> BotStatus:
        count = self.shard_count_of(desired)
        if count is None:
            got = await self.plans_kv.get(str(desired.bot_id))
            count = ShardPlan.model_validate_json(got[0]).shard_count if got else 1
        shards = await self.status.read_shards(desired.bot_id, count)
        if count != 1 and shards and shards[0] is not None and shards[0].shard_count != count:
            shards = await self.status.read_shards(desired.bot_id, shards[0].shard_count)
            count = len(shards)
        return summarize(desired, shards, count, self.members)


def dev_token_loader(path: Path) -> TokenLoader:
    """Development/benchmarks only: tokens from a JSON file {bot_id: token}."""

    async def load(bot_id: UUID) -> str:
        data = json.loads(await asyncio.to_thread(path.read_text))
        try:
            token = data[str(bot_id)]
        except KeyError:
            raise LookupError(f"bot {bot_id} not in the tokens file") from None
        from services.telemetry.redaction import register_secret

        register_secret(token)
        return str(token)

    return load
