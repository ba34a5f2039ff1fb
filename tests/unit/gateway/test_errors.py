"""Errors never escape as a dropped connection or an unserializable body.

An exception nothing handled is answered by `RequestContextMiddleware` itself — a JSON 500
naming the request id that the `X-Request-Id` header carries too — instead of reaching
Starlette's outer error middleware (after the id was reset: "request id -") and then the
server, which closes the connection. A contract that a handler builds from the caller's
input and that breaks a rule is a 422 naming the field, and echoing a lone surrogate or a
huge integer back in an error body does not break the error handler.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from gateway.errors import dump_json, install_error_handlers
from gateway.middleware import RequestContextMiddleware
from proto.errors import ErrorCode
from proto.logs import LogQuery
from services.errors import RpcError


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/contract")
    async def contract(kind: str) -> LogQuery:
        return LogQuery(kind=[kind])

    @app.get("/echo")
    async def echo() -> None:
        raise HTTPException(400, detail="bad value \ud800 here")

    @app.get("/details")
    async def details() -> None:
        raise RpcError(ErrorCode.INVALID, "odd", details={"n": 2**70, "s": "\udfff"})

    app.add_middleware(RequestContextMiddleware, response_headers=[(b"x-test", b"1")])
    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app())
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_an_unhandled_error_is_a_json_500_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        r = await client.get("/boom", headers={"x-request-id": "abcdef123456"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "abcdef123456"
    assert r.headers["x-test"] == "1"
    body = r.json()["error"]
    assert body["code"] == "internal"
    assert body["details"]["request_id"] == "abcdef123456"
    assert "abcdef123456" in body["message"]
    assert "a bug" not in r.text  # never the exception itself
    assert any(rec.getMessage() == "unhandled error" for rec in caplog.records)


async def test_a_contract_broken_by_the_callers_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/contract", params={"kind": "a b"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation"
    assert error["fields"][0]["loc"] == ["kind", 0]
    assert error["message"].startswith("invalid kind.0: ")


async def test_error_bodies_survive_what_json_cannot_carry(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/echo")
    assert echoed.status_code == 400
    assert echoed.json()["error"]["message"] == "bad value \\ud800 here"
    odd = await client.get("/details")
    assert odd.status_code == 400
    assert odd.json()["error"]["details"] == {"n": str(2**70), "s": "\\udfff"}


def test_dump_json_never_raises() -> None:
    assert (
        dump_json({"a": "\ud800", 1: [2**80]})
        == b'{"a":"\\\\ud800","1":["' + str(2**80).encode() + b'"]}'
    )
