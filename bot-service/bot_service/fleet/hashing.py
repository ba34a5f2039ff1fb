"""Rendezvous (highest-random-weight) hashing: each unit goes to the live member with the
highest weight for it, so a membership change moves only the units it must."""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b


def weight(member: str, unit: str) -> int:
    digest = blake2b(f"{member}\x00{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(members: Iterable[str], unit: str) -> str | None:
    """The member that should run `unit`, or None when there is nobody."""
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (weight(member, unit), member)
        if best is None or candidate > best:
            best = candidate
    return best[1] if best else None
