"""Removes anything that looks like a secret from text before it leaves the process.

A second line of defence: code never logs secrets on purpose, but exception messages,
third-party libraries and user input can carry them.
"""

from __future__ import annotations

import re
import threading

REDACTED = "[redacted]"

_PATTERNS: list[re.Pattern[str]] = [
    # Discord bot tokens: base64 user id . timestamp . hmac
    re.compile(r"[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6,7}\.[A-Za-z\d_-]{27,40}"),
    # Any JWT (header.payload.signature, header and payload are base64url JSON).
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}"),
    # botcenter personal API tokens and refresh tokens.
    re.compile(r"\bbc[pr]_[A-Za-z0-9_-]{16,}"),
    # Authorization header values, whatever the scheme.
    re.compile(r"(?i)(?<=\bbearer )[^\s\"',;]{8,}"),
    re.compile(r"(?i)(?<=\bbot )[^\s\"',;]{20,}"),
    re.compile(r"(?i)(?<=\bbasic )[A-Za-z0-9+/=]{8,}"),
]

# key=value pairs whose key says secret: keep the key, drop the value.
_KEY_VALUE = re.compile(
    r"(?i)((?:password|passwd|secret|token|api_key|apikey|authorization)[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s\"',;&}]{6,}"
)

_known_lock = threading.Lock()
_known: set[str] = set()


def register_secret(value: str) -> None:
    """Remember an exact secret value (e.g. a decrypted bot token) so it is always removed."""
    if len(value) >= 8:
        with _known_lock:
            _known.add(value)


def forget_secret(value: str) -> None:
    with _known_lock:
        _known.discard(value)


def redact(text: str) -> str:
    if not text:
        return text
    if _known:
        with _known_lock:
            known = list(_known)
        for value in known:
            if value in text:
                text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
