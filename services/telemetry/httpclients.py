"""Spans for outgoing HTTP calls (Discord REST, OAuth providers, users' API connections).

When tracing is on, httpx and aiohttp clients (discord.py talks to Discord through aiohttp)
get OpenTelemetry's client instrumentation: each request becomes a child span of the RPC
being handled and carries `traceparent`, so one trace runs from the gateway request to the
Discord REST call. Without tracing, or without the instrumentation packages, nothing is
patched. Request and response headers are not recorded (they carry bot tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.telemetry import tracing

log = logging.getLogger(__name__)


def instrument_http_clients() -> list[str]:
    """Instrument the HTTP client libraries that are installed; returns their names."""
    if not tracing.enabled():
        return []
    clients = [
        ("httpx", _httpx, "opentelemetry-instrumentation-httpx"),
        ("aiohttp", _aiohttp, "opentelemetry-instrumentation-aiohttp-client"),
    ]
    return [name for name, load, package in clients if _instrument(load, package)]


def _instrument(load: Callable[[], Any], package: str) -> bool:
    """Instrument one client library once; False when its instrumentation is not installed."""
    try:
        instrumentor = load()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    except ImportError:
        log.debug("%s is not installed", package)
        return False
    return True


# The imports stay inside: each instrumentation package is optional.
def _httpx() -> Any:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    return HTTPXClientInstrumentor()


def _aiohttp() -> Any:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    return AioHttpClientInstrumentor()
