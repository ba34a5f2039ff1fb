"""One unit of work = one (bot, shard) = one discord.py client.

The unit runs its own connect loop instead of `Client.connect` so that it can start by
RESUMing a session another replica handed off, pace every IDENTIFY through the fleet,
classify every failure into a status with a reason, and stop in one of three ways:
`stop` (close 1000: the session ends), `handoff` (close 4000: the session stays resumable
and its id, sequence and resume URL go to the next owner) and `fence` (same, without NATS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
import discord
import yarl
from discord.errors import ConnectionClosed
from discord.gateway import DiscordWebSocket, ReconnectWebSocket

from bot_service.fleet import diagnosis, metrics
from bot_service.fleet.diagnosis import Diagnosis
from bot_service.fleet.discordpy import LeanClient, last_heartbeat_ack, open_gateway
from bot_service.fleet.host import UnitHost, UnitKey
from proto.fleet import BotState, DesiredBot, Presence, ResumeInfo
from proto.logs import LogRecorded
from services.sizes import human_duration
from services.tasks import cancel_and_wait

log = logging.getLogger(__name__)

StopMode = Literal["stop", "handoff", "fence"]


class IdentifyBudgetExhaustedError(Exception):
    def __init__(self, remaining: int, reset_after_s: float) -> None:
        super().__init__(f"{remaining} session starts left")
        self.remaining = remaining
        self.reset_after_s = reset_after_s


class ShardingChangedError(Exception):
    """Discord asked for more shards; the fleet re-plans the bot."""


def activity_of(presence: Presence) -> discord.BaseActivity | None:
    text = presence.activity_text
    if not text:
        return None
    if presence.activity_type == "custom":
        return discord.CustomActivity(name=text)
    if presence.activity_type == "playing":
        return discord.Game(name=text)
    kind = {
        "streaming": discord.ActivityType.streaming,
        "listening": discord.ActivityType.listening,
        "watching": discord.ActivityType.watching,
        "competing": discord.ActivityType.competing,
    }[presence.activity_type]
    return discord.Activity(type=kind, name=text)


class FleetClient(LeanClient):
    """A discord.py client with minimal caches whose events go to its unit."""

    def __init__(self, unit: ShardUnit, **options: Any) -> None:
        super().__init__(**options)
        self._unit = unit

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # Pacing happens before the connection is opened (ShardUnit._pace); no 5 s sleep.
        return None

    async def on_connect(self) -> None:  # READY
        self._unit.connected(resumed=False)

    async def on_resumed(self) -> None:
        self._unit.connected(resumed=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._unit.fleet.on_interaction(self._unit, interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self._unit.fleet.on_message(self._unit, message)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("error in %s of %s", event_method, self._unit.key.key)


@dataclass
class ShardUnit:
    fleet: UnitHost[ShardUnit]
    key: UnitKey
    desired: DesiredBot
    shard_count: int
    resume: ResumeInfo | None = None
    lease_revision: int = 0
    last_renewal: float = field(default_factory=time.monotonic)
    state: BotState = "starting"
    reason: str | None = None
    message: str | None = None
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    retry_at: datetime | None = None
    connected_at: datetime | None = None
    # True once the unit gave up for a reason that retrying cannot fix (its lease is kept).
    parked: bool = False
    client: FleetClient | None = None
    ws: DiscordWebSocket | None = None
    task: asyncio.Task[None] | None = None
    application_flags: int | None = None
    ready_event: asyncio.Event = field(default_factory=asyncio.Event)
    on_online: Callable[[ShardUnit], Awaitable[None]] | None = None
    _attempt: int = 0
    # Discord 429s: counted for Prometheus by the trace; told to the bot's owner in its log
    # at most once per metrics.RATE_LIMIT_LOG_EVERY_S (with the count in between).
    _http_trace: aiohttp.TraceConfig | None = None
    _rate_limit_logged_at: float = float("-inf")
    _rate_limits_unlogged: int = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"unit {self.key.key}")

    @property
    def generation(self) -> int:
        return self.desired.generation

    @property
    def guild_count(self) -> int | None:
        return len(self.client.guilds) if self.client is not None and self.ws is not None else None

    @property
    def latency_ms(self) -> float | None:
        if self.ws is None:
            return None
        latency = self.ws.latency
        return None if latency == float("inf") else round(latency * 1000, 2)

    async def stop(self, mode: StopMode) -> ResumeInfo | None:
        """Stop the client; for hand-off and fencing keep the session resumable."""
        task, self.task = self.task, None
        if task is not None:
            await cancel_and_wait(task, f"unit {self.key.key}")
        info: ResumeInfo | None = None
        ws, client = self.ws, self.client
        self.ws = None
        try:
            if ws is not None and not ws.socket.closed:
                if mode != "stop" and ws.session_id:
                    info = ResumeInfo(
                        session_id=ws.session_id,
                        sequence=ws.sequence,
                        resume_gateway_url=str(ws.gateway),
                        shard_count=self.shard_count,
                        generation=self.generation,
                        guild_count=len(client.guilds) if client is not None else None,
                        from_replica=self.fleet.replica,
                        at=datetime.now(UTC),
                    )
                    await asyncio.wait_for(ws.close(code=4000), 5)
                else:
                    await asyncio.wait_for(ws.close(code=1000), 5)
        except Exception:
            log.debug("closing the socket of %s failed", self.key.key, exc_info=True)
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)
        self.client = None
        return info

    # ------------------------------------------------------------------ status
    def set_state(
        self,
        state: BotState,
        reason: str | None = None,
        message: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        changed = (state, reason, message) != (self.state, self.reason, self.message)
        self.retry_at = (
            datetime.fromtimestamp(time.time() + retry_after_s, UTC)
            if retry_after_s is not None
            else None
        )
        if changed:
            self.state, self.reason, self.message = state, reason, message
            self.since = datetime.now(UTC)
            self.fleet.unit_changed(self)

    def connected(self, *, resumed: bool) -> None:
        self._attempt = 0
        if self.connected_at is None or not resumed:
            self.connected_at = datetime.now(UTC)
        self.set_state("online", None, "resumed the session" if resumed else None)
        self.ready_event.set()
        self.fleet.unit_online(self)

    # ------------------------------------------------------------------ Discord 429s
    def on_rate_limited(
        self, scope: str, method: str, route: str, retry_after_s: float | None
    ) -> None:
        """A 429 on this unit's HTTP session (discord.py retries it by itself when short)."""
        self._rate_limits_unlogged += 1
        now = time.monotonic()
        if now - self._rate_limit_logged_at < metrics.RATE_LIMIT_LOG_EVERY_S:
            return
        count, self._rate_limits_unlogged = self._rate_limits_unlogged, 0
        self._rate_limit_logged_at = now
        wait = ""
        if retry_after_s is not None:
            wait = f"; trying again in {human_duration(retry_after_s)}"
        more = f" ({count} rate-limited requests since the last report)" if count > 1 else ""
        event = LogRecorded(
            owner_id=self.desired.workspace_id,
            bot_id=self.key.bot_id,
            message=f"Discord rate limited {method} {route} ({scope} limit){wait}{more}",
            level="warning",
            source="discord.ratelimit",
            details={
                "scope": scope,
                "method": method,
                "route": route,
                "retry_after_s": retry_after_s,
                "count": count,
                "shard_id": self.key.shard_id,
                "replica": self.fleet.replica,
            },
        )
        self.fleet.runtime.spawn(self._publish_log(event), name="rate limit log")

    async def _publish_log(self, event: LogRecorded) -> None:
        try:
            await self.fleet.runtime.events.publish("log", event.level, event)
        except Exception:
            log.warning("could not publish the rate-limit log of %s", self.key.key)

    # ------------------------------------------------------------------ the loop
    def _new_client(self) -> FleetClient:
        presence = self.desired.presence
        if self._http_trace is None:
            self._http_trace = metrics.rate_limit_trace(self.on_rate_limited)
        return FleetClient(
            self,
            intents=discord.Intents(self.desired.intents),
            shard_id=self.key.shard_id,
            shard_count=self.shard_count,
            max_messages=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            guild_ready_timeout=self.fleet.settings.guild_ready_timeout_s,
            max_ratelimit_timeout=30.0,
            status=discord.Status(presence.status),
            activity=activity_of(presence),
            enable_debug_events=False,
            http_trace=self._http_trace,
        )

    async def _run(self) -> None:
        while True:
            diag: Diagnosis
            try:
                token = await self.fleet.token(self.key.bot_id)
                self.client = client = self._new_client()
                await client.login(token)
                if client.application is not None:
                    self.application_flags = client.application.flags.value
                await self._connect(client)
                return
            except asyncio.CancelledError:
                raise
            except IdentifyBudgetExhaustedError as exc:
                reset = datetime.fromtimestamp(time.time() + exc.reset_after_s, UTC)
                diag = Diagnosis(
                    "identify_budget_exhausted",
                    f"Discord's daily session-start budget is nearly used up ({exc.remaining} "
                    f"left); the bot waits until it resets at {reset:%Y-%m-%d %H:%M} UTC.",
                    retry=True,
                    retry_after_s=exc.reset_after_s,
                )
            except ShardingChangedError:
                diag = diagnosis.close_code(
                    4011, intents=0, application_flags=None, auto_shards=True, shard_count=0
                )
                await self._close_client()
                self.set_state("starting", diag.reason, diag.message)
                await self.fleet.replan(self, self.shard_count)
                return  # the fleet restarts the bot's units with the new shard count
            except discord.LoginFailure:
                diag = diagnosis.invalid_token()
            except ConnectionClosed as exc:
                diag = diagnosis.close_code(
                    exc.code,
                    intents=self.desired.intents,
                    application_flags=self.application_flags,
                    auto_shards=self.desired.shard_count is None,
                    shard_count=self.shard_count,
                )
                if exc.code == 4011 and diag.retry:
                    await self._close_client()
                    self.set_state("starting", diag.reason, diag.message)
                    await self.fleet.replan(self, self.shard_count)
                    return
            except discord.RateLimited as exc:
                diag = diagnosis.rate_limited(exc.retry_after)
            except discord.HTTPException as exc:
                diag = _http_diagnosis(exc)
            except (OSError, aiohttp.ClientError, TimeoutError, discord.GatewayNotFound) as exc:
                diag = diagnosis.unavailable(type(exc).__name__)
            except self.fleet.token_missing_errors:
                diag = Diagnosis("not_found", "the bot no longer exists", retry=False)
            except Exception as exc:
                log.warning("unit %s crashed", self.key.key, exc_info=True)
                diag = diagnosis.crashed(exc)
            self.resume = None
            await self._close_client()
            if not diag.retry:
                self.parked = True
                self.set_state("error", diag.reason, diag.message)
                return
            await self._wait_to_restart(diag)

    async def _wait_to_restart(self, diag: Diagnosis) -> None:
        """Say why the unit is down and sleep until it tries again (backing off)."""
        delay = diag.retry_after_s
        if delay is None:
            delay = diagnosis.backoff_delay(
                self._attempt,
                self.fleet.settings.backoff_base_s,
                self.fleet.settings.backoff_max_s,
            )
        self._attempt += 1
        metrics.RECONNECTS.labels("restart").inc()
        state: BotState = (
            "error" if diag.reason in ("crashed", "identify_budget_exhausted") else "reconnecting"
        )
        self.set_state(state, diag.reason, diag.message, retry_after_s=delay)
        await asyncio.sleep(delay)

    async def _close_client(self) -> None:
        client, self.client, self.ws = self.client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)

    async def _pace(self, client: FleetClient) -> None:
        """Before every IDENTIFY: check the session-start budget, then take a slot in the
        bot's max_concurrency bucket (shared by all replicas through KV)."""
        data = await client.http.request(discord.http.Route("GET", "/gateway/bot"))
        limit = data.get("session_start_limit") or {}
        remaining = int(limit.get("remaining", 1000))
        max_concurrency = max(1, int(limit.get("max_concurrency", 1)))
        if remaining <= self.fleet.settings.identify_reserve:
            raise IdentifyBudgetExhaustedError(
                remaining, float(limit.get("reset_after", 3_600_000)) / 1000
            )
        recommended = int(data.get("shards", 1))
        if self.desired.shard_count is None and recommended > self.shard_count:
            # Discord would close us with 4011: re-plan before spending an IDENTIFY.
            raise ShardingChangedError()
        await self.fleet.identify.wait_turn(
            self.key.bot_id, self.key.shard_id, max_concurrency, self._waiting_for_slot
        )

    def _waiting_for_slot(self, seconds: float) -> None:
        """Discord allows one session start per bucket every few seconds (a restart right
        after a start waits here): say so, instead of a bare "starting"."""
        window = self.fleet.settings.identify_window_s
        self.set_state(
            "starting",
            "identify_wait",
            f"waiting {human_duration(seconds)} for Discord's next session start "
            f"(Discord allows one start every {human_duration(window)})",
        )

    def _first_connect_params(self) -> dict[str, Any]:
        """How to open the first websocket: RESUME a session handed over by the replica that
        ran this shard before (same shard count and generation), else IDENTIFY."""
        params: dict[str, Any] = {
            "initial": True,
            "shard_id": self.key.shard_id,
            "compress": self.fleet.settings.gateway_compress,
        }
        if (
            self.resume is not None
            and self.resume.shard_count == self.shard_count
            and self.resume.generation == self.generation
        ):
            params.update(
                session=self.resume.session_id,
                sequence=self.resume.sequence,
                gateway=yarl.URL(self.resume.resume_gateway_url),
                resume=True,
                initial=False,
            )
            metrics.RECONNECTS.labels("handoff_resume").inc()
        self.resume = None
        return params

    async def _connect(self, client: FleetClient) -> None:
        params = self._first_connect_params()
        failures = 0
        while True:
            ws: DiscordWebSocket | None = None
            try:
                if not params.get("resume"):
                    await self._pace(client)
                    metrics.IDENTIFIES.inc()
                ws = await asyncio.wait_for(
                    open_gateway(client, default_gateway=self.fleet.discord_gateway, **params),
                    60,
                )
                self.ws = ws
                client.ws = ws
                params["initial"] = False
                last_ack: float | None = None
                while True:
                    await ws.poll_event()
                    failures = 0
                    last_ack = _sample_heartbeat(ws, last_ack)
            except ReconnectWebSocket as exc:
                client.dispatch("disconnect")
                _follow_reconnect(params, exc, ws or self.ws)
                metrics.RECONNECTS.labels("resume" if exc.resume else "reidentify").inc()
                if self.state == "online":
                    self.set_state("reconnecting", None, f"Discord asked to {exc.op}")
                continue
            except ConnectionClosed as exc:
                client.dispatch("disconnect")
                if exc.code in diagnosis.FATAL_CLOSE_CODES:
                    raise
                if exc.code == 4008:
                    metrics.RATE_LIMITED.labels("gateway").inc()
                what = f"gateway closed with {exc.code}"
            except (OSError, aiohttp.ClientError, TimeoutError, discord.GatewayNotFound) as exc:
                client.dispatch("disconnect")
                what = type(exc).__name__
            except discord.HTTPException as exc:
                if exc.status == 429 or exc.status < 500:
                    raise
                what = f"HTTP {exc.status}"
            # A transient failure: try to RESUME after a backoff (an unknown session is
            # invalidated by Discord and we IDENTIFY again).
            current = ws or self.ws
            if current is not None and current.session_id:
                params.update(
                    sequence=current.sequence,
                    gateway=current.gateway,
                    session=current.session_id,
                    resume=True,
                )
            metrics.RECONNECTS.labels("resume" if params.get("resume") else "reidentify").inc()
            delay = diagnosis.backoff_delay(
                failures, self.fleet.settings.backoff_base_s, self.fleet.settings.backoff_max_s
            )
            failures += 1
            self.set_state(
                "reconnecting", "discord_unavailable", f"{what}; reconnecting", retry_after_s=delay
            )
            await asyncio.sleep(delay)


def _http_diagnosis(exc: discord.HTTPException) -> Diagnosis:
    if exc.status == 429:
        return diagnosis.rate_limited(_retry_after(exc))
    if exc.status >= 500:
        return diagnosis.unavailable(f"HTTP {exc.status}")
    return diagnosis.crashed(exc)


def _sample_heartbeat(ws: DiscordWebSocket, last_ack: float | None) -> float | None:
    """One heartbeat sample per HEARTBEAT_ACK (discord.py stamps its handler); returns the
    ack time seen."""
    ack = last_heartbeat_ack(ws)
    if ack is not None and ack != last_ack:
        last_ack = ack
        if ws.latency != float("inf"):
            metrics.HEARTBEAT_SECONDS.observe(ws.latency)
    return last_ack


def _follow_reconnect(
    params: dict[str, Any], exc: ReconnectWebSocket, current: DiscordWebSocket | None
) -> None:
    """Discord asked to reconnect: RESUME the current session when it allows, else start a
    new one."""
    if current is not None:
        params.update(sequence=current.sequence, session=current.session_id, resume=exc.resume)
        params["gateway"] = current.gateway if exc.resume else None
    else:
        params.update(resume=False, gateway=None)
    if not exc.resume:
        params.update(session=None, sequence=None)


def _retry_after(exc: discord.HTTPException) -> float:
    response: Any = exc.response
    with contextlib.suppress(Exception):
        return float(response.headers.get("Retry-After", "5"))
    return 5.0
