"""Removes anything that looks like a secret from text before it leaves the process.

A second line of defence: code never logs secrets on purpose, but exception messages,
third-party libraries and user input can carry them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

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

# Exact secret values of this process (decrypted tokens, API credentials), removed from
# every log line. A value shorter than SHORT is removed where it stands alone (not inside a
# longer word or number): a five-character key is masked in `key=abcde` or `Bearer abcde`,
# while a secret that happens to be a common word cannot blank that word out of every other
# line. Texts tied to one owner (a command's error, its events) pass that owner's secrets
# to `redact(secrets=...)`, where every value goes wherever it appears, whatever its length.
SHORT = 8
_WORD = "A-Za-z0-9"

_known_lock = threading.Lock()
_known: set[str] = set()
_short_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Remember an exact secret value (e.g. a decrypted bot token) so it is always removed."""
    global _short_pattern
    if value:
        with _known_lock:
            if value not in _known:
                _known.add(value)
                if len(value) < SHORT:
                    _short_pattern = None


def any_registered() -> bool:
    """Whether any exact secret is registered in this process."""
    return bool(_known)


def forget_secret(value: str) -> None:
    global _short_pattern
    with _known_lock:
        _known.discard(value)
        if len(value) < SHORT:
            _short_pattern = None


def _alternation(values: Iterable[str]) -> str:
    # Longest first, so a secret that contains another one is removed whole.
    return "|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v)))


def _known_values() -> tuple[list[str], re.Pattern[str] | None]:
    global _short_pattern
    with _known_lock:
        long = [v for v in _known if len(v) >= SHORT]
        short = _short_pattern
        if short is None:
            values = [v for v in _known if len(v) < SHORT]
            if values:
                short = re.compile(rf"(?<![{_WORD}])(?:{_alternation(values)})(?![{_WORD}])")
                _short_pattern = short
    return long, short


def redact(text: str, secrets: Iterable[str] = (), *, registry: bool = True) -> str:
    """`text` without secrets: the given `secrets` (exact values, any length, wherever
    they appear), this process's registered secrets (unless `registry` is False) and
    whatever looks like a token or a `password=...` pair."""
    if not text:
        return text
    own = {v for v in secrets if v}
    if own:
        text = re.sub(_alternation(own), REDACTED, text)
    if registry and _known:
        long, short = _known_values()
        for value in long:
            if value in text:
                text = text.replace(value, REDACTED)
        if short is not None:
            text = short.sub(REDACTED, text)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
