"""The gateway's edge behaviour: health, readiness, metrics, errors as envelopes, limits."""

from __future__ import annotations

import httpx


async def test_health_readiness_metrics_docs_and_status(start_service) -> None:
    start_service("auth")
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["nats"] is True
        # Without a sign-in only up or down; services that are not running make it
        # "down" (signed-in callers see which, see tests/security/test_security_headers.py),
        # and the call does not hang.
        status = (await client.get("/v1/status")).json()
        assert status == {"ok": False}
        metrics = (await client.get("/metrics")).text
        sample = 'botcenter_http_requests_total{method="GET",route="/v1/status",status="200"}'
        assert sample in metrics
        assert "botcenter_rpc_client_seconds" in metrics
        assert (await client.get("/docs")).status_code == 200
        assert "/v1/status" in (await client.get("/openapi.json")).json()["paths"]


async def test_console_config_names_the_discord_to_invite_bots_on(start_service) -> None:
    """The console builds invite links against the Discord the server talks to (the
    sandbox in development and tests), read before sign-in."""
    gateway = start_service(
        "gateway", GATEWAY_HTTP_PORT="0", DISCORD_BASE_URL="http://127.0.0.1:4321/"
    )
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        config = await client.get("/v1/config")
        assert config.status_code == 200
        assert config.json() == {"discord_base_url": "http://127.0.0.1:4321"}


async def test_errors_are_json_envelopes_with_request_ids(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        missing = await client.get("/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert len(missing.headers["x-request-id"]) >= 8
        echoed = await client.get("/healthz", headers={"x-request-id": "abc123def456"})
        assert echoed.headers["x-request-id"] == "abc123def456"
        wrong_method = await client.delete("/v1/status")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["message"]


async def test_a_body_over_the_limit_is_refused_before_it_is_read(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", GATEWAY_MAX_BODY_BYTES="2048")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        declared = await client.post("/v1/status", content=b"x" * 4096)
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "too_large"
