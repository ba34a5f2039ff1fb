"""The gateway behind a proxy (issue 23, item 8): the IP rate limit keys on the address the
outermost trusted proxy saw, whatever a client writes into X-Forwarded-For; and /metrics
on a port of its own (item 7) when GATEWAY_METRICS_PORT is set."""

from __future__ import annotations

import httpx

from services.devstack.embedded import free_port

# Three requests per address, then 429 (the bucket refills too slowly to matter here).
TIGHT = {"GATEWAY_RATE_IP_BURST": "3", "GATEWAY_RATE_IP_PER_S": "0.001"}


def xff(*lines: str) -> list[tuple[str, str]]:
    return [("X-Forwarded-For", line) for line in lines]


async def test_behind_one_trusted_proxy_the_limit_keys_on_the_address_it_saw(
    start_service,
) -> None:
    gateway = start_service(
        "gateway", GATEWAY_HTTP_PORT="0", GATEWAY_TRUSTED_PROXY_HOPS="1", **TIGHT
    )
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        # What ingress-nginx forwards for a client that wrote its own X-Forwarded-For:
        # the client's entries, then the address nginx saw (203.0.113.7).
        for i in range(3):
            spoofed = f"198.51.100.{i}, 192.0.2.{i}, 203.0.113.7"
            answer = await client.get("/v1/nothing", headers=xff(spoofed))
            assert answer.status_code == 404
        again = await client.get("/v1/nothing", headers=xff("198.51.100.99, 203.0.113.7"))
        assert again.status_code == 429
        # A proxy that adds a header line of its own instead of appending: the same list.
        split = await client.get("/v1/nothing", headers=xff("198.51.100.98", "203.0.113.7"))
        assert split.status_code == 429
        # Other clients behind the same proxy (same peer, 127.0.0.1) keep their own budget.
        other = await client.get("/v1/nothing", headers=xff("203.0.113.8"))
        assert other.status_code == 404
        # A request that did not come through the proxy counts as its peer.
        direct = await client.get("/v1/nothing")
        assert direct.status_code == 404


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **TIGHT)
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        statuses = [
            (await client.get("/v1/nothing", headers=xff(f"198.51.100.{i}"))).status_code
            for i in range(5)
        ]
    # From the loopback peer too: no address a client writes is believed.
    assert statuses == [404, 404, 404, 429, 429]


async def test_metrics_on_their_own_port_are_not_on_the_public_one(start_service) -> None:
    port = free_port()
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", GATEWAY_METRICS_PORT=str(port))
    async with httpx.AsyncClient(base_url=gateway.url) as public:
        assert (await public.get("/healthz")).status_code == 200
        hidden = await public.get("/metrics")
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "not_found"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:
        scraped = await scraper.get("/metrics")
        assert scraped.status_code == 200
        # The public port's requests (its 404 for /metrics included) are counted there.
        assert 'botcenter_http_requests_total{method="GET",route="unmatched",status="404"}' in (
            scraped.text
        )
        # Nothing but the metrics there.
        assert (await scraper.get("/v1/status")).status_code == 404
