"""The redaction filter removes anything that looks like a secret from log lines."""

from __future__ import annotations

import json
import logging

from services.telemetry.logs import JsonFormatter
from services.telemetry.redaction import redact, register_secret

DISCORD_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


def test_discord_tokens_jwts_and_bearer_values_are_removed() -> None:
    line = (
        f"login with {DISCORD_TOKEN} then Authorization: Bearer {JWT} "
        "api token bcp_0123456789abcdefghij and password=hunter2hunter2"
    )
    out = redact(line)
    for secret in (DISCORD_TOKEN, JWT, "bcp_0123456789abcdefghij", "hunter2hunter2"):
        assert secret not in out
    assert "login with" in out


def test_registered_secret_values_are_removed_wherever_they_appear() -> None:
    register_secret("plain-looking-credential-42")
    assert "plain-looking" not in redact("connecting with plain-looking-credential-42 now")


def test_json_log_lines_are_redacted_including_exceptions() -> None:
    formatter = JsonFormatter("bot")
    try:
        raise RuntimeError(f"discord refused {DISCORD_TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed: %s", (DISCORD_TOKEN,), sys.exc_info()
        )
    line = formatter.format(record)
    assert DISCORD_TOKEN not in line
    entry = json.loads(line)
    assert entry["service"] == "bot"
    assert entry["level"] == "error"
    assert "RuntimeError" in entry["exc"]


def test_short_registered_secrets_are_removed_where_they_stand_alone() -> None:
    """Issue 23 item 9: a connection secret under 8 characters showed in logs."""
    register_secret("zq7x5")
    out = redact("GET /v1?key=zq7x5 with Bearer zq7x5 and 'zq7x5'")
    assert "zq7x5" not in out
    assert out.count("[redacted]") == 3
    # Inside a longer word or number it is left alone (a short value may be a common word).
    assert redact("xzq7x5 zq7x55") == "xzq7x5 zq7x55"


def test_given_secrets_are_removed_whatever_their_length_and_wherever() -> None:
    out = redact("a=ab1 b=xxab1xx c=ab1cd", ["ab1", "ab1cd", ""], registry=False)
    assert out == "a=[redacted] b=xx[redacted]xx c=[redacted]"
    # Replaced in one pass: a secret inside the mask itself is not masked again.
    assert redact("use dac", ["dac", "act"]) == "use [redacted]"


def test_registry_can_be_left_out_for_texts_of_one_owner() -> None:
    register_secret("registered-elsewhere-99")
    assert "registered-elsewhere-99" in redact("x registered-elsewhere-99", registry=False)
    # token patterns still apply
    assert "hunter2hunter2" not in redact("password=hunter2hunter2", registry=False)
