"""Response headers of the real gateway: `nosniff` and a restrictive CSP on every API
answer (errors from the routes and from the middlewares alike), HSTS in production or
behind an https public URL, the documentation pages under a strict CSP with nothing
loaded from third parties, and an anonymous `/v1/status` that tells only whether the
service is up."""

from __future__ import annotations

import re

import httpx

from gateway.settings import Settings
from tests.fixtures.auth import sign_in


def _api_headers(r: httpx.Response, what: str) -> None:
    assert r.headers.get("x-content-type-options") == "nosniff", (what, dict(r.headers))
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp, (what, csp)
    assert "frame-ancestors 'none'" in csp, (what, csp)


async def test_every_api_answer_carries_nosniff_and_a_restrictive_csp(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    # A replica whose limits are easy to reach: the 413 and 429 come from middlewares.
    tight = stack.extra_gateway(
        GATEWAY_MAX_BODY_BYTES="2048", GATEWAY_RATE_IP_BURST="3", GATEWAY_RATE_IP_PER_S="0.01"
    )
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as api:
        answers = {
            "200": await api.get("/v1/me", headers=alice.headers),
            "401": await api.get("/v1/me"),
            "404 unmatched": await api.get("/v1/nothing-here"),
            "405": await api.delete("/v1/status"),
            "422": await api.get("/v1/logs?kind=a%20b", headers=alice.headers),
            "jwks": await api.get("/.well-known/jwks.json"),
            "openapi": await api.get("/openapi.json"),
        }
    async with httpx.AsyncClient(base_url=tight.url, timeout=10) as api:
        answers["413"] = await api.post("/v1/status", content=b"x" * 4096)
        for _ in range(10):
            r = await api.get("/v1/auth/providers")
            if r.status_code == 429:
                break
        answers["429"] = r
    for what, r in answers.items():
        if what[0].isdigit():
            assert r.status_code == int(what[:3]), (what, r.status_code, r.text)
        _api_headers(r, what)
        # Development over plain http: no HSTS.
        assert "strict-transport-security" not in r.headers, what


async def test_hsts_behind_an_https_public_url(stack) -> None:
    https = stack.extra_gateway(GATEWAY_PUBLIC_URL="https://bots.example.test")
    async with httpx.AsyncClient(base_url=https.url, timeout=10) as api:
        for r in (await api.get("/v1/status"), await api.get("/v1/nothing-here")):
            hsts = r.headers["strict-transport-security"]
            assert hsts == "max-age=31536000; includeSubDomains"


def test_hsts_is_on_in_production_and_can_be_turned_off() -> None:
    assert Settings(mode="production").hsts_header == "max-age=31536000; includeSubDomains"
    assert Settings(mode="production", hsts=False).hsts_header is None
    assert Settings(mode="production", hsts_max_age_s=0).hsts_header is None
    assert Settings().hsts_header is None  # development over http


async def test_docs_pages_load_nothing_from_third_parties_under_a_strict_csp(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as api:
        for path, needs in (
            ("/docs", ["swagger-ui-bundle.js", "swagger-init.js", "swagger-ui.css"]),
            ("/redoc", ["redoc.standalone.js"]),
        ):
            page = await api.get(path)
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp
            assert "script-src 'self';" in csp
            assert "default-src 'none'" in csp
            assert "http" not in csp  # no other origin is allowed anything
            assert page.headers["x-content-type-options"] == "nosniff"
            # No inline script, no absolute URL: everything comes from this origin.
            assert re.search(r"<script>", page.text) is None
            assert re.search(r"(src|href)=\"?(https?:)?//", page.text) is None, page.text
            for name in needs:
                assert f"/docs/assets/{name}" in page.text
                asset = await api.get(f"/docs/assets/{name}")
                assert asset.status_code == 200, name
                assert len(asset.content) > 100, name
                assert asset.headers["x-content-type-options"] == "nosniff"
        assert (await api.get("/docs/assets/../settings.py")).status_code == 404
        assert (await api.get("/docs/assets/nothing.js")).status_code == 404
        # The document the pages read is where they look for it.
        assert (await api.get("/openapi.json")).status_code == 200


async def test_status_says_only_up_or_down_without_a_sign_in(stack, sandbox) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as api:
        anonymous = await api.get("/v1/status")
        assert anonymous.status_code == 200
        assert set(anonymous.json()) == {"ok"}
        alice = await sign_in(stack.url, sandbox)
        detailed = (await api.get("/v1/status", headers=alice.headers)).json()
        assert detailed["ok"] == anonymous.json()["ok"]
        by_name = {s["service"]: s for s in detailed["services"]}
        assert by_name["auth"]["ok"] is True
        assert by_name["gateway"]["ok"] is True
        for state in detailed["services"]:
            # Never versions, replica names or uptimes, signed in or not.
            assert set(state) <= {"service", "ok", "error"}, state
        # A bad token is not an error here: it is simply not signed in.
        bad = await api.get("/v1/status", headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 200
        assert set(bad.json()) == {"ok"}
