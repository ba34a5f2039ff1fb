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
