"""One trace from a gateway request down to the Discord REST call: POST /v1/bots makes the
gateway call rpc.bot.create, and bot-service checks the token with GET /users/@me on
Discord (the sandbox). Every span, exported by OTLP from three processes, has the caller's
trace id, and the Discord call hangs below bot-service's RPC span."""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from services.devstack.embedded import free_port
from tests.fixtures.auth import auth_env, sign_in
from tests.fixtures.infra import ServiceStarter, apoll
from tests.fixtures.sandbox import SandboxControl, SandboxProcess

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry.instrumentation.httpx") is None,
    reason="opentelemetry-instrumentation-httpx is not installed",
)


class Collector:
    """A minimal OTLP/HTTP trace receiver: stores (service, span) pairs."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, object]] = []

    async def handle(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for rs in export.resource_spans:
            service = next(
                (a.value.string_value for a in rs.resource.attributes if a.key == "service.name"),
                "?",
            )
            for ss in rs.scope_spans:
                for span in ss.spans:
                    self.spans.append((service, span))
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")


@pytest.fixture
async def otlp_collector() -> AsyncIterator[tuple[Collector, str]]:
    col = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", col.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield col, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _attr(span: object, key: str) -> str:
    for attr in span.attributes:  # type: ignore[attr-defined]
        if attr.key == key:
            return str(attr.value.string_value or attr.value.int_value)
    return ""


async def test_a_gateway_request_is_traced_to_the_discord_rest_call(
    start_service: ServiceStarter,
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    otlp_collector,
) -> None:
    col, endpoint = otlp_collector
    env = auth_env(sandbox)
    start_service("auth", **env)
    traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    start_service("bot", **env, **traced)
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **env, **traced)
    alice = await sign_in(gateway.url, sandbox)
    app = await sandbox_control.create_application("Traced Bot")

    trace_id = secrets.token_hex(16)
    caller_span = secrets.token_hex(8)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as http:
        created = await http.post(
            "/v1/bots",
            json={"token": app.token},
            headers={**alice.headers, "traceparent": f"00-{trace_id}-{caller_span}-01"},
        )
    assert created.status_code == 201, created.text

    def spans():
        return [(svc, s) for svc, s in col.spans if s.trace_id.hex() == trace_id]

    def discord_calls():
        return [s for svc, s in spans() if svc == "bot" and "/users/@me" in (
            _attr(s, "url.full") + _attr(s, "http.url"))]

    def complete() -> bool:
        names = {(svc, s.name) for svc, s in spans()}
        return {("gateway", "POST /v1/bots"), ("gateway", "rpc rpc.bot.create"),
                ("bot", "rpc rpc.bot.create")} <= names and bool(discord_calls())

    await apoll(complete, timeout_s=20, what="spans from gateway, bot-service and its Discord call")
    by_id = {s.span_id: (svc, s) for svc, s in spans()}
    handled = next(s for svc, s in spans() if svc == "bot" and s.name == "rpc rpc.bot.create")
    client = next(s for svc, s in spans() if svc == "gateway" and s.name == "rpc rpc.bot.create")
    assert handled.parent_span_id == client.span_id
    for call in discord_calls():
        ancestors = []
        current = call
        while current.parent_span_id in by_id:
            current = by_id[current.parent_span_id][1]
            ancestors.append(current.span_id)
        assert handled.span_id in ancestors
        # The bot token travels in a header, which the instrumentation never records.
        assert app.token not in str(call)
