"""Fixtures for command-service tests: a real third-party HTTP peer (also an
OpenAI-compatible chat-completions endpoint) on a loopback port, bot-service and
command-service as processes, and a typed RPC caller acting as a user."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from nats.aio.client import Client as NATS
from pydantic import SecretStr

from proto import bots as B
from proto.registry import RpcSpec
from services.bus.rpc import RpcClient
from services.devstack.stack import Infra, ServiceProcess, spawn_service
from tests.fixtures.sandbox import SandboxControl, SandboxProcess


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Peer:
    """A third-party API and an OpenAI-compatible endpoint, started by the tests."""

    port: int
    closed_port: int  # nothing listens there (and it is not on the allow list)
    other_port: int  # another origin (allowed): records what reaches it
    seen: list[dict[str, Any]] = field(default_factory=list)
    other_seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_url(self) -> str:
        return f"http://127.0.0.1:{self.other_port}"


def _peer_app(peer: Peer) -> web.Application:
    async def record(request: web.Request) -> None:
        peer.seen.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": await request.text(),
            }
        )

    async def weather(request: web.Request) -> web.Response:
        await record(request)
        city = request.query.get("city", "?")
        return web.json_response({"city": city, "temp": 21, "sky": "clear"})

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.sleep(float(request.query.get("s", "3")))
        return web.json_response({"late": True})

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 2_000_000, content_type="text/plain")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    def hop(to: str, request: web.Request) -> web.Response:
        # A redirect that carries the query along, as many APIs do.
        target = f"{to}?{request.query_string}" if request.query_string else to
        return web.Response(status=302, headers={"Location": target})

    async def to_other(request: web.Request) -> web.Response:
        return hop(f"{peer.other_url}/seen", request)

    async def to_self(request: web.Request) -> web.Response:
        return hop("/v1/echo", request)

    async def deep(request: web.Request) -> web.Response:
        # Valid JSON nested deeper than Python's recursion limit, and an integer longer
        # than Python converts (4,300 digits).
        if request.query.get("kind") == "bigint":
            return web.Response(text='{"n": ' + "7" * 5000 + "}", content_type="application/json")
        return web.Response(text="[" * 50_000 + "]" * 50_000, content_type="application/json")

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    async def echo(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"headers": dict(request.headers)})

    async def chat(request: web.Request) -> web.Response:
        await record(request)
        body = await request.json()
        if request.headers.get("authorization") != "Bearer sk-test-1234567890":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        answer = f"[{body['model']}|{system}] {user}"
        if body["model"] == "long":
            answer = "word " * 1000
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    app = web.Application()
    app.router.add_get("/v1/weather", weather)
    app.router.add_get("/v1/slow", slow)
    app.router.add_get("/v1/big", big)
    app.router.add_get("/v1/redirect", redirect)
    app.router.add_get("/v1/to-other", to_other)
    app.router.add_get("/v1/to-self", to_self)
    app.router.add_get("/v1/fail", fail)
    app.router.add_get("/v1/deep", deep)
    app.router.add_post("/v1/deep/chat/completions", deep)
    app.router.add_get("/v1/echo", echo)
    app.router.add_get("/v1", echo)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def _other_app(peer: Peer) -> web.Application:
    async def record(request: web.Request) -> web.Response:
        peer.other_seen.append(
            {"path": request.path, "query": dict(request.query), "headers": dict(request.headers)}
        )
        return web.json_response({"other": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


@pytest.fixture(scope="session")
async def peer() -> AsyncIterator[Peer]:
    peer = Peer(port=_free_port(), closed_port=_free_port(), other_port=_free_port())
    runners = []
    for app, port in ((_peer_app(peer), peer.port), (_other_app(peer), peer.other_port)):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    try:
        yield peer
    finally:
        for runner in runners:
            await runner.cleanup()


def _spawn(infra: Infra, name: str, env: dict[str, str]) -> ServiceProcess:
    log_dir = infra.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    proc = spawn_service(
        name,
        {**infra.service_env(name), **env},
        log_path=log_dir / f"{name}-cmd-{uuid.uuid4().hex[:8]}.log",
    )
    proc.wait_ready(60.0)
    return proc


# Module scope: a bot-service replica left running for the whole session would join the
# fleet of later suites (leases, rendezvous hashing) and skew their replica counts.
@pytest.fixture(scope="module")
def cmd_bot_service(infra: Infra, sandbox: SandboxProcess) -> Iterator[ServiceProcess]:
    proc = _spawn(infra, "bot", {"DISCORD_BASE_URL": sandbox.base_url})
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def command_service(
    infra: Infra, peer: Peer, cmd_bot_service: ServiceProcess
) -> Iterator[ServiceProcess]:
    proc = _spawn(
        infra,
        "command",
        {
            "COMMAND_OUTBOUND_ALLOW_HOSTS": f"127.0.0.1:{peer.port},127.0.0.1:{peer.other_port}",
            "COMMAND_RENDER_TIMEOUT_MS": "200",
        },
    )
    try:
        yield proc
    finally:
        proc.stop()


class Caller:
    """Calls over NATS as one user, like the gateway does."""

    def __init__(self, nc: NATS, caller: str = "gateway") -> None:
        self.client = RpcClient(nc, caller, timeout_s=20.0)

    async def __call__(self, spec: RpcSpec[Any, Any], req: Any, user: uuid.UUID | None) -> Any:
        return await self.client.call(spec, req, user_id=user)


@pytest.fixture
def call(nc: NATS, command_service: ServiceProcess) -> Caller:
    return Caller(nc)


@dataclass
class OwnedBot:
    owner: uuid.UUID
    bot_id: uuid.UUID
    application_id: str


@pytest.fixture
async def owned_bot(call: Caller, sandbox_control: SandboxControl) -> OwnedBot:
    app = await sandbox_control.create_application(f"Cmd Bot {uuid.uuid4().hex[:6]}")
    owner = uuid.uuid4()
    bot = await call(B.CREATE_BOT, B.CreateBot(token=SecretStr(app.token)), owner)
    return OwnedBot(owner, bot.id, app.application_id)


class Events:
    """Collects events of one subject pattern (core subscription on the admin connection)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        # The headers of each message, in the same order.
        self.headers: list[dict[str, str]] = []

    async def cb(self, msg: Any) -> None:
        self.items.append((msg.subject, json.loads(msg.data)))
        self.headers.append(dict(msg.headers or {}))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for s, d in self.items if s.endswith("." + kind)]


@asynccontextmanager
async def collecting(nc: NATS, subject: str) -> AsyncIterator[Events]:
    """Events collects what is published on `subject` while the block runs."""
    events = Events()
    sub = await nc.subscribe(subject, cb=events.cb)
    try:
        yield events
    finally:
        await sub.unsubscribe()


@pytest.fixture
async def command_events(nc: NATS) -> AsyncIterator[Events]:
    async with collecting(nc, "evt.command.>") as events:
        yield events
