"""The body-size limit refuses a chunked body as soon as it passes the limit."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.middleware import BodyLimitMiddleware


def make_app(read: list[int]) -> BodyLimitMiddleware:
    async def echo(request: Request) -> JSONResponse:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            read.append(total)
        return JSONResponse({"bytes": total})

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    return BodyLimitMiddleware(app, max_bytes=4096, max_upload_bytes=16384)


async def chunks(count: int, size: int = 1024):
    for _ in range(count):
        yield b"z" * size


async def test_small_bodies_pass_and_large_chunked_bodies_stop_early() -> None:
    read: list[int] = []
    transport = httpx.ASGITransport(app=make_app(read))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post("/echo", content=chunks(3))
        assert ok.status_code == 200
        assert ok.json() == {"bytes": 3072}
        read.clear()
        big = await client.post("/echo", content=chunks(100))
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "too_large"
        # The handler stopped receiving right after the limit, not after 100 KiB.
        assert max(read, default=0) <= 4096


async def test_declared_length_over_the_limit_is_refused_without_reading() -> None:
    read: list[int] = []
    transport = httpx.ASGITransport(app=make_app(read))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.post("/echo", content=b"a" * 5000)
        assert resp.status_code == 413
        assert read == []
        upload = await client.post(
            "/echo",
            content=b"a" * 5000,
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        # Multipart uploads get the larger limit.
        assert upload.status_code == 200
