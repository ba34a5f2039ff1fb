"""Malformed input never makes the API answer 5xx (or drop the connection).

Against the real gateway and every service: each query parameter and each path parameter
of every operation in the gateway's own OpenAPI document gets each payload of the corpus
below, and `PUT /v1/me/settings` gets JSON bodies that no store can hold. Every answer is
below 500; every error is the JSON envelope with a message, and text that cannot be taken
at all (NUL, bytes that are not UTF-8, an encoded surrogate) is a 422 naming the parameter.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import orjson

from tests.fixtures.auth import auth_env, sign_in

# Percent-encoded as they go on the wire: (label, encoded value, refused whatever the type).
PAYLOADS: list[tuple[str, str, bool]] = [
    ("nul", "a%00b", True),
    ("not utf-8", "%FF", True),
    ("lone surrogate", "%ED%A0%80", True),
    ("space", "a%20b", False),
    ("semicolon", "a;b", False),
    ("fraction", "0.5", False),
    ("2**64", str(2**64), False),
    ("minus one", "-1", False),
    ("60k characters", "x" * 60_000, False),
    ("100k characters", "x" * 100_000, False),
]
# A request line this long is refused by the HTTP server itself before the app sees it
# (uvicorn: 400 "Invalid HTTP request received." and close; an ingress answers 414 far
# earlier): the one case where the answer is not the JSON envelope.
SERVER_REFUSES = {"100k characters"}

# JSON bodies for PUT /v1/me/settings, sent as raw bytes: (label, body).
SETTINGS_BODIES: list[tuple[str, bytes]] = [
    ("nul in a value", b'{"settings": {"theme": "dark\\u0000"}}'),
    ("nul in a key", b'{"settings": {"th\\u0000eme": "dark"}}'),
    ("lone surrogate in a value", b'{"settings": {"theme": "\\ud800"}}'),
    ("lone surrogate in a key", b'{"settings": {"\\udfff": 1}}'),
    ("2**64", b'{"settings": {"n": 18446744073709551616}}'),
    ("-2**63 - 1", b'{"settings": {"n": [1, -9223372036854775809]}}'),
    ("10**30 deep inside", b'{"settings": {"a": {"b": [{"c": 1000000000000000000000000000000}]}}}'),
    ("infinity", b'{"settings": {"n": 1e400}}'),
    ("NaN", b'{"settings": {"n": NaN}}'),
]

VALUE_NAMES = {"nul": "NUL", "not utf-8": "UTF-8", "lone surrogate": "UTF-8"}


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    content: bytes
    closed: bool = False  # the server closed the connection after this answer

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class RawClient:
    """One keep-alive HTTP/1.1 connection sending request targets byte for byte (httpx
    refuses URLs over 64 KiB and would normalize some escapes). An answer after which the
    server closed the connection says so (`closed`)."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = [("Host", f"{self.host}:{self.port}"), *headers.items()]
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection] | None
        self._conn = None

    async def _connection(
        self,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection]:
        if self._conn is None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._conn = (reader, writer, h11.Connection(h11.CLIENT))
        return self._conn

    async def request(self, method: str, target: str) -> Answer:
        reader, writer, conn = await self._connection()
        headers = [*self.headers, ("Content-Length", "0")]
        writer.write(conn.send(h11.Request(method=method, target=target, headers=headers)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        status, got, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(65536), 30)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                got = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        closed = conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE
        if closed:
            await self.close()
        else:
            conn.start_next_cycle()
        return Answer(status, got, body, closed)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None


def _assert_error_envelope(r: Answer | httpx.Response, what: str) -> str:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    # An error that escapes to the server makes it close the connection after answering.
    assert not getattr(r, "closed", False), f"{what}: connection closed after {r.status_code}"
    if r.status_code < 400:
        return ""
    assert r.headers.get("content-type", "").startswith("application/json"), what
    body = r.json()
    message = body["error"]["message"]
    assert isinstance(message, str), f"{what}: {body}"
    assert message, f"{what}: {body}"
    return message


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


async def test_every_query_and_path_parameter_refuses_malformed_values(
    start_service, sandbox
) -> None:
    env = auth_env(sandbox, GATEWAY_RATE_LIMIT_ENABLED="false")
    # Started together (each takes seconds to be ready), then waited for.
    procs = [
        start_service(n, wait=False, **env) for n in ("auth", "bot", "command", "storage", "log")
    ]
    gateway = start_service("gateway", wait=False, GATEWAY_HTTP_PORT="0", **env)
    for proc in [*procs, gateway]:
        proc.wait_ready(60.0)
    alice = await sign_in(gateway.url, sandbox)
    app = await sandbox.control.create_application("Sweep Bot")
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=30) as api:
        created = await api.post("/v1/bots", json={"token": app.token})
        assert created.status_code == 201, created.text
        good = {"bot_id": created.json()["id"], "provider": "discord"}
        spec = (await api.get("/openapi.json")).json()

        operations = [
            (method.upper(), path, op.get("parameters", []))
            for path, ops in spec["paths"].items()
            for method, op in ops.items()
        ]
        query_params = [
            (m, p, x["name"]) for m, p, ps in operations for x in ps if x["in"] == "query"
        ]
        path_params = [
            (m, p, x["name"]) for m, p, ps in operations for x in ps if x["in"] == "path"
        ]
        # The sweep covers what the document declares; these must be among it.
        assert ("GET", "/v1/logs", "kind") in query_params
        assert ("GET", "/v1/logs/export", "domain") in query_params
        assert ("GET", "/v1/bots/{bot_id}/export", "format") in query_params
        assert len(query_params) >= 25
        assert len(path_params) >= 40

        failures: list[str] = []
        raw = RawClient(gateway.url, alice.headers)
        for method, path, param in query_params:
            url = _fill(path, good)
            for label, value, refused in PAYLOADS:
                what = f"{method} {path}?{param}=<{label}>"
                r = await raw.request(method, f"{url}?{param}={value}")
                try:
                    if label in SERVER_REFUSES and r.status_code in (400, 414, 431):
                        continue
                    message = _assert_error_envelope(r, what)
                    if refused:
                        assert r.status_code == 422, f"{what}: {r.status_code} {r.text[:300]}"
                        assert param in message, message
                        assert VALUE_NAMES[label] in message, message
                except AssertionError as exc:
                    failures.append(str(exc))

        for method, path, param in path_params:
            for label, value, refused in PAYLOADS:
                url = _fill(path, {**good, param: value})
                what = f"{method} {path} with {param}=<{label}>"
                r = await raw.request(method, url)
                try:
                    if label in SERVER_REFUSES and r.status_code in (400, 414, 431):
                        continue
                    message = _assert_error_envelope(r, what)
                    if refused:
                        assert 400 <= r.status_code < 500, f"{what}: {r.status_code}"
                        assert param in message or "path" in message, message
                except AssertionError as exc:
                    failures.append(str(exc))

        # No answer above closed the connection (an error escaping to the server does).
        assert (await raw.request("GET", "/v1/me")).status_code == 200
        await raw.close()
    assert failures == [], "\n".join(failures)


async def test_settings_refuse_json_that_no_store_can_hold(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    headers = {**alice.headers, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=10) as api:
        for label, body in SETTINGS_BODIES:
            r = await api.put("/v1/me/settings", content=body)
            assert r.status_code == 422, f"{label}: {r.status_code} {r.text[:300]}"
            error = r.json()["error"]
            assert "settings" in error["message"], (label, error)
            assert error["fields"][0]["loc"][:2] == ["body", "settings"], (label, error)
        # Within the limits it is stored as sent, and the connection stayed usable.
        fine = {"settings": {"theme": "dark", "n": 2**63 - 1, "m": -(2**63), "x": 1.5, "é": "ü"}}
        r = await api.put("/v1/me/settings", json=fine)
        assert r.status_code == 200, r.text
        assert (await api.get("/v1/me/settings")).json() == fine


async def test_a_contract_the_gateway_builds_names_the_query_field(stack, sandbox) -> None:
    """`kind=a b` passes FastAPI's own checks (a string) and breaks the contract's
    character set: still a 422 naming `query.kind`, with the request id, never a 500."""
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers, timeout=10) as api:
        for url in ("/v1/logs?kind=a%20b", "/v1/logs/export?domain=a;b"):
            r = await api.get(url)
            assert r.status_code == 422, r.text
            field = "kind" if "kind" in url else "domain"
            assert r.json()["error"]["fields"][0]["loc"][:2] == ["query", field]
            assert f"query.{field}" in r.json()["error"]["message"]
            assert len(r.headers["x-request-id"]) >= 8
