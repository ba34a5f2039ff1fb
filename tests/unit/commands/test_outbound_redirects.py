"""A connection's credentials stay with its origin: what a redirect to another scheme, host
or port carries (unit rules, then Outbound against two real HTTP servers on 127.0.0.1)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from command_service.execution.outbound import (
    Credentials,
    Guard,
    Outbound,
    OutboundError,
    origin,
    without_credentials,
)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://api.example/v1", "http://api.example/v2?x=1", True),
        ("http://api.example/v1", "http://API.example:80/other", True),
        ("https://api.example/", "https://api.example:443/", True),
        ("https://api.example/", "http://api.example/", False),  # scheme
        ("http://api.example/", "http://api.example:8080/", False),  # port
        ("http://api.example/", "http://evil.example/", False),  # host
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8001/", False),
        ("http://api.example/", "http://api.example.evil.example/", False),
    ],
)
def test_origin(a: str, b: str, same: bool) -> None:
    assert (origin(a) == origin(b)) is same


def test_invalid_port_is_an_outbound_error() -> None:
    with pytest.raises(OutboundError, match="invalid port"):
        origin("http://api.example:99999/")


def test_without_credentials_drops_auth_secret_headers_and_secret_params() -> None:
    creds = Credentials.of(headers=["X-Api-Key"], params=["key", "sig nature"])
    headers = {
        "Authorization": "Bearer s3cr3t",
        "x-api-key": "k",
        "Cookie": "sid=1",
        "Proxy-Authorization": "Basic eA==",
        "X-Plain": "p",
        "content-type": "application/json",
    }
    url, kept = without_credentials(
        "http://other.example/p?a=1&key=s3cr3t&b=%20x&sig+nature=z&key=again&keyed=2#f",
        headers,
        creds,
    )
    assert kept == {"X-Plain": "p", "content-type": "application/json"}
    assert url == "http://other.example/p?a=1&b=%20x&keyed=2#f"
    # The caller's own dict is left as it was.
    assert "Authorization" in headers
    # Nothing named secret: the URL is untouched, Authorization and Cookie still go.
    url, kept = without_credentials(
        "http://o.example/?key=1", {"Cookie": "c", "X": "y"}, Credentials()
    )
    assert (url, kept) == ("http://o.example/?key=1", {"X": "y"})


# ---- Outbound against real servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _app(server: Server) -> web.Application:
    async def seen(request: web.Request) -> web.Response:
        server.seen.append(
            {"path": request.path, "query": dict(request.query), "headers": dict(request.headers)}
        )
        return web.json_response({"ok": True})

    async def hop(request: web.Request) -> web.Response:
        # Redirect to ?to=, carrying the rest of the query along (as many APIs do).
        query = {k: v for k, v in request.query.items() if k != "to"}
        target = request.query["to"]
        if query:
            target += ("&" if "?" in target else "?") + "&".join(
                f"{k}={v}" for k, v in query.items()
            )
        return web.Response(status=302, headers={"Location": target})

    app = web.Application()
    app.router.add_get("/seen", seen)
    app.router.add_get("/hop", hop)
    return app


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Server, Server]]:
    home, other = Server(_free_port()), Server(_free_port())
    runners = []
    for server in (home, other):
        runner = web.AppRunner(_app(server), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", server.port).start()
        runners.append(runner)
    try:
        yield home, other
    finally:
        for runner in runners:
            await runner.cleanup()


@pytest.fixture
async def outbound(servers: tuple[Server, Server]) -> AsyncIterator[Outbound]:
    home, other = servers
    out = Outbound(Guard.from_list([f"127.0.0.1:{home.port}", f"127.0.0.1:{other.port}"]))
    yield out
    await out.close()


HEADERS = {"authorization": "Bearer tok-123", "X-Api-Key": "hdr-123", "X-Plain": "plain"}
CREDS = Credentials.of(headers=["X-Api-Key"], params=["key"])


async def test_cross_origin_redirect_drops_credentials(
    servers: tuple[Server, Server], outbound: Outbound
) -> None:
    home, other = servers
    result = await outbound.request(
        "GET",
        f"{home.url}/hop",
        params={"to": f"{other.url}/seen", "key": "q-123", "city": "Oslo"},
        headers=dict(HEADERS),
        credentials=CREDS,
    )
    assert result.status == 200
    assert urlsplit(result.url).port == other.port
    got = other.seen[-1]
    assert "Authorization" not in got["headers"]
    assert "X-Api-Key" not in got["headers"]
    assert got["headers"]["X-Plain"] == "plain"
    assert got["query"] == {"city": "Oslo"}
    assert "123" not in str(got)


async def test_same_origin_redirect_keeps_credentials(
    servers: tuple[Server, Server], outbound: Outbound
) -> None:
    home, _ = servers
    result = await outbound.request(
        "GET",
        f"{home.url}/hop",
        params={"to": "/seen", "key": "q-123"},
        headers=dict(HEADERS),
        credentials=CREDS,
    )
    assert result.status == 200
    got = home.seen[-1]
    assert got["headers"]["Authorization"] == "Bearer tok-123"
    assert got["headers"]["X-Api-Key"] == "hdr-123"
    assert got["query"] == {"key": "q-123"}


async def test_credentials_do_not_come_back_after_leaving(
    servers: tuple[Server, Server], outbound: Outbound
) -> None:
    """home -> other -> home: the hop back to home goes without them as well (the other
    origin chose where it went)."""
    home, other = servers
    await outbound.request(
        "GET",
        f"{home.url}/hop",
        params={"to": f"{other.url}/hop?to={home.url}/seen"},
        headers=dict(HEADERS),
        credentials=CREDS,
    )
    got = home.seen[-1]
    assert "Authorization" not in got["headers"]
    assert "X-Api-Key" not in got["headers"]


async def test_every_hop_is_checked_against_ssrf(
    servers: tuple[Server, Server], outbound: Outbound
) -> None:
    home, other = servers
    closed = _free_port()  # loopback, not on the allow list
    for to in (
        f"http://127.0.0.1:{closed}/seen",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
    ):
        with pytest.raises(OutboundError, match="not allowed"):
            await outbound.request(
                "GET",
                f"{home.url}/hop",
                params={"to": to},
                headers=dict(HEADERS),
                credentials=CREDS,
            )
    # and a bad port in a Location is a refusal, not a crash
    with pytest.raises(OutboundError, match="invalid port"):
        await outbound.request("GET", f"{home.url}/hop", params={"to": "http://127.0.0.1:99999/"})
    assert other.seen == []
