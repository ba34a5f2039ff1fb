"""Wiring of command-service: which handlers answer which subjects."""

from __future__ import annotations

import logging

import orjson

from command_service.automations import AutomationService
from command_service.execution.cache import SetupCache
from command_service.execution.executor import Executor, SharedCooldowns
from command_service.execution.outbound import Guard, Outbound
from command_service.execution.templates import Renderer
from command_service.handlers import AutomationHandlers, Handlers, setup_loader
from command_service.models import SCHEMA
from command_service.service import ConfigService
from command_service.settings import Settings
from proto import commands as c
from proto.system import purge_spec, workspace_purge_spec
from services.bus.kv import Store, ensure_bucket
from services.bus.types import Msg
from services.keys import EncryptedColumn
from services.runtime import Route, ServiceDefinition, ServiceRuntime

log = logging.getLogger(__name__)


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.command.status."""
    settings = runtime.settings_as(Settings)
    renderer = Renderer(
        timeout_s=settings.render_timeout_ms / 1000,
        max_output=settings.render_max_chars,
        workers=settings.render_workers,
    )
    guard = Guard.from_list(settings.allow_hosts())
    outbound = Outbound(
        guard,
        max_bytes=settings.outbound_max_bytes,
        max_redirects=settings.outbound_max_redirects,
    )
    config = ConfigService(runtime.vault, renderer, guard, runtime.require_outbox())
    cache = SetupCache(setup_loader(runtime, config))

    async def publish(event: c.CommandExecuted) -> None:
        await runtime.events.publish("command", "executed", event)

    bucket = await ensure_bucket(runtime.js, c.COOLDOWN_BUCKET, ttl_s=float(c.MAX_COOLDOWN_S))
    executor = Executor(
        cache, renderer, outbound, publish, cooldowns=SharedCooldowns(Store(bucket))
    )
    h = Handlers(runtime, config, executor, cache, settings.execute_timeout_s)

    for spec, handler in _routes(h):
        runtime.rpc.register(spec, handler)
    runtime.rpc.register_all(AutomationHandlers(h, AutomationService(config.auditor)))

    async def on_changed(msg: Msg) -> None:
        try:
            event_id = orjson.loads(msg.data).get("id")
        except orjson.JSONDecodeError:
            event_id = None
        h.on_changed_event(msg.subject, event_id)

    async def on_bot_deleted(msg: Msg) -> None:
        try:
            await h.on_bot_deleted(msg.subject)
        except Exception:
            log.warning("could not remove the commands of a deleted bot", exc_info=True)

    # Core subscriptions (no queue group): every replica drops its own cache entries.
    sub_changed = await runtime.nc.subscribe("evt.command.*.*.changed", cb=on_changed)
    # One replica is enough to delete a deleted bot's rows.
    sub_deleted = await runtime.nc.subscribe(
        "evt.bot.*.*.deleted", queue="command", cb=on_bot_deleted
    )

    async def stop() -> None:
        for sub in (sub_changed, sub_deleted):
            try:
                await sub.unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        await outbound.close()
        renderer.close()

    runtime.on_stop(stop)


def _routes(h: Handlers) -> tuple[Route, ...]:
    return (
        (c.EXECUTE, h.execute),
        (c.MANIFEST, h.manifest),
        (c.IMPORT, h.import_),
        (c.LIST, h.list),
        (c.CREATE, h.create),
        (c.GET, h.get),
        (c.UPDATE, h.update),
        (c.DELETE, h.delete),
        (c.TEST, h.test),
        (c.PREVIEW, h.preview),
        (c.VARIABLES, h.variables),
        (c.SETTINGS_GET, h.settings_get),
        (c.SETTINGS_PUT, h.settings_put),
        (c.SYNC_STATUS, h.sync_status),
        (c.SYNC_REPORT, h.sync_report),
        (c.EXPORT, h.export),
        (c.PROMPT_LIST, h.prompts.list),
        (c.PROMPT_CREATE, h.prompts.create),
        (c.PROMPT_GET, h.prompts.get),
        (c.PROMPT_UPDATE, h.prompts.update),
        (c.PROMPT_DELETE, h.prompts.delete),
        (c.CONNECTION_LIST, h.connections.list),
        (c.CONNECTION_CREATE, h.connections.create),
        (c.CONNECTION_GET, h.connections.get),
        (c.CONNECTION_UPDATE, h.connections.update),
        (c.CONNECTION_DELETE, h.connections.delete),
        (c.CONNECTION_TEST, h.connection_test),
        (purge_spec("command"), h.purge),
        (workspace_purge_spec("command"), h.purge_workspace),
    )


SERVICE = ServiceDefinition(
    "command",
    Settings,
    setup,
    # Audit records of every change go out through the outbox (migration 0004).
    outbox=True,
    encrypted_columns=[
        EncryptedColumn(SCHEMA, "connections", "secret_enc"),
        EncryptedColumn(SCHEMA, "connections", "secret_headers_enc"),
    ],
)
