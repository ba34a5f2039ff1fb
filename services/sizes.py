"""Byte counts as people read them, for messages the console shows as they are.

human_size(1048576)   # -> "1 MiB"
human_size(1572864)   # -> "1.5 MiB"
human_size(900)       # -> "900 bytes"
"""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(n: int) -> str:
    """Binary units (1 KiB = 1024 bytes), one decimal at most, no trailing ".0"."""
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = n / 1024
    step = 0
    while value >= 1024 and step < len(_UNITS) - 1:
        value /= 1024
        step += 1
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {_UNITS[step]}"
