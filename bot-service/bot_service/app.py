"""Wiring of bot-service: which handlers answer which subjects."""

from __future__ import annotations

import logging
from pathlib import Path

from bot_service import __version__
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
from proto import bots as P
from proto.system import PURGE_SPECS
from services.bus.kv import ensure_bucket
from services.runtime import ServiceDefinition, ServiceRuntime

log = logging.getLogger(__name__)


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.bot.status."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    assert runtime.db is not None
    assert runtime.vault is not None
    db, vault = runtime.db, runtime.vault

    rest = DiscordRest(settings.discord_api_url, timeout_s=settings.discord_timeout_s)
    runtime.on_stop(rest.aclose)
    mirror = DesiredMirror(db, await ensure_bucket(runtime.js, BUCKET))
    sandbox = SandboxTry(settings.discord_base_url)
    runtime.on_stop(sandbox.aclose)
    live = LiveStatus()
    handlers = BotHandlers(
        db=db,
        bots=BotService(vault, rest, max_bots_per_user=settings.max_bots_per_user),
        mirror=mirror,
        fleet=FleetView(runtime.js),
        events=runtime.events,
        delete_stop_timeout_s=settings.delete_stop_timeout_s,
        live=live,
        sandbox=sandbox,
        cdn=cdn_base(settings.discord_base_url),
    )
    rpc = runtime.rpc
    rpc.register(P.CREATE_BOT, handlers.create)
    rpc.register(P.LIST_BOTS, handlers.list_bots)
    rpc.register(P.READ_BOT, handlers.read)
    rpc.register(P.GET_BOT, handlers.summary)
    rpc.register(P.UPDATE_BOT, handlers.update)
    rpc.register(P.DELETE_BOT, handlers.delete)
    rpc.register(P.REPLACE_TOKEN, handlers.replace_token)
    rpc.register(P.START_BOT, handlers.start)
    rpc.register(P.STOP_BOT, handlers.stop)
    rpc.register(P.RESTART_BOT, handlers.restart)
    rpc.register(P.SANDBOX_INFO, handlers.sandbox_info)
    rpc.register(P.TRY_COMMAND, handlers.try_command)
    purge = next(s for s in PURGE_SPECS if s.subject == "rpc.bot.user.purge")
    rpc.register(purge, handlers.purge_user)

    # Postgres is the source of truth: mirror every bot to `bot_desired` before serving
    # (and drop keys of bots that no longer exist).
    written, removed = await mirror.resync_all()
    log.info("desired state mirrored", extra={"bots": written, "stale_removed": removed})

    # ---- FLEET: the fleet engineer starts the live connections here (one line). ----
    fleet = build_fleet(runtime, on_avatar_applied=handlers.avatar_applied)
    live.fleet = fleet  # before it starts, so the bots list reads it as soon as it can
    await fleet.start()
    # ---- end FLEET ----


SERVICE = ServiceDefinition(
    name="bot",
    version=__version__,
    settings_cls=Settings,
    setup=setup,
    migrations=Path(__file__).parent / "migrations",
    uses_vault=True,
    encrypted_columns=[TOKEN_COLUMN],
)
