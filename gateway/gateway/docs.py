"""The API documentation pages, `/docs` (Swagger UI) and `/redoc`, without third parties.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (cdn.jsdelivr.net, Google Fonts,
a favicon from fastapi.tiangolo.com) and start Swagger UI with an inline script, so no
strict Content-Security-Policy fits them. Here the same assets come from the
`fastapi-offline` wheel (Swagger UI 5 and ReDoc 2 bundles, installed from PyPI) and are
served by the gateway under `/docs/assets/`, Swagger UI is started by a script file of
ours, and both pages carry `DOCS_CSP`: scripts, styles and requests only from this origin
(`'unsafe-inline'` for styles only: ReDoc's styled-components inject `<style>` tags; its
search runs in a worker made from a `blob:` URL), and `frame-ancestors 'none'`.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from proto.errors import ErrorCode
from services.errors import RpcError

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_VENDOR = Path(fastapi_offline.__file__).resolve().parent / "static"
_OURS = Path(__file__).resolve().parent / "docs_static"
# The only files served under /docs/assets/ (name -> file, media type).
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript; charset=utf-8"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OURS / "swagger-init.js", "text/javascript; charset=utf-8"),
}
ASSET_CACHE = "public, max-age=3600"


@cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def _page(title: str, head: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel=icon type=image/png href="{root}/docs/assets/favicon.png">'
        f"{head}</head><body>{body}</body></html>"
    )


_SWAGGER = _page(
    "{title} - Swagger UI",
    '<link rel=stylesheet href="{root}/docs/assets/swagger-ui.css">',
    '<div id=swagger-ui data-openapi-url="{openapi}"></div>'
    '<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>'
    '<script src="{root}/docs/assets/swagger-init.js"></script>',
)
_REDOC = _page(
    "{title} - ReDoc",
    "",
    '<redoc spec-url="{openapi}"></redoc>'
    '<script src="{root}/docs/assets/redoc.standalone.js"></script>',
)


def mount_docs(app: FastAPI) -> None:
    """`/docs`, `/redoc` and their assets (create the app with docs_url=redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = html.escape(app.title)

    def render(template: str, request: Request) -> HTMLResponse:
        root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"))
        page = template.format(root=root, openapi=f"{root}{openapi_url}", title=title)
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        return render(_SWAGGER, request)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return render(_REDOC, request)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            raise RpcError(ErrorCode.NOT_FOUND, "no such documentation asset")
        path, media_type = found
        return Response(
            _read(path),
            media_type=media_type,
            headers={"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"},
        )
