"""The gateway serves the built console: hashed assets cached for a year, SPA fallback,
API paths never answered with the page, nothing outside the build folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from gateway.errors import install_error_handlers
from gateway.web import mount_web


def _app(dist: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("GATEWAY_WEB_DIR", str(dist))
    app = FastAPI()
    install_error_handlers(app)
    api = APIRouter()

    @api.get("/v1/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(api)
    mount_web(app)
    return TestClient(app)


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><div id=root></div>")
    (d / "assets" / "index-abc123.js").write_text("console.log('hi');" * 50)
    (d / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("nope")
    return d


def test_hashed_assets_are_immutable_and_gzipped(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _app(dist, monkeypatch)
    r = c.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip"
    assert "javascript" in r.headers["content-type"]
    assert r.text.startswith("console.log")  # the client decompressed it
    raw = c.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content)


def test_spa_fallback_serves_the_page_without_caching(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _app(dist, monkeypatch)
    for path in ("/", "/bots/123/commands", "/index.html"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert "id=root" in r.text
        assert r.headers["cache-control"] == "no-cache"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert c.get("/favicon.svg").headers["cache-control"] == "public, max-age=3600"


def test_api_paths_stay_json(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _app(dist, monkeypatch)
    assert c.get("/v1/ping").json() == {"ok": True}
    r = c.get("/v1/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert c.get("/assets/old-build.js").status_code == 404


def test_nothing_outside_the_build_is_served(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _app(dist, monkeypatch)
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        r = c.get(path)
        assert "nope" not in r.text, path


def test_without_a_build_the_api_runs_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _app(tmp_path / "missing", monkeypatch)
    r = c.get("/")
    assert r.status_code == 200
    assert "not built" in r.text
    assert "/docs" in r.text
    assert c.get("/v1/ping").status_code == 200


def test_api_method_errors_are_unchanged(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _app(dist, monkeypatch)
    r = c.post("/v1/ping")
    assert r.status_code == 405
    assert "error" in r.json()
