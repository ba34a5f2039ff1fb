"""Slow clients against the real gateway process (issue 23, item 4): header and body
deadlines (408 and close), no lingering after an early answer, concurrent upload caps
(429), and a large upload that still goes through end to end (spooled to a file).

Timeouts are set to 1 s here; the client side is a raw socket that stops sending where a
slow or hostile client would. Every wait for the server is a read with a deadline."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tests.fixtures.auth import AuthStack, sign_in
from tests.fixtures.infra import apoll

SHORT = {"GATEWAY_HEADER_TIMEOUT_S": "1", "GATEWAY_BODY_TIMEOUT_S": "1"}
BOUNDARY = "slowclientboundary"
DEADLINE_S = 10.0  # far above the 1-s limits: only a missing timeout runs into it


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def until_closed(reader: asyncio.StreamReader, deadline_s: float = DEADLINE_S) -> bytes:
    """Everything the server sends until it closes the connection (fails after the deadline)."""
    data = b""
    try:
        async with asyncio.timeout(deadline_s):
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {deadline_s} s; got {data[:200]!r}") from None
    return data


async def one_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_S)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
    body = await asyncio.wait_for(
        reader.readexactly(int(headers.get("content-length", "0"))), DEADLINE_S
    )
    return status, headers, body


def parse(data: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


def upload_head(url: str, token: str | None, declared: int) -> bytes:
    host = urlsplit(url).netloc
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /v1/files?kind=avatar HTTP/1.1\r\nHost: {host}\r\n{auth}"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()


async def stalled_upload(
    url: str, token: str | None, *, sent: int = 1024 * 1024, declared: int = 8 * 1024 * 1024
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An upload that declares `declared` bytes, sends `sent` of them, and stops."""
    reader, writer = await connect(url)
    writer.write(upload_head(url, token, declared) + b"\x89PNG" + b"\x00" * (sent - 4))
    await writer.drain()
    return reader, writer


async def metric(url: str, name: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        text = (await client.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---------------------------------------------------------------- headers


async def test_a_request_stalled_mid_headers_gets_408_and_is_closed(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **SHORT)
    reader, writer = await connect(gateway.url)
    writer.write(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Slow: abc")
    status, headers, body = parse(await until_closed(reader))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"
    assert "headers did not arrive within 1 s" in body["error"]["message"]
    writer.close()

    # A connection that never sends a byte is closed too, without an answer.
    reader, writer = await connect(gateway.url)
    assert await until_closed(reader) == b""
    writer.close()

    # On a kept-alive connection the deadline applies to every request, not only the first.
    reader, writer = await connect(gateway.url)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, _, _ = await one_response(reader)
    assert status == 200
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: loc")
    status, _, body = parse(await until_closed(reader))
    assert status == 408
    writer.close()
    assert await metric(gateway.url, 'botcenter_http_slow_clients_total{stage="headers"}') >= 2


# ---------------------------------------------------------------- bodies


async def test_a_partial_json_body_gets_408_and_is_closed(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **SHORT)
    reader, writer = await connect(gateway.url)
    writer.write(
        b"POST /v1/bots HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'Content-Length: 200\r\n\r\n{"token": "abc'
    )
    status, headers, body = parse(await until_closed(reader))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"
    assert "nothing arrived for 1 s" in body["error"]["message"]
    writer.close()


async def test_a_body_trickling_under_the_minimum_rate_gets_408(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **SHORT, GATEWAY_BODY_MIN_RATE="1000")
    reader, writer = await connect(gateway.url)
    writer.write(
        b"POST /v1/bots HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n{"
    )
    # One byte every 0.3 s: never idle for the 1-s body timeout, but ~3 bytes/s.
    answer = b""
    for _ in range(40):
        writer.write(b" ")
        try:
            answer = await asyncio.wait_for(reader.read(65536), 0.3)
            break
        except TimeoutError:
            continue
    answer += await until_closed(reader)
    status, _, body = parse(answer)
    assert status == 408
    assert "slower than 1000 bytes/s" in body["error"]["message"]
    writer.close()


async def test_an_upload_stalled_mid_body_gets_408_and_frees_its_slot(
    auth_stack: AuthStack,
) -> None:
    gateway = auth_stack.extra_gateway(**SHORT, GATEWAY_MAX_UPLOADS_PER_USER="1")
    alice = await sign_in(gateway.url, auth_stack.sandbox)
    reader, writer = await stalled_upload(gateway.url, alice.access_token)
    status, headers, body = parse(await until_closed(reader))
    assert status == 408
    assert headers["connection"] == "close"
    assert "nothing arrived for 1 s" in body["error"]["message"]
    writer.close()
    await apoll(lambda: _in_flight_is(gateway.url, 0), timeout_s=DEADLINE_S, what="slot released")
    # The slot is free again: the next upload is read (and refused for what it is, not 429).
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers) as api:
        again = await api.post(
            "/v1/files?kind=avatar", files={"file": ("a.png", b"not a png", "image/png")}
        )
    assert again.status_code != 429, again.text


async def test_a_client_answered_early_cannot_keep_sending_forever(start_service) -> None:
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **SHORT)
    # Not signed in: 401 before the body is read, while 7 of the declared 8 MB never come.
    reader, writer = await stalled_upload(gateway.url, None)
    data = await until_closed(reader)
    status, _, body = parse(data)
    assert status == 401, data[:300]
    assert body["error"]["code"] == "unauthenticated"
    writer.close()
    assert await metric(gateway.url, 'botcenter_http_slow_clients_total{stage="drain"}') >= 1


# ---------------------------------------------------------------- upload caps


async def _in_flight_is(url: str, n: int) -> bool:
    return await metric(url, "botcenter_gateway_uploads_in_flight") == n


async def test_concurrent_uploads_are_capped_per_user_and_per_address(
    auth_stack: AuthStack,
) -> None:
    gateway = auth_stack.extra_gateway(
        GATEWAY_BODY_TIMEOUT_S="60",
        GATEWAY_MAX_UPLOADS_PER_USER="2",
        GATEWAY_MAX_UPLOADS_PER_ADDRESS="3",
    )
    alice = await sign_in(gateway.url, auth_stack.sandbox)
    bob = await sign_in(gateway.url, auth_stack.sandbox)
    held = [await stalled_upload(gateway.url, alice.access_token, sent=4096) for _ in range(2)]
    await apoll(lambda: _in_flight_is(gateway.url, 2), timeout_s=DEADLINE_S, what="2 in flight")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=DEADLINE_S) as api:
        third = await api.post(
            "/v1/files?kind=avatar",
            headers=alice.headers,
            files={"file": ("a.png", b"\x89PNG" + b"\x00" * 1000, "image/png")},
        )
        assert third.status_code == 429, third.text
        assert third.headers["retry-after"] == "1"
        error = third.json()["error"]
        assert error["code"] == "rate_limited"
        assert "you already have 2 uploads in progress" in error["message"]
        assert error["details"]["cap"] == "user"

        # Another user from the same address: the address cap (3) counts alice's two.
        held.append(await stalled_upload(gateway.url, bob.access_token, sent=4096))
        await apoll(lambda: _in_flight_is(gateway.url, 3), timeout_s=DEADLINE_S, what="3")
        bobs = await api.post(
            "/v1/files?kind=avatar",
            headers=bob.headers,
            files={"file": ("b.png", b"\x89PNG" + b"\x00" * 1000, "image/png")},
        )
        assert bobs.status_code == 429, bobs.text
        assert "your address already has 3 uploads in progress" in bobs.json()["error"]["message"]

        # Clients that go away give their slots back.
        for _, writer in held:
            writer.close()
        await apoll(lambda: _in_flight_is(gateway.url, 0), timeout_s=DEADLINE_S, what="0")
        later = await api.post(
            "/v1/files?kind=avatar",
            headers=alice.headers,
            files={"file": ("a.png", b"not a png", "image/png")},
        )
        assert later.status_code != 429, later.text


# ---------------------------------------------------------------- large uploads


def noisy_png(side: int) -> bytes:
    """An incompressible RGB PNG (~3 bytes a pixel)."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


@pytest.mark.timeout(180)
async def test_a_large_upload_goes_through_spooled(
    auth_stack: AuthStack, start_service, tmp_path
) -> None:
    start_service("storage", STORAGE_FS_ROOT=str(tmp_path / "objects"))
    gateway = auth_stack.extra_gateway(**SHORT)
    alice = await sign_in(gateway.url, auth_stack.sandbox)
    data = noisy_png(1500)
    assert 6 * 1024 * 1024 < len(data) < 8 * 1024 * 1024
    spooled = await metric(gateway.url, "botcenter_gateway_uploads_spooled_total")
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=60) as api:
        created = await api.post(
            "/v1/files?kind=avatar", files={"file": ("big.png", data, "image/png")}
        )
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["size_bytes"] == len(data)
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert (info["width"], info["height"]) == (1500, 1500)
    assert await metric(gateway.url, "botcenter_gateway_uploads_spooled_total") == spooled + 1
    assert await _in_flight_is(gateway.url, 0)
