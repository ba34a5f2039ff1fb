"""A workspace's audit trail (#17): one page (`GET …/audit`) or all of it as a download
(`GET …/audit/export`), both from log-service's `rpc.log.audit.list`, which checks
`audit.view` and answers 404 for a workspace the caller is not in.

The export asks for its first page before answering, so a refusal is a clean 403/404; it then
pins the chain head of that page (`until_seq`) and streams pages of AUDIT_EXPORT_PAGE records:
memory stays flat whatever the trail's length, and records written meanwhile do not shift the
pages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Annotated, Any, Final
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from gateway.auth import CurrentUser
from gateway.deps import Bus
from gateway.routes.items import typed
from gateway.routes.workspaces import body_of
from proto.audit import (
    AUDIT_EXPORT_PAGE,
    AUDIT_LIST,
    AUDIT_PAGE_MAX,
    AuditExportQuery,
    AuditPage,
    AuditQuery,
    AuditRecord,
)
from proto.base import Contract
from proto.errors import ErrorCode, FieldError
from services.bus.rpc import RpcClient
from services.errors import RpcError

router = APIRouter(tags=["audit"])

AUDIT = "/v1/workspaces/{workspace_id}/audit"
COLUMNS: Final = tuple(AuditRecord.model_fields)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such a
# cell is written with a leading `'`. Tab and carriage return are the OWASP list's others.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPES: Final = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


# The query of `GET …/audit`: the filters, `cursor` and `limit` (the bus contract without
# what the path gives and what only the export sets).
ListQuery = body_of(AuditQuery, "workspace_id", "until_seq")


@router.get(
    AUDIT,
    response_model=AuditPage,
    response_model_exclude={"head_seq"},
    summary="the workspace's audit trail, newest first (audit.view)",
)
@typed(params=Annotated[ListQuery, Query()])
async def list_audit(
    workspace_id: Annotated[UUID, Path()],
    bus: Bus,
    user: CurrentUser,
    params: Annotated[Contract, Query()],
) -> Any:
    query = AuditQuery(workspace_id=workspace_id, **params.model_dump(exclude_unset=True))
    if query.limit > AUDIT_PAGE_MAX:  # the bus allows export pages; a client gets this many
        raise RpcError(
            ErrorCode.VALIDATION,
            f"limit is at most {AUDIT_PAGE_MAX}",
            fields=[FieldError(loc=["query", "limit"], message=f"at most {AUDIT_PAGE_MAX}")],
        )
    return await bus.call(AUDIT_LIST, query, user_id=user.user_id)


@router.get(
    f"{AUDIT}/export",
    response_class=StreamingResponse,
    summary="the workspace's audit trail as CSV or JSON lines, streamed (audit.view)",
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
)
async def export_audit(
    workspace_id: Annotated[UUID, Path()],
    bus: Bus,
    user: CurrentUser,
    params: Annotated[AuditExportQuery, Query()],
) -> StreamingResponse:
    format = params.format
    filters = params.model_dump(exclude_unset=True, exclude={"format"})
    query = AuditQuery(workspace_id=workspace_id, limit=AUDIT_EXPORT_PAGE, **filters)
    first = await bus.call(AUDIT_LIST, query, user_id=user.user_id)
    rows = _pages(bus, query, first, user.user_id)
    body = _csv(rows) if format == "csv" else _jsonl(rows)
    name = f"audit-{workspace_id}.{format}"
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def _pages(
    bus: RpcClient, query: AuditQuery, first: AuditPage, user_id: UUID
) -> AsyncIterator[list[AuditRecord]]:
    page = first
    # Later pages stop at the head the first one saw.
    query = query.model_copy(update={"until_seq": first.head_seq})
    while True:
        yield page.items
        if page.next_cursor is None or not page.items:
            return
        query = query.model_copy(update={"cursor": page.next_cursor})
        page = await bus.call(AUDIT_LIST, query, user_id=user_id)


async def _jsonl(pages: AsyncIterator[list[AuditRecord]]) -> AsyncIterator[bytes]:
    async for items in pages:
        yield b"".join(item.__pydantic_serializer__.to_json(item) + b"\n" for item in items)


def safe_cell(value: Any) -> str:
    """A CSV cell's text: JSON for `changes`, ISO 8601 for times, and a leading `'` before
    anything a spreadsheet would evaluate."""
    if value is None:
        return ""
    if isinstance(value, dict):
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: Iterable[Iterable[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue().encode()


async def _csv(pages: AsyncIterator[list[AuditRecord]]) -> AsyncIterator[bytes]:
    yield csv_lines([COLUMNS])
    async for items in pages:
        yield csv_lines([getattr(item, c) for c in COLUMNS] for item in items)
