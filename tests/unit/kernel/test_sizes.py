"""Sizes in messages read as people say them (issue 16: "at most 1048576 bytes")."""

from __future__ import annotations

import pytest

from services.sizes import human_duration, human_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KiB"),
        (16 * 1024 + 100, "16.1 KiB"),
        (1048576, "1 MiB"),
        (1572864, "1.5 MiB"),
        (8 * 1024 * 1024, "8 MiB"),
        (5 * 1024**3, "5 GiB"),
        (3 * 1024**5, "3072 TiB"),
    ],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1 s"),
        (0.4, "1 s"),
        (45, "45 s"),
        (89, "89 s"),
        (596, "about 10 min"),
        (600, "10 min"),
        (7200, "2 h"),
        (2 * 86_400 + 1000, "about 2 days"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    """Waits read as people say them (issue 16: "try again in 596 s")."""
    assert human_duration(seconds) == text


def test_waits_shown_to_users_read_as_durations() -> None:
    """The avatar limit and Discord's rate limits say "about 10 min", never "596 s"."""
    from bot_service.fleet.control import discord_error
    from proto.errors import ErrorCode
    from services.errors import RpcError
    from storage_service.service import avatar_rate_limited

    avatar = avatar_rate_limited(
        RpcError(ErrorCode.RATE_LIMITED, "x", details={"retry_after": 595.2})
    )
    assert avatar.message.endswith("try again in about 10 min")
    assert avatar.details == {"retry_after": 596}
    assert discord_error(429, "", 45.0).message == "Discord rate limit: try again in 45 s"
