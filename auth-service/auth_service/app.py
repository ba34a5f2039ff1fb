"""Wiring of auth-service: which handlers answer which subjects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from pydantic import ValidationError

from auth_service.handlers import Handlers
from auth_service.keys import KeyRing, SigningKey
from auth_service.providers import build_providers
from auth_service.repository import UserReader
from auth_service.service import AuthService, TeamService, UnknownBots, WorkspaceFile
from auth_service.settings import Settings
from proto import auth as P
from proto.access import Access
from proto.auth import KeyRetired, KeysRotated
from proto.bots import CHECK_BOT_IDS, CheckBotIds
from proto.errors import ErrorCode
from proto.events import Event
from proto.storage import GET_FILE, FileInfo, FileRef
from proto.system import PURGE_SPECS, PurgeUser, PurgeWorkspace, workspace_purge_spec
from services.bus.types import Msg
from services.db import Database
from services.db.engine import plain_url
from services.errors import RpcError
from services.keys import EncryptedColumn
from services.runtime import ServiceDefinition, ServiceRuntime

log = logging.getLogger(__name__)


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.auth.status."""
    settings = runtime.settings_as(Settings)
    db = runtime.require_db()
    settings.check_production()
    keys = KeyRing(
        db,
        runtime.require_vault(),
        alg=settings.signing_alg,
        rotation_days=settings.key_rotation_days,
        activation_s=settings.activation_delay_s,
        access_ttl_s=settings.access_ttl_s,
    )
    news = _KeyNews(runtime)
    await _follow_key_news(runtime, keys)
    await news.rotated(await keys.load())
    service = _auth_service(runtime, settings, db, keys)
    teams = TeamService(
        db,
        runtime.require_outbox(),
        service.purge_services,
        _workspace_purge(runtime, settings),
        _unknown_bots(runtime, settings),
        _workspace_file(runtime, settings),
    )
    handlers = Handlers(service, keys, settings, news.rotated, news.retired, teams)
    runtime.rpc.register_all(handlers)
    runtime.spawn(_keep_keys_fresh(settings, keys, news), name="auth-keys")
    # Apart, so that accounts whose services time out do not hold up workspaces (and back).
    runtime.spawn(_retry_purges(settings, service.retry_purges), name="auth-account-purges")
    runtime.spawn(_retry_purges(settings, teams.retry_purges), name="auth-workspace-purges")


class _KeyNews:
    """What this replica tells the others when it changes the signing keys."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    async def rotated(self, key: SigningKey | None) -> None:
        """Tell auth replicas, gateways and log-service that a new key is published."""
        if key is None:
            return
        signal = KeysRotated(kid=key.kid, active_from=datetime.fromtimestamp(key.active_from, UTC))
        await self._runtime.nc.publish(P.KEYS_ROTATED_SUBJECT, signal.model_dump_json().encode())

    async def retired(self, retired: KeyRetired) -> None:
        """Tell auth replicas to reload and verifiers to drop the key now."""
        await self._runtime.nc.publish(P.KEY_RETIRED_SUBJECT, retired.model_dump_json().encode())


async def _follow_key_news(runtime: ServiceRuntime, keys: KeyRing) -> None:
    """Reload the key ring when another replica rotates or retires a key."""

    async def on_rotated(msg: Msg) -> None:
        try:
            signal = KeysRotated.model_validate_json(msg.data)
        except ValidationError:
            return
        if signal.kid in keys.known_kids:
            return
        await _reload(keys)

    async def on_retired(msg: Msg) -> None:
        try:
            retired = KeyRetired.model_validate_json(msg.data)
        except ValidationError:
            return
        if retired.kid not in keys.known_kids and retired.signing_kid in keys.known_kids:
            return  # this replica retired it (or has reloaded since)
        await _reload(keys)

    subs = [
        await runtime.nc.subscribe(P.KEYS_ROTATED_SUBJECT, cb=on_rotated),
        await runtime.nc.subscribe(P.KEY_RETIRED_SUBJECT, cb=on_retired),
    ]

    async def unsubscribe() -> None:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    runtime.on_stop(unsubscribe)


async def _reload(keys: KeyRing) -> None:
    try:
        await keys.load()
    except Exception:
        log.exception("could not reload signing keys")


def _auth_service(
    runtime: ServiceRuntime, settings: Settings, db: Database, keys: KeyRing
) -> AuthService:
    async def publish(kind: str, event: Event) -> None:
        await runtime.events.publish("auth", kind, event)

    purge_specs = {spec.service: spec for spec in PURGE_SPECS}

    async def purge(service: str, user_id: UUID) -> int:
        result = await runtime.client.call(
            purge_specs[service],
            PurgeUser(user_id=user_id),
            user_id=user_id,
            timeout_s=settings.purge_timeout_s,
        )
        return result.removed

    reader = UserReader(plain_url(db.engine.url.render_as_string(hide_password=False)))
    runtime.on_stop(reader.close)
    return AuthService(
        settings,
        db,
        keys,
        build_providers(settings),
        publish,
        purge,
        list(purge_specs),
        reader,
        runtime.require_outbox(),
    )


def _workspace_purge(
    runtime: ServiceRuntime, settings: Settings
) -> Callable[[str, UUID], Awaitable[int]]:
    async def purge(service: str, workspace_id: UUID) -> int:
        spec = workspace_purge_spec(service)
        if spec.planned:
            # Not served yet, so auth may not publish it (NATS permissions): pending until
            # the service's release serves it, then the retry pass reaches it.
            raise RpcError(
                ErrorCode.UNAVAILABLE, f"the {service} service does not purge workspaces yet"
            )
        # On auth's own behalf: the member who asked has no access to the workspace left.
        result = await runtime.client.call(
            spec,
            PurgeWorkspace(workspace_id=workspace_id),
            access=Access.system_for("auth", workspace_id),
            timeout_s=settings.purge_timeout_s,
        )
        return result.removed

    return purge


def _unknown_bots(runtime: ServiceRuntime, settings: Settings) -> UnknownBots:
    async def unknown(access: Access, workspace_id: UUID, bot_ids: list[UUID]) -> list[UUID]:
        result = await runtime.client.call(
            CHECK_BOT_IDS,
            CheckBotIds(workspace_id=workspace_id, bot_ids=bot_ids),
            user_id=access.user_id,
            access=access,
            timeout_s=settings.peer_timeout_s,
        )
        return result.unknown

    return unknown


def _workspace_file(runtime: ServiceRuntime, settings: Settings) -> WorkspaceFile:
    async def file(access: Access, file_id: UUID) -> FileInfo:
        return await runtime.client.call(
            GET_FILE,
            FileRef(file_id=file_id),
            user_id=access.user_id,
            access=access,
            timeout_s=settings.peer_timeout_s,
        )

    return file


async def _keep_keys_fresh(settings: Settings, keys: KeyRing, news: _KeyNews) -> None:
    while True:
        await asyncio.sleep(settings.key_refresh_s)
        try:
            await news.rotated(await keys.load())
        except Exception:
            log.exception("could not reload signing keys")


async def _retry_purges(settings: Settings, one_pass: Callable[[], Awaitable[int]]) -> None:
    while True:
        await asyncio.sleep(settings.purge_retry_s)
        with contextlib.suppress(Exception):
            await one_pass()


SERVICE = ServiceDefinition(
    "auth",
    Settings,
    setup,
    encrypted_columns=[EncryptedColumn("auth", "signing_keys", "private_key", id_column="kid")],
    outbox=True,
)
