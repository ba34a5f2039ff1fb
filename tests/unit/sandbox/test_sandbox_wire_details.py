"""Wire details real clients depend on: stream compression decodable by discord.py's own
decompressor, Discord's rate-limit headers and 429 body, exact JSON content type."""

from __future__ import annotations

import json
import zlib

import discord.utils
import pytest

from discord_sandbox.compress import ZLIB_SUFFIX, make_encoder
from discord_sandbox.config import BucketLimit
from discord_sandbox.jsonresp import json_response
from discord_sandbox.ratelimit import RateLimiter

FRAMES = [
    json.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": i, "d": {"content": "x" * (i * 37)}})
    for i in range(1, 30)
]


def test_zstd_stream_frames_decode_with_discordpys_context() -> None:
    encoder = make_encoder("zstd-stream")
    decoder = discord.utils._ActiveDecompressionContext()
    assert decoder.COMPRESSION_TYPE == "zstd-stream"
    assert [decoder.decompress(encoder.encode(f)) for f in FRAMES] == FRAMES


def test_zlib_stream_frames_end_with_sync_flush_and_share_one_context() -> None:
    encoder = make_encoder("zlib-stream")
    decoder = zlib.decompressobj()
    for frame in FRAMES:
        data = encoder.encode(frame)
        assert isinstance(data, bytes)
        assert data.endswith(ZLIB_SUFFIX)
        assert decoder.decompress(data).decode() == frame


def test_uncompressed_frames_are_text() -> None:
    encoder = make_encoder(None)
    assert encoder.binary is False
    assert encoder.encode(FRAMES[0]) == FRAMES[0]


def test_rate_limit_window_headers_and_429() -> None:
    limiter = RateLimiter()
    limit = BucketLimit(2, 10.0)
    first = limiter.hit("bot:1", "POST /channels/{channel_id}/messages", "42", limit)
    second = limiter.hit("bot:1", "POST /channels/{channel_id}/messages", "42", limit)
    third = limiter.hit("bot:1", "POST /channels/{channel_id}/messages", "42", limit)
    other_channel = limiter.hit("bot:1", "POST /channels/{channel_id}/messages", "43", limit)
    other_bot = limiter.hit("bot:2", "POST /channels/{channel_id}/messages", "42", limit)
    assert [first.allowed, second.allowed, third.allowed] == [True, True, False]
    assert other_channel.allowed
    assert other_bot.allowed
    headers = first.headers()
    assert headers["X-RateLimit-Limit"] == "2"
    assert headers["X-RateLimit-Remaining"] == "1"
    assert 9.0 < float(headers["X-RateLimit-Reset-After"]) <= 10.0
    assert len(headers["X-RateLimit-Bucket"]) == 32
    response = third.too_many()
    assert response.status == 429
    assert response.headers["Via"]
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Retry-After"] == "10"
    assert response.body is not None
    body = json.loads(response.body)
    assert body["global"] is False
    assert 9.0 < body["retry_after"] <= 10.0


def test_global_limit_is_flagged_global() -> None:
    limiter = RateLimiter()
    limit = BucketLimit(1, 1.0)
    assert limiter.hit_global("bot:1", limit) is None
    blocked = limiter.hit_global("bot:1", limit)
    assert blocked is not None
    response = blocked.too_many()
    assert response.headers["X-RateLimit-Global"] == "true"
    assert response.headers["X-RateLimit-Scope"] == "global"


@pytest.mark.parametrize("payload", [{"a": 1}, [1, 2], {"unicode": "héllo"}])
def test_json_content_type_has_no_charset(payload: object) -> None:
    response = json_response(payload)
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == payload
