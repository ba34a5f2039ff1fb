"""Optional Sentry: off without SENTRY_DSN; with it, errors from a FastAPI route and from
ERROR logs reach the Sentry endpoint with the same redaction as the logs.

The real sentry-sdk sends to a small local HTTP server standing in for Sentry's ingest
endpoint; the service side runs in its own process (sentry-sdk hooks process globals).
"""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sentry_sdk", reason="sentry-sdk is not installed")

ROOT = Path(__file__).resolve().parents[2]
SECRET = "vault-decrypted-api-key-7f3a9c"  # registered with register_secret
TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GabcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"  # bot-token shape

_SERVICE = r"""
import logging, sys
from fastapi import FastAPI
from fastapi.testclient import TestClient
import sentry_sdk
from services.telemetry.redaction import register_secret
from services.telemetry.sentry import setup_sentry

dsn, secret, token = sys.argv[1], sys.argv[2], sys.argv[3]
assert setup_sentry("gateway", version="0.1.0", instance="gw-1", environment="production",
                    dsn="") is False
assert setup_sentry("gateway", version="0.1.0", instance="gw-1", environment="production",
                    dsn=dsn) is True
register_secret(secret)
app = FastAPI()

@app.get("/boom")
async def boom() -> None:
    raise RuntimeError(f"upstream refused key {secret} for bot {token}")

client = TestClient(app, raise_server_exceptions=False)
response = client.get("/boom", headers={"Authorization": "Bearer " + token,
                                        "Cookie": "bc_session=" + secret})
assert response.status_code == 500, response.status_code
logging.getLogger("bot_service.fleet").error("login failed: password=%s", secret)
sentry_sdk.flush(timeout=10)
print("sent")
"""


class _Ingest(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            body = brotli.decompress(body)
        type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ingest() -> Iterator[tuple[str, list[bytes]]]:
    _Ingest.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42", _Ingest.bodies
    server.shutdown()
    server.server_close()


def _events(bodies: list[bytes]) -> list[dict]:
    events = []
    for body in bodies:
        lines = body.split(b"\n")
        # envelope: header line, then (item header, payload) pairs
        for i in range(1, len(lines) - 1, 2):
            item = json.loads(lines[i])
            if item.get("type") == "event":
                events.append(json.loads(lines[i + 1]))
    return events


def test_errors_reach_sentry_redacted(ingest: tuple[str, list[bytes]]) -> None:
    dsn, bodies = ingest
    proc = subprocess.run(
        [sys.executable, "-c", _SERVICE, dsn, SECRET, TOKEN],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(bodies)
    raw = b"\n".join(bodies).decode()
    assert SECRET not in raw
    assert TOKEN not in raw
    exceptions = [e for e in events if e.get("exception")]
    assert exceptions, f"no exception event among {len(events)} events"
    exc = exceptions[0]
    value = exc["exception"]["values"][-1]["value"]
    assert value == "upstream refused key [redacted] for bot [redacted]"
    assert exc["tags"]["service"] == "gateway"
    assert exc["release"] == "botcenter-gateway@0.1.0"
    headers = {k.lower(): v for k, v in exc["request"]["headers"].items()}
    assert headers["authorization"] == "[redacted]"
    # The ERROR log became an event too, its argument redacted.
    messages = [json.dumps(e.get("logentry", {})) for e in events]
    assert any("login failed" in m for m in messages), messages
