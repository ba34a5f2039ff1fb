"""`/healthz` (alive), `/readyz` (NATS, database and service checks) and `/metrics`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.runtime import ServiceRuntime
from services.telemetry import metrics


def metrics_route() -> Route:
    async def metrics_endpoint(_: Request) -> Response:
        body, content_type = metrics.render_latest()
        return Response(body, media_type=content_type)

    return Route("/metrics", metrics_endpoint, methods=["GET"])


def health_routes(runtime: ServiceRuntime, *, serve_metrics: bool = True) -> list[Route]:
    """The probes, and `/metrics` unless it is served on a port of its own."""

    async def healthz(_: Request) -> Response:
        # Liveness never depends on other services: a NATS outage must not restart pods.
        return JSONResponse({"status": "ok", "service": runtime.name})

    async def readyz(_: Request) -> Response:
        checks = await runtime.readiness()
        ok = all(checks.values())
        metrics.SERVICE_READY.labels(runtime.name).set(1 if ok else 0)
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return [*routes, metrics_route()] if serve_metrics else routes
