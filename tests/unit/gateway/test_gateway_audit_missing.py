"""`gateway_audit_missing_total{route}` (#17 §6.2): a 2xx answer to a route that records an
audit action, whose calls brought back no `bc-audit`, is counted (and logged); refusals,
routes that record nothing and reads are not."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI, Response

from gateway.audit import AUDIT_MISSING
from gateway.middleware import RequestContextMiddleware
from services.audit import written_var

START = "/v1/bots/{bot_id}/start"
PREVIEW = "/v1/bots/{bot_id}/commands/preview"


def missing(route: str) -> float:
    return AUDIT_MISSING.labels(route)._value.get()  # type: ignore[attr-defined, no-any-return]


async def test_a_change_without_a_record_is_counted() -> None:
    app = FastAPI()

    @app.post(START)
    async def start(bot_id: str, recorded: bool = False, status: int = 202) -> Response:
        if recorded:  # as RpcClient does with a reply's bc-audit
            written_var.set((*written_var.get(), uuid.uuid4()))
        return Response(status_code=status)

    @app.post(PREVIEW)
    async def preview(bot_id: str) -> Response:
        return Response(status_code=200)

    transport = httpx.ASGITransport(app=RequestContextMiddleware(app))
    before, before_preview = missing(START), missing(PREVIEW)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        assert (await c.post("/v1/bots/b1/start", params={"recorded": True})).status_code == 202
        assert missing(START) == before
        assert (await c.post("/v1/bots/b1/start", params={"status": 403})).status_code == 403
        assert missing(START) == before
        await c.post("/v1/bots/b1/commands/preview")
        assert missing(PREVIEW) == before_preview
        assert (await c.post("/v1/bots/b1/start")).status_code == 202
        assert missing(START) == before + 1
