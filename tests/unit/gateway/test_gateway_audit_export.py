"""The audit export's pieces (#17): pages pinned to the head the first page saw, CSV cells a
spreadsheet would run as formulas quoted, JSON lines one record each; team route bodies are
the RPC contracts without the path ids."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError

from gateway.auth import Principal, current_user
from gateway.deps import get_bus
from gateway.errors import install_error_handlers
from gateway.routes import audit, workspaces
from gateway.routes.workspaces import UpdateWorkspaceBody, body_of
from proto import workspaces as W
from proto.audit import AuditPage, AuditQuery, AuditRecord
from services.bus.rpc import RpcClient

WS = uuid.uuid4()
# The body the PATCH member route takes (its table gives it to the endpoint).
UpdateMemberBody = next(
    route.endpoint.__annotations__["body"]
    for route in workspaces.router.routes
    if isinstance(route, APIRoute) and route.name == "update_member"
)


def record(n: int, **values: Any) -> AuditRecord:
    return AuditRecord(
        id=uuid.uuid4(), at=datetime(2026, 1, 1, tzinfo=UTC), workspace_id=WS,
        action="bot.update", target_type="bot", target_id=str(n), **values,
    )


class FakeLog:
    """rpc.log.audit.list over a fixed trail of 5 records, pages of 2."""

    def __init__(self) -> None:
        self.queries: list[AuditQuery] = []
        self.trail = [record(n) for n in range(5)]

    async def call(self, spec: Any, query: AuditQuery, **_: Any) -> AuditPage:
        self.queries.append(query)
        start = int(query.cursor or 0)
        items = self.trail[start : start + 2]
        more = start + 2 < len(self.trail)
        return AuditPage(items=items, next_cursor=str(start + 2) if more else None, head_seq=5)


async def collect(body: Any) -> bytes:
    return b"".join([chunk async for chunk in body])


async def test_export_pages_are_pinned_and_every_record_comes_once() -> None:
    log = FakeLog()
    query = AuditQuery(workspace_id=WS, limit=2)
    first = await log.call(None, query)
    rows = audit._pages(cast(RpcClient, log), query, first, uuid.uuid4())
    lines = (await collect(audit._jsonl(rows))).splitlines()
    assert [orjson.loads(line)["target_id"] for line in lines] == ["0", "1", "2", "3", "4"]
    assert [q.until_seq for q in log.queries] == [None, 5, 5]
    assert [q.cursor for q in log.queries] == [None, "2", "4"]


async def test_csv_quotes_formula_cells_and_keeps_the_issue_columns() -> None:
    log = FakeLog()
    log.trail = [
        record(0, user_agent="=HYPERLINK(\"http://evil\")", changes={"name": {"new": "@x"}}),
        record(1, user_agent="+1", ip="-2", request_id="\tq"),
        record(2, user_agent="plain, with \"quotes\"\nand a newline"),
    ]
    query = AuditQuery(workspace_id=WS, limit=2)
    first = await log.call(None, query)
    text = (await collect(audit._csv(audit._pages(cast(RpcClient, log), query, first, WS))))
    rows = list(csv.reader(io.StringIO(text.decode())))
    assert rows[0] == list(AuditRecord.model_fields)
    col = {name: i for i, name in enumerate(rows[0])}
    assert rows[1][col["user_agent"]] == "'=HYPERLINK(\"http://evil\")"
    assert orjson.loads(rows[1][col["changes"]]) == {"name": {"new": "@x"}}
    assert rows[2][col["user_agent"]] == "'+1"
    assert rows[2][col["ip"]] == "'-2"
    assert rows[2][col["request_id"]] == "'\tq"
    assert rows[3][col["user_agent"]] == "plain, with \"quotes\"\nand a newline"
    assert rows[3][col["actor_user_id"]] == ""
    assert len(rows) == 4


def test_route_bodies_are_the_contracts_without_path_ids() -> None:
    assert set(UpdateWorkspaceBody.model_fields) == {"name", "avatar_file_id",
                                                      "audit_retention_days"}
    assert set(UpdateMemberBody.model_fields) == {"role", "bot_ids"}
    assert body_of(W.UpdateMember, "workspace_id", "user_id") is UpdateMemberBody
    with pytest.raises(ValidationError, match="name"):
        UpdateWorkspaceBody.model_validate({"name": "x" * 500})
    with pytest.raises(ValidationError, match="must not be blank"):
        UpdateWorkspaceBody.model_validate({"name": "   "})
    with pytest.raises(ValidationError):  # the path gives the workspace, not the body
        UpdateWorkspaceBody.model_validate({"workspace_id": str(WS)})
    with pytest.raises(ValidationError):
        UpdateMemberBody.model_validate({"role": "emperor"})


async def test_the_routes_validate_filters_and_stream_an_attachment() -> None:
    log = FakeLog()
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(audit.router)
    app.dependency_overrides[get_bus] = lambda: log
    app.dependency_overrides[current_user] = lambda: Principal(
        user_id=uuid.uuid4(), kind="session", scopes=frozenset()
    )
    transport = httpx.ASGITransport(app=app)
    base = f"/v1/workspaces/{WS}/audit"
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        unknown = await c.get(base, params={"action": "bot.fly"})
        assert unknown.status_code == 422
        assert "unknown audit action" in unknown.text
        assert (await c.get(base, params={"limit": 201})).status_code == 422
        page = await c.get(base, params={"action": "bot.update", "limit": 2})
        assert page.status_code == 200, page.text
        assert set(page.json()) == {"items", "next_cursor"}
        assert log.queries[-1].action == "bot.update"
        assert log.queries[-1].limit == 2
        export = await c.get(f"{base}/export", params={"format": "csv"})
        assert export.headers["content-disposition"] == f'attachment; filename="audit-{WS}.csv"'
        assert export.headers["content-type"].startswith("text/csv")
        assert len(export.text.splitlines()) == 6  # the header and the 5 records
