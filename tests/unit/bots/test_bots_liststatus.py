"""The bots list's live status summary and the bot avatar URL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bot_service.livestatus import brief
from bot_service.service import avatar_url, cdn_base
from proto.fleet import BotStatus, ShardStatus


def _shard(i: int, latency: float | None, guilds: int | None) -> ShardStatus:
    now = datetime.now(UTC)
    return ShardStatus(
        shard_id=i, shard_count=2, state="online", since=now, latency_ms=latency, guild_count=guilds
    )


def test_brief_averages_latency_and_sums_guilds_over_shards() -> None:
    status = BotStatus(
        bot_id=uuid.uuid4(),
        state="online",
        since=datetime.now(UTC),
        shards=[_shard(0, 40.0, 3), _shard(1, 60.0, 2)],
    )
    b = brief(status)
    assert (b.state, b.latency_ms, b.guild_count) == ("online", 50.0, 5)


def test_brief_of_an_offline_bot_has_no_figures() -> None:
    status = BotStatus(
        bot_id=uuid.uuid4(),
        state="error",
        reason="invalid_token",
        message="Discord rejected the token",
        since=datetime.now(UTC),
    )
    b = brief(status)
    assert b.reason == "invalid_token"
    assert b.latency_ms is None
    assert b.guild_count is None


def test_avatar_url_on_discord_cdn_or_the_sandbox() -> None:
    assert cdn_base("https://discord.com") == "https://cdn.discordapp.com"
    assert cdn_base("http://127.0.0.1:8790/") == "http://127.0.0.1:8790"
    assert avatar_url("https://cdn.discordapp.com", "42", None) is None
    assert (
        avatar_url("https://cdn.discordapp.com", "42", "abc")
        == "https://cdn.discordapp.com/avatars/42/abc.png?size=128"
    )
    assert avatar_url("http://x", "42", "a_abc") == "http://x/avatars/42/a_abc.gif?size=128"
