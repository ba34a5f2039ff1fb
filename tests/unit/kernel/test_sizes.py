"""Sizes in messages read as people say them (issue 16: "at most 1048576 bytes")."""

from __future__ import annotations

import pytest

from services.sizes import human_size


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
