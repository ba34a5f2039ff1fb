"""Rules that need no servers: `next` paths, token buckets, scope expansion, provider
errors against a closed port."""

from __future__ import annotations

import socket

import pytest

from auth_service.providers import Discord, ProviderError
from auth_service.service import safe_next
from auth_service.settings import Settings
from gateway.auth import expand_scopes
from gateway.ratelimit import RateLimiter, retry_after_header
from proto.errors import ErrorCode
from services.errors import RpcError


@pytest.mark.parametrize("path", ["/", "/bots", "/bots/1?tab=a#x", "/a/b/c"])
def test_relative_paths_are_kept(path: str) -> None:
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "//evil",
        "https://evil",
        "/\\evil",
        "evil",
        "javascript:x",
        "/a\r\nb",
        "/a\\b",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_is_refused(path: str) -> None:
    with pytest.raises(RpcError) as err:
        safe_next(path)
    assert err.value.code is ErrorCode.INVALID


def test_empty_next_means_home() -> None:
    assert safe_next("") == "/"


def test_token_bucket_allows_burst_then_refills() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.take("ip", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("ip", now=100.0)
    assert wait == pytest.approx(0.5)
    assert retry_after_header(wait) == "1"
    assert limiter.take("other", now=100.0) == 0.0
    assert limiter.take("ip", now=100.6) == 0.0  # 1.2 tokens refilled


def test_token_bucket_memory_is_bounded() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, max_keys=100)
    for i in range(1000):
        limiter.take(f"k{i}", now=1.0)
    assert len(limiter._buckets) == 100


def test_write_scopes_imply_read() -> None:
    assert expand_scopes(["bots:write", "logs:read"]) == {"bots:write", "bots:read", "logs:read"}
    assert expand_scopes(["bots:read"]) == {"bots:read"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_provider_down_is_unavailable_with_a_clear_message() -> None:
    settings = Settings(
        discord_base_url=f"http://127.0.0.1:{_closed_port()}", provider_timeout_s=2.0
    )
    provider = Discord(settings)
    url = await provider.authorization_url("http://127.0.0.1/cb", "state1", "v" * 50, None)
    assert "code_challenge=" in url
    assert "state=state1" in url
    with pytest.raises(ProviderError) as err:
        await provider.profile("code", "http://127.0.0.1/cb", "v" * 50, None)
    assert err.value.code is ErrorCode.UNAVAILABLE
    assert "Discord could not be reached" in err.value.message
