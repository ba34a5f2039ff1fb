"""Byte counts and waits as people read them, for messages the console shows as they are.

human_size(1048576)   # -> "1 MiB"
human_size(1572864)   # -> "1.5 MiB"
human_size(900)       # -> "900 bytes"
human_duration(45)    # -> "45 s"
human_duration(596)   # -> "about 10 min"
human_duration(600)   # -> "10 min"
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


_STEPS = ((86_400, "day"), (3_600, "h"), (60, "min"))


def human_duration(seconds: float) -> str:
    """A wait as a person reads it: seconds up to 90, then minutes, hours, days; "about"
    when rounded ("try again in about 10 min", never "in 596 s")."""
    s = max(1, round(seconds))
    if s < 90:
        return f"{s} s"
    for size, unit in _STEPS:
        if s >= size * 1.5 or size == 60:
            n = round(s / size)
            word = unit if unit != "day" or n == 1 else "days"
            return f"{n} {word}" if s == n * size else f"about {n} {word}"
    raise AssertionError("unreachable")
