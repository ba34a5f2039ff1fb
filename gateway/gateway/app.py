"""The gateway's FastAPI app and its service definition."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import ORJSONResponse

from gateway import __version__
from gateway.audit import annotate as annotate_audit
from gateway.auth import Authn
from gateway.auth import install as install_auth
from gateway.docs import mount_docs
from gateway.errors import install_error_handlers
from gateway.inputs import check_request
from gateway.middleware import BodyLimitMiddleware, RequestContextMiddleware
from gateway.ratelimit import IpRateLimitMiddleware, RateLimiter
from gateway.routes import (
    audit,
    auth,
    automations,
    bots,
    commands,
    files,
    logs,
    status,
    workspaces,
)
from gateway.settings import Settings
from gateway.web import mount_web
from services.runtime import ServiceDefinition, ServiceRuntime

# Every API response carries these unless it sets its own (pages set their own CSP).
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

# The public API's areas, in the order the OpenAPI document lists them.
ROUTE_MODULES = (status, auth, workspaces, audit, bots, commands, automations, files, logs)


def response_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", API_CSP.encode()),
    ]
    hsts = settings.hsts_header
    if hsts is not None:
        headers.append((b"strict-transport-security", hsts.encode()))
    return headers


def create_app(runtime: ServiceRuntime, authn: Authn) -> FastAPI:
    settings = runtime.settings_as(Settings)
    app = FastAPI(
        title="botcenter API",
        version=__version__,
        # Served by gateway.docs without CDNs, under a strict CSP.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        default_response_class=ORJSONResponse,
        # Spans only: metrics are Prometheus (gateway.middleware) and logs go through
        # `logging`, so FastAPI need not look up OTel meter/logger providers per request.
        telemetry={"metrics": False, "logs": False},
        # Before any route's own parameters: text that no service can store is refused.
        dependencies=[Depends(check_request)],
    )
    app.state.runtime = runtime
    app.state.authn = authn
    install_error_handlers(app)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    annotate_audit(app)
    mount_docs(app)
    mount_web(app)  # the web console at / (after every router: its catch-all goes last)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(
        IpRateLimitMiddleware,
        general=RateLimiter(settings.rate_ip_per_s, settings.rate_ip_burst),
        login=RateLimiter(settings.rate_login_per_min / 60.0, settings.rate_login_burst),
        trusted_hops=settings.trusted_proxy_hops,
        enabled=settings.rate_limit_enabled,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-Id"],
            expose_headers=["Retry-After", "X-Request-Id"],
            max_age=600,
        )
    app.add_middleware(
        RequestContextMiddleware,
        response_headers=response_headers(settings),
        trusted_hops=settings.trusted_proxy_hops,
    )
    return app


class GatewayStart:
    """The gateway's two start steps: the kernel runs `setup`, then `http_app`, once per
    process; the authenticator that setup builds is handed to the app here, by argument."""

    def __init__(self) -> None:
        self.authn: Authn | None = None

    async def setup(self, runtime: ServiceRuntime) -> None:
        """The gateway serves no RPCs; it verifies callers and follows revocation events."""
        self.authn = await install_auth(runtime)

    def http_app(self, runtime: ServiceRuntime) -> FastAPI:
        if self.authn is None:
            raise RuntimeError("the kernel builds the app after setup")
        return create_app(runtime, self.authn)


_start = GatewayStart()

SERVICE = ServiceDefinition("gateway", Settings, _start.setup, http_app=_start.http_app)
