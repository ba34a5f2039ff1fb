"""The web console's static files (`web/dist`, built by `make run`) served at `/`.

- `/assets/*` are content-hashed by Vite: cached for a year, `immutable`.
- Every other GET that is not an API path gets `index.html` (the SPA's router decides),
  with `no-cache` so a new build is picked up at once, and a strict CSP.
- Text assets are gzipped once and kept in memory (they never change under their name).
- API paths (`/v1/…`, `/docs`, `/openapi.json`, `/.well-known/…`) never fall back to the
  page: the route does not even match them, so the API keeps its JSON 404s and 405s.
- No build (Node missing): `/` says so and points at the API docs.

`mount_web(app)` must run after every router is included: its catch-all route goes last.
"""

from __future__ import annotations

import gzip
import mimetypes
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.routing import Match, Route
from starlette.types import Scope

from proto.errors import ErrorCode
from services.errors import RpcError

REPO_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
API_PREFIXES = (
    "v1/",
    "docs",
    "redoc",
    "openapi.json",
    ".well-known/",
    "healthz",
    "readyz",
    "metrics",
)
COMPRESSIBLE = (".js", ".css", ".html", ".svg", ".json", ".txt", ".map", ".webmanifest")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: http: https:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>botcenter</title>"
    "<h1>botcenter API</h1><p>The web console is not built on this server "
    "(Node.js was not found when it started). The API runs alone: see "
    "<a href='/docs'>/docs</a>.</p>"
)


class WebSettings(BaseSettings):
    """`GATEWAY_WEB_DIR`: the built console (default: the repository's `web/dist`)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")
    web_dir: Path | None = None


@lru_cache(maxsize=256)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=mtime_ns // 1_000_000_000)


def _file_response(path: Path, request: Request, cache_control: str) -> Response:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type in (
        "application/javascript",
        "text/javascript",
    ):
        media_type += "; charset=utf-8"
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
    if path.suffix in COMPRESSIBLE:
        headers["Vary"] = "Accept-Encoding"
        if accepts_gzip:
            body = _gzipped(path, path.stat().st_mtime_ns)
            headers["Content-Encoding"] = "gzip"
            return Response(body, media_type=media_type, headers=headers)
    return Response(path.read_bytes(), media_type=media_type, headers=headers)


def _inside(root: Path, rel: str) -> Path | None:
    if not rel or "\x00" in rel:
        return None
    candidate = (root / rel).resolve()
    if candidate != root and root not in candidate.parents:
        return None
    return candidate if candidate.is_file() else None


class _PageRoute(Route):
    """Matches every GET/HEAD except API paths, so the API keeps its own 404s and 405s."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].lstrip("/").startswith(API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


def mount_web(app: FastAPI) -> None:
    configured = WebSettings().web_dir
    root = (configured or REPO_DIST).resolve()

    async def web(request: Request) -> Response:
        path = str(request.path_params["path"])
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers={"Cache-Control": "no-cache"})
        found = _inside(root, path)
        if found is not None and found.name != "index.html":
            hashed = path.startswith("assets/")
            return _file_response(found, request, IMMUTABLE if hashed else "public, max-age=3600")
        if path.startswith("assets/"):
            # A stale page asking for a file of an older build: a plain 404, not the page.
            raise RpcError(ErrorCode.NOT_FOUND, "this file is not part of the current build")
        response = _file_response(index, request, "no-cache")
        response.headers.update(PAGE_HEADERS)
        return response

    app.router.routes.append(_PageRoute("/{path:path}", web, methods=["GET", "HEAD"]))
