"""Prometheus metrics shared by the kernel; services add their own next to their code."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

RPC_SERVER_SECONDS = Histogram(
    "botcenter_rpc_server_seconds",
    "Time to handle one RPC, by subject and result code.",
    ["service", "subject", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_CLIENT_SECONDS = Histogram(
    "botcenter_rpc_client_seconds",
    "Round trip of one RPC seen by the caller, by subject and result code.",
    ["caller", "subject", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_IN_FLIGHT = Gauge("botcenter_rpc_in_flight", "RPCs being handled right now.", ["service"])
EVENTS_PUBLISHED = Counter(
    "botcenter_events_published_total", "Events published to JetStream.", ["service", "domain"]
)
SERVICE_INFO = Gauge(
    "botcenter_service_info",
    "Always 1; labels say which service and version.",
    ["service", "version", "instance"],
)
SERVICE_READY = Gauge(
    "botcenter_service_ready", "1 when NATS and the database answer.", ["service"]
)


def render_latest() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
