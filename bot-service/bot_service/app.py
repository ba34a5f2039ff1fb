"""Wiring of bot-service: which handlers answer which subjects."""

from __future__ import annotations

import logging

from bot_service.desired import BUCKET, DesiredMirror
from bot_service.discord_rest import DiscordRest
from bot_service.fleet import build_fleet
from bot_service.fleetview import FleetView
from bot_service.handlers import BotHandlers
from bot_service.livestatus import LiveStatus
from bot_service.service import BotService, cdn_base
from bot_service.settings import Settings
from bot_service.tokens import TOKEN_COLUMN
from bot_service.tryit import SandboxTry
from services.bus.kv import ensure_bucket
from services.runtime import ServiceDefinition, ServiceRuntime

log = logging.getLogger(__name__)


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.bot.status."""
    settings = runtime.settings_as(Settings)
    db, vault = runtime.require_db(), runtime.require_vault()

    rest = DiscordRest(settings.discord_api_url, timeout_s=settings.discord_timeout_s)
    runtime.on_stop(rest.aclose)
    mirror = DesiredMirror(db, await ensure_bucket(runtime.js, BUCKET))
    sandbox = SandboxTry(settings.discord_base_url)
    runtime.on_stop(sandbox.aclose)
    live = LiveStatus()
    handlers = BotHandlers(
        db=db,
        bots=BotService(
            vault,
            rest,
            max_bots_per_user=settings.max_bots_per_user,
            outbox=runtime.require_outbox(),
        ),
        mirror=mirror,
        fleet=FleetView(runtime.js),
        events=runtime.events,
        delete_stop_timeout_s=settings.delete_stop_timeout_s,
        live=live,
        sandbox=sandbox,
        cdn=cdn_base(settings.discord_base_url),
    )
    runtime.rpc.register_all(handlers)

    # Postgres is the source of truth: mirror every bot to `bot_desired` before serving
    # (and drop keys of bots that no longer exist).
    written, removed = await mirror.resync_all()
    log.info("desired state mirrored", extra={"bots": written, "stale_removed": removed})

    # ---- FLEET: the fleet engineer starts the live connections here (one line). ----
    fleet = build_fleet(runtime, avatars=handlers)
    live.fleet = fleet  # before it starts, so the bots list reads it as soon as it can
    await fleet.start()
    # ---- end FLEET ----


SERVICE = ServiceDefinition(
    "bot", Settings, setup, encrypted_columns=[TOKEN_COLUMN], outbox=True
)
