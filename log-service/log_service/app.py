"""Wiring of log-service: which handlers answer which subjects, and its background work."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from log_service import metrics
from log_service.audit_pruner import run_audit_pruner
from log_service.handlers import Handlers
from log_service.ingest.audit import run_audit_lane
from log_service.ingest.store import Partitions, run_maintenance
from log_service.ingest.worker import run_worker
from log_service.settings import Settings
from log_service.stream.auth import (
    RESOLVE_TIMEOUT_S,
    AccessResolver,
    JwtAuthenticator,
    Revocations,
    TicketStore,
)
from log_service.stream.context import StreamAddress, StreamContext
from log_service.stream.fastws import FastStreamServer
from log_service.stream.http import create_stream_app
from log_service.stream.hub import Hub
from proto.access import AccessQuery, AccessSnapshot
from proto.auth import CHECK_API_TOKEN, JWKS, ApiTokenPrincipal, CheckApiToken, Jwks
from proto.base import Empty
from proto.bots import GET_BOT, BotRef
from proto.workspaces import ACCESS_GET, AUDIT_RETENTION_GET, AuditRetentionQuery
from services.authn import (
    AccessTokenVerifier,
    PersonalTokenCache,
    replay_access_window,
    watch_revocations,
)
from services.bus.kv import Store, ensure_bucket
from services.bus.rpc import RpcClient
from services.errors import peer_answer
from services.runtime import ServiceDefinition, ServiceRuntime

TICKETS_BUCKET = "log_stream_tickets"
# Shorter than the gateway's deadline for the whole request, so a bot-service that does
# not answer is reported as such (503) rather than as the gateway's own timeout.
BOT_LOOKUP_TIMEOUT_S = 3.0
log = logging.getLogger(__name__)


class BotDirectory:
    """Which workspace a bot is in, asked of bot-service as the served request's caller
    (the kernel forwards their access): NOT_FOUND for a bot they cannot see."""

    def __init__(self, client: RpcClient, timeout_s: float = BOT_LOOKUP_TIMEOUT_S) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def workspace_of(self, bot_id: UUID) -> UUID:
        bot = await peer_answer(
            "bot", self.client.call(GET_BOT, BotRef(bot_id=bot_id), timeout_s=self.timeout_s)
        )
        return bot.workspace_id


class LogService:
    """`setup` and `http_app` of the process's log-service: the runner calls `setup` first,
    which builds the stream the HTTP routes then serve."""

    def __init__(self) -> None:
        self.stream: StreamContext | None = None

    async def setup(self, runtime: ServiceRuntime) -> None:
        self.stream = await setup(runtime)

    def http_app(self, runtime: ServiceRuntime) -> Any:
        assert self.stream is not None, "http_app is built after setup"
        return create_stream_app(self.stream)


async def setup(runtime: ServiceRuntime) -> StreamContext:
    settings = runtime.settings_as(Settings)
    db = runtime.require_db()
    stopping = asyncio.Event()

    kv = await ensure_bucket(runtime.js, TICKETS_BUCKET, ttl_s=settings.stream_ticket_ttl_s)
    tickets = TicketStore(Store(kv), settings.stream_ticket_ttl_s)
    address = StreamAddress(
        settings,
        lambda: runtime.http_url,
    )
    bots = BotDirectory(runtime.client)
    handlers = Handlers(db, settings, tickets, address, bots.workspace_of)
    runtime.rpc.register_all(handlers)

    partitions = Partitions(db, settings)
    await partitions.maintain()
    runtime.spawn(
        run_maintenance(partitions, settings.maintenance_interval_s, stopping),
        name="log-partitions",
    )
    for i in range(settings.ingest_workers):
        runtime.spawn(
            run_worker(runtime.nc, runtime.js, db, partitions, settings, stopping),
            name=f"log-ingest-{i}",
        )

    for i in range(settings.audit_workers):
        runtime.spawn(
            run_audit_lane(runtime.nc, runtime.js, db, settings, stopping),
            name=f"log-audit-{i}",
        )

    async def retentions(workspace_ids: list[UUID]) -> dict[UUID, int]:
        query = AuditRetentionQuery(workspace_ids=workspace_ids)
        return (await runtime.client.call(AUDIT_RETENTION_GET, query, timeout_s=10.0)).days

    runtime.spawn(run_audit_pruner(db, retentions, settings, stopping), name="log-audit-pruner")

    async def fetch_jwks() -> Jwks:
        return await runtime.client.call(JWKS, Empty(), timeout_s=5.0)

    async def check_token(token: str) -> ApiTokenPrincipal:
        return await runtime.client.call(
            CHECK_API_TOKEN, CheckApiToken(token=token), timeout_s=5.0
        )

    verifier = AccessTokenVerifier(fetch_jwks)
    # Only its memory of revoked personal tokens is used (for tickets they asked for); it
    # must outlive a ticket, which may be redeemed up to its TTL after it was issued.
    tokens = PersonalTokenCache(check_token, ttl_s=settings.stream_ticket_ttl_s + 60.0)
    revocations = Revocations(verifier, tokens)

    async def fetch_access(user_id: UUID) -> AccessSnapshot:
        return await runtime.client.call(
            ACCESS_GET, AccessQuery(user_id=user_id), timeout_s=RESOLVE_TIMEOUT_S
        )

    hub = Hub(runtime.js, db, settings, revocations, AccessResolver(fetch_access))
    await hub.start()
    metrics.STREAM_BUFFERED.set_function(hub.buffered_bytes)
    subs = await watch_revocations(runtime.nc, verifier, tokens)
    runtime.ready_check("revocations", _replayed(hub))
    try:
        await replay_access_window(runtime.js, verifier, tokens)
        hub.replayed = True
    except Exception:
        log.warning("revocation replay failed; retrying in the background", exc_info=True)
        runtime.spawn(_replay_until_done(runtime, verifier, tokens, hub), name="log-replay")
    authenticator = JwtAuthenticator(verifier)
    fast: FastStreamServer | None = None
    if settings.stream_server == "picows":
        fast = FastStreamServer(hub, authenticator, tickets, settings)
        address.fast_url = await fast.start()

    # Ingestion makes many short-lived objects; with the default thresholds the collector's
    # full passes over a large heap stalled the live stream for hundreds of milliseconds.
    # Start-up objects go to the permanent generation and young collections run less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)

    async def stop() -> None:
        stopping.set()
        for sub in subs:
            await sub.unsubscribe()
        await hub.stop()
        if fast is not None:
            await fast.stop()

    runtime.on_stop(stop)
    return StreamContext(hub, authenticator, tickets, address, settings)


def _replayed(hub: Hub) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return hub.replayed

    return check


async def _replay_until_done(
    runtime: ServiceRuntime, verifier: AccessTokenVerifier, tokens: PersonalTokenCache, hub: Hub
) -> None:
    delay = 0.5
    while not hub.replayed:
        await asyncio.sleep(delay)
        try:
            await replay_access_window(runtime.js, verifier, tokens)
            hub.replayed = True
        except Exception:
            delay = min(delay * 2, 10.0)


_service = LogService()

SERVICE = ServiceDefinition("log", Settings, _service.setup, http_app=_service.http_app)
