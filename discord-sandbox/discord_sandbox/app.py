"""Wiring: one aiohttp application serving REST, Gateway, OAuth2/OIDC and the control API on a
single port, and `SandboxServer` to run it in-process (tests) or from the CLI."""

from __future__ import annotations

import logging
import socket
from typing import Any

from aiohttp import web

from . import control, control_members, google, oauth
from .config import ServerConfig
from .context import CTX, SandboxContext
from .gateway import HUB_KEY, gateway_handler
from .interactions import InteractionStore
from .jsonresp import json_response
from .oauth_store import OAuthStore
from .ratelimit import RateLimiter
from .routes_applications import router as applications_router
from .routes_guilds import router as guilds_router
from .routes_interactions import router as interactions_router
from .routes_members import router as members_router
from .routes_users import router as users_router
from .sessions import GatewayHub
from .snapshot import Snapshotter
from .state import SandboxState
from .stats import Stats
from .tls import server_context

log = logging.getLogger(__name__)
# Avatar uploads are data URIs of up to 10 MiB, base64-inflated.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
SNAPSHOT_KEY: web.AppKey[Snapshotter] = web.AppKey("snapshotter", Snapshotter)


def build_context(config: ServerConfig) -> SandboxContext:
    state = SandboxState()
    stats = Stats()
    holder: dict[str, SandboxContext] = {}
    hub = GatewayHub(state, config.tunables, stats, lambda: holder["ctx"].gateway_url)
    ctx = SandboxContext(
        config=config,
        state=state,
        stats=stats,
        hub=hub,
        limiter=RateLimiter(),
        interactions=InteractionStore(),
        oauth=OAuthStore(),
        base_url=config.base_url(),
    )
    holder["ctx"] = ctx
    return ctx


async def index(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return json_response(
        {
            "name": "discord-sandbox",
            "api": f"{ctx.base_url}/api/v10",
            "gateway": ctx.gateway_url,
            "oauth2_authorize": f"{ctx.base_url}/oauth2/authorize",
            "google_issuer": f"{ctx.base_url}/google",
            "control": f"{ctx.base_url}/_sandbox/",
        }
    )


async def cdn_avatar(request: web.Request) -> web.Response:
    """`{base}/avatars/{user_id}/{hash}.{ext}`, so discord.py's Asset URLs resolve when
    `discord.asset.Asset.BASE` points at the sandbox."""
    ctx = request.app[CTX]
    try:
        user = ctx.state.users[int(request.match_info["user_id"])]
    except (KeyError, ValueError):
        raise web.HTTPNotFound() from None
    wanted = request.match_info["filename"].rsplit(".", 1)[0]
    if user.avatar_bytes is None or wanted != user.avatar:
        raise web.HTTPNotFound()
    return web.Response(
        body=user.avatar_bytes, content_type=user.avatar_mime or "application/octet-stream"
    )


def create_app(config: ServerConfig, ctx: SandboxContext | None = None) -> web.Application:
    ctx = ctx or build_context(config)
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[CTX] = ctx
    app[HUB_KEY] = ctx.hub
    app.router.add_get("/", index)
    app.router.add_get("/gateway", gateway_handler)
    app.router.add_get("/gateway/", gateway_handler)
    app.router.add_get("/avatars/{user_id}/{filename}", cdn_avatar)
    control.install_routes(app)
    oauth.install(app)
    google.install(app)
    control.install_routes(app, control_members.ROUTES)
    routers = (users_router, applications_router, guilds_router, interactions_router)
    for router in (*routers, members_router):
        router.install(app)

    if config.state_file is not None:
        snapshotter = Snapshotter(config.state_file, ctx.state, ctx.oauth)
        if snapshotter.load_if_present():
            log.info("loaded sandbox state from %s", config.state_file)
        app[SNAPSHOT_KEY] = snapshotter

    async def on_startup(app: web.Application) -> None:
        if SNAPSHOT_KEY in app:
            app[SNAPSHOT_KEY].start()

    async def on_shutdown(app: web.Application) -> None:
        await ctx.hub.shutdown()

    async def on_cleanup(app: web.Application) -> None:
        if SNAPSHOT_KEY in app:
            await app[SNAPSHOT_KEY].stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


class SandboxServer:
    """Run the sandbox inside the current event loop.

    >>> async with SandboxServer(ServerConfig(port=0)) as server:
    ...     print(server.base_url)
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.context = build_context(config)
        self.app = create_app(config, self.context)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return self.context.base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    async def start(self) -> str:
        # Bind the socket ourselves so port 0 works and the real port is known up front.
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        port = sock.getsockname()[1]
        self.context.base_url = self.config.base_url(port)
        ssl_context = (
            server_context(self.config.cert_dir or _default_cert_dir()) if self.config.tls else None
        )
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=3.0)
        await self._runner.setup()
        site = web.SockSite(self._runner, sock, ssl_context=ssl_context, backlog=2048)
        await site.start()
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


def _default_cert_dir() -> Any:
    from pathlib import Path

    return Path.cwd() / ".botcenter" / "sandbox-tls"
