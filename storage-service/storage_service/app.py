"""Wiring of storage-service: which handlers answer which subjects."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from proto.bots import APPLY_AVATAR, GET_BOT, ApplyAvatar, AvatarApplied, BotRef
from proto.events import Event
from services.bus.rpc import RpcClient
from services.runtime import ServiceDefinition, ServiceRuntime
from services.settings import MissingSecretError
from services.telemetry.redaction import register_secret
from storage_service.handlers import Handlers
from storage_service.objects import (
    FsStore,
    GuardedStore,
    ObjectStore,
    S3Store,
    parse_s3_url,
)
from storage_service.service import StorageService
from storage_service.settings import Settings
from storage_service.workers import Processor

log = logging.getLogger(__name__)


class BotServiceAvatars:
    """The `BotAvatars` port over NATS: bot-service sets the avatar on Discord. Calls go
    with the served request's caller (the kernel forwards its access)."""

    def __init__(self, client: RpcClient, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def workspace_of(self, bot_id: UUID) -> UUID:
        bot = await self.client.call(GET_BOT, BotRef(bot_id=bot_id), timeout_s=self.timeout_s)
        return bot.workspace_id

    async def apply(self, bot_id: UUID, data: bytes, content_type: str) -> AvatarApplied:
        return await self.client.call(
            APPLY_AVATAR,
            ApplyAvatar(bot_id=bot_id, content_type=content_type),
            body=data,
            timeout_s=self.timeout_s,
        )


_DEV_S3_KEY = ("botcenter", "botcenter-dev")


def build_store(settings: Settings) -> ObjectStore:
    if settings.s3_url:
        _, _, url_key, url_secret, _ = parse_s3_url(settings.s3_url)
        key = url_key or settings.s3_access_key
        secret = url_secret or (
            settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        )
        if key is None or secret is None:
            if settings.production:
                raise MissingSecretError(
                    "S3 credentials must be set in production: in S3_URL "
                    "(http://KEY:SECRET@host) or STORAGE_S3_ACCESS_KEY/STORAGE_S3_SECRET_KEY"
                )
            key, secret = key or _DEV_S3_KEY[0], secret or _DEV_S3_KEY[1]
        register_secret(secret)
        return S3Store(
            settings.s3_url,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            access_key=key,
            secret_key=secret,
            public_url=settings.s3_public_url,
        )
    return FsStore(settings.fs_root or settings.data_dir / "objects")


async def _ensure_later(store: ObjectStore) -> None:
    delay = 0.5
    while True:
        await asyncio.sleep(delay)
        try:
            await store.ensure()
        except Exception:
            delay = min(delay * 2, 15.0)
            continue
        log.info("object store reachable")
        return


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.storage.status."""
    settings = runtime.settings_as(Settings)
    db = runtime.require_db()
    store = GuardedStore(build_store(settings))
    try:
        await store.ensure()
    except Exception:
        # S3 not up yet (e.g. MinIO still starting): keep trying; until then readiness
        # is false and uploads answer 503.
        log.warning("object store not reachable at start; retrying", exc_info=True)
        runtime.spawn(_ensure_later(store), name="storage-ensure-bucket")
    processor = Processor(settings.processing_pool, settings.processing_workers)

    async def publish(kind: str, event: Event) -> None:
        # An event that cannot be published must not undo what the user asked for.
        try:
            await runtime.events.publish("storage", kind, event)
        except Exception:
            log.warning("could not publish %s event", kind, exc_info=True)

    service = StorageService(
        settings,
        store,
        processor,
        BotServiceAvatars(runtime.client, settings.apply_timeout_s),
        publish,
        runtime.require_outbox(),
    )
    handlers = Handlers(service, db)
    runtime.rpc.register_all(handlers)
    runtime.ready_check("object_store", store.ping)

    async def close_pool() -> None:
        processor.close()

    runtime.on_stop(close_pool)


SERVICE = ServiceDefinition("storage", Settings, setup, outbox=True)
