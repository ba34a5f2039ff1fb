"""`bc-client` (#17): the gateway stamps the person's address and agent on the calls of a
request that may change something (and of sign-in), never on reads, so the service writing
the audit record can name them."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from gateway.middleware import RequestContextMiddleware
from services.audit import client_var


async def test_changes_and_sign_in_carry_the_client_reads_do_not() -> None:
    seen: list[str | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(client_var.get())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = RequestContextMiddleware(app, trusted_hops=1)
    transport = httpx.ASGITransport(app=wrapped, client=("10.0.0.2", 1234))
    headers = {"user-agent": "botcenter-cli/1.0", "x-forwarded-for": "198.51.100.7"}
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        await c.post("/v1/bots/x/start", headers=headers)
        await c.get("/v1/bots", headers=headers)
        await c.get("/v1/auth/discord/callback", headers=headers)
        await c.delete("/v1/files/x", headers={"x-forwarded-for": "198.51.100.8"})
    assert orjson.loads(seen[0] or "") == {"ip": "198.51.100.7", "ua": "botcenter-cli/1.0"}
    assert seen[1] is None
    assert orjson.loads(seen[2] or "") == {"ip": "198.51.100.7", "ua": "botcenter-cli/1.0"}
    assert orjson.loads(seen[3] or "") == {"ip": "198.51.100.8", "ua": "python-httpx/" +
                                           httpx.__version__}
    assert client_var.get() is None  # nothing leaks past the request
