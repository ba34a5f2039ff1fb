"""Starts one service: settings, logs, traces, NATS, database, RPC, HTTP; drains on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Generator
from typing import Any
from urllib.parse import unquote, urlsplit

import uvicorn
from starlette.applications import Starlette

from proto.base import Empty
from proto.system import SPECS as STATUS_SPECS
from proto.system import ServiceStatus
from services.bus import natsfast
from services.bus.connection import connect
from services.bus.events import EventPublisher, ensure_audit_stream, ensure_events_stream
from services.bus.kv import set_default_replicas
from services.bus.rpc import RpcClient, RpcContext, RpcServer
from services.db.engine import Database
from services.health import health_routes, metrics_route
from services.http_timeouts import BodyTimeoutMiddleware, SlowClientLimits, slow_client_protocol
from services.outbox import Outbox
from services.runtime import ServiceDefinition, ServiceRuntime
from services.settings import MissingSecretError, ServiceSettings, with_credentials
from services.telemetry import metrics
from services.telemetry.httpclients import instrument_http_clients
from services.telemetry.logs import setup_logging
from services.telemetry.sentry import setup_sentry
from services.telemetry.tracing import setup_tracing
from services.vault import Vault

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _system_url(url: str) -> str:
    """The service's system role: same server and password, user `<role>_system`."""
    parts = urlsplit(url)
    return with_credentials(
        url, f"{unquote(parts.username or '')}_system", unquote(parts.password or "")
    )


def open_database(settings: ServiceSettings) -> Database:
    """The service's connection pools (opened lazily), sized by its settings."""
    url = settings.db_url()
    if url is None:
        raise MissingSecretError("DATABASE_URL must be set (make run sets it for you)")
    return Database(
        url,
        system_url=_system_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
    )


async def build_runtime(definition: ServiceDefinition, settings: ServiceSettings) -> ServiceRuntime:
    # Configuration errors (missing secrets) first: they must not wait for a NATS connect.
    db = open_database(settings) if definition.migrations is not None else None
    vault = Vault.from_spec(settings.vault_keyring()) if definition.uses_vault else None
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    natsfast.configure(settings.bus_fast_path)
    nc = await connect(
        settings.nats_url,
        name=f"{definition.name}:{settings.instance}",
        user=settings.nats_user if password else None,
        password=password,
    )
    js = nc.jetstream()
    rpc = RpcServer(
        nc,
        definition.name,
        concurrency=settings.rpc_concurrency,
        timeout_s=settings.rpc_timeout_s,
        db=db,
    )
    runtime = ServiceRuntime(
        definition=definition,
        settings=settings,
        nc=nc,
        js=js,
        rpc=rpc,
        client=RpcClient(nc, definition.name, timeout_s=settings.rpc_timeout_s),
        events=EventPublisher(nc, definition.name, js),
        db=db,
        vault=vault,
        outbox=Outbox(definition.name) if definition.outbox else None,
    )
    _register_status(runtime)
    return runtime


def _register_status(runtime: ServiceRuntime) -> None:
    subject = f"rpc.{runtime.name}.status"
    for spec in STATUS_SPECS:
        if spec.subject == subject:

            async def status(_: Empty, __: RpcContext) -> ServiceStatus:
                return ServiceStatus(
                    service=runtime.name,
                    version=runtime.definition.version,
                    instance=runtime.settings.instance,
                    uptime_s=round(time.monotonic() - runtime.started_at, 3),
                )

            runtime.rpc.register(spec, status)


def _http_config(app: Any, host: str, port: int, limits: SlowClientLimits) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # Request headers and bodies within time (services.http_timeouts).
        http=slow_client_protocol(limits),
        # X-Forwarded-For is read by the gateway alone, through its trusted hops
        # (GATEWAY_TRUSTED_PROXY_HOPS); uvicorn's own reading would trust any loopback peer
        # (a sidecar proxy) with every address a client writes there.
        proxy_headers=False,
        log_config=None,
        access_log=False,
        lifespan="off",
        loop="none",
        timeout_graceful_shutdown=5,
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )


async def _start_http(service: str, name: str, config: uvicorn.Config) -> tuple[_Server, Any, int]:
    server = _Server(config)
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.01)
    if task.done():
        raise RuntimeError(f"{service}: {name} server failed to start")
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return server, task, port


async def serve(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> None:
    """Run until SIGTERM/SIGINT, then drain: stop taking work, finish it, close."""
    settings = settings or definition.settings_cls()
    setup_logging(definition.name, settings.log_level, settings.log_format)
    setup_tracing(definition.name, settings.otlp_endpoint)
    instrument_http_clients()
    setup_sentry(
        definition.name,
        version=definition.version,
        instance=settings.instance,
        environment=settings.mode.value,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    set_default_replicas(settings.nats_stream_replicas)
    runtime = await build_runtime(definition, settings)
    await ensure_events_stream(runtime.js)
    await ensure_audit_stream(runtime.js)
    await definition.setup(runtime)
    runtime.start_outbox_relay()
    await runtime.rpc.start()

    # With a metrics port, /metrics is served there only (never on the public HTTP port).
    metrics_apart = settings.metrics_port is not None
    if definition.http_app is not None:
        app: Any = definition.http_app(runtime)
        for route in health_routes(runtime, serve_metrics=not metrics_apart):
            app.router.routes.insert(0, route)
    else:
        app = Starlette(routes=health_routes(runtime, serve_metrics=not metrics_apart))
    limits = SlowClientLimits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        body_min_rate=settings.body_min_rate,
    )
    server, server_task, port = await _start_http(
        definition.name,
        "http",
        _http_config(
            BodyTimeoutMiddleware(app, limits), settings.http_host, settings.http_port, limits
        ),
    )
    servers = [(server, server_task)]
    if settings.metrics_port is not None:
        metrics_server, metrics_task, metrics_port = await _start_http(
            definition.name,
            "metrics",
            _http_config(
                Starlette(routes=[metrics_route()]),
                settings.http_host,
                settings.metrics_port,
                limits,
            ),
        )
        servers.append((metrics_server, metrics_task))
        runtime.metrics_url = f"http://{settings.http_host}:{metrics_port}"
    # Where this replica listens (log-service tells the gateway's websocket proxy).
    runtime.http_url = f"http://{settings.http_host}:{port}"
    # Until log-service reads runtime.http_url (its engineer is moving it; see #15).
    metrics.SERVICE_INFO.labels(definition.name, definition.version, settings.instance).set(1)
    log.info(
        "service ready",
        extra={
            "http": runtime.http_url,
            "metrics": runtime.metrics_url or runtime.http_url,
            "version": definition.version,
        },
    )
    # A machine-readable line for `botcenter up` and tests that start us with port 0.
    print(f"BOTCENTER_READY {definition.name} http://{settings.http_host}:{port}", flush=True)

    await stop.wait()
    log.info("draining")
    runtime.stopping = True
    await runtime.rpc.stop(settings.drain_timeout_s)
    await runtime.run_stop_hooks()
    for http_server, _ in servers:
        http_server.should_exit = True
    for _, task in servers:
        await task
    with contextlib.suppress(Exception):
        await runtime.nc.drain()
    if runtime.db is not None:
        await runtime.db.dispose()
    log.info("stopped")


def run(definition: ServiceDefinition) -> None:
    """Process entry point: uvloop, and a clear message instead of a traceback for bad config."""
    try:
        import uvloop

        uvloop.run(serve(definition))
    except MissingSecretError as exc:
        print(f"{definition.name}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ConnectionError as exc:
        print(f"{definition.name}: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
