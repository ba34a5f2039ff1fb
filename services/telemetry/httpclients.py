"""Spans for outgoing HTTP calls (Discord REST, OAuth providers, users' API connections).

When tracing is on, httpx and aiohttp clients (discord.py talks to Discord through aiohttp)
get OpenTelemetry's client instrumentation: each request becomes a child span of the RPC
being handled and carries `traceparent`, so one trace runs from the gateway request to the
Discord REST call. Without tracing, or without the instrumentation packages, nothing is
patched. Request and response headers are not recorded (they carry bot tokens).
"""

from __future__ import annotations

import logging

from services.telemetry import tracing

log = logging.getLogger(__name__)


def instrument_http_clients() -> list[str]:
    """Instrument the HTTP client libraries that are installed; returns their names."""
    if not tracing.enabled():
        return []
    done: list[str] = []
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        instrumentor = HTTPXClientInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
        done.append("httpx")
    except ImportError:
        log.debug("opentelemetry-instrumentation-httpx is not installed")
    try:
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        aiohttp_instrumentor = AioHttpClientInstrumentor()
        if not aiohttp_instrumentor.is_instrumented_by_opentelemetry:
            aiohttp_instrumentor.instrument()
        done.append("aiohttp")
    except ImportError:
        log.debug("opentelemetry-instrumentation-aiohttp-client is not installed")
    return done
