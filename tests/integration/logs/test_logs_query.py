"""Ingest into PostgreSQL and the query API: filters, search, paging, export, summary, RLS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from proto.logs import EXPORT_CHUNK, QUERY, SUMMARY, ExportQuery, LogQuery, SummaryQuery
from proto.system import PurgeUser, purge_spec
from services.errors import RpcError
from tests.fixtures.infra import apoll
from tests.fixtures.logs import log_line

PURGE = purge_spec("log")


async def test_query_filters_search_paging_export_summary_and_isolation(
    start_service, publisher, rpc, bot_directory
) -> None:
    start_service("log")
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a1, a2, b1 = bot_directory.add(alice), bot_directory.add(alice), bot_directory.add(bob)
    sent = []
    for i in range(30):
        bot = a1 if i % 2 == 0 else a2
        level = "error" if i % 5 == 0 else "info"
        ev = log_line(alice, bot, f"alice line {i} {'kaboom' if i % 10 == 3 else 'fine'}", level)
        await publisher.publish("log", level, ev)
        sent.append(ev)
    secret = "token=abcdefghijklmnop"
    await publisher.publish("log", "info", log_line(bob, b1, f"bob line {secret}"))

    async def all_of_alice() -> list:
        page = await rpc.call(QUERY, LogQuery(limit=1000), user_id=alice)
        return page.items if len(page.items) == 30 else []

    items = await apoll(all_of_alice, timeout_s=20, what="alice's 30 events stored")
    # Newest first, every field kept, the payload is the whole event.
    assert [i.id for i in items] == [e.id for e in reversed(sent)]
    assert items[0].payload["message"] == sent[-1].message
    assert {i.workspace_id for i in items} == {i.owner_id for i in items} == {alice}

    # Row-level security: bob sees only his own row, with the secret redacted.
    bob_items = (await rpc.call(QUERY, LogQuery(), user_id=bob)).items
    assert len(bob_items) == 1
    assert "abcdefghijklmnop" not in bob_items[0].message
    assert "abcdefghijklmnop" not in orjson.dumps(bob_items[0].payload).decode()
    # A filter on bob's bot, asked as alice, finds nothing.
    assert (await rpc.call(QUERY, LogQuery(bot_id=b1), user_id=alice)).items == []

    by_bot = (await rpc.call(QUERY, LogQuery(bot_id=a1, limit=1000), user_id=alice)).items
    assert len(by_bot) == 15
    assert {i.bot_id for i in by_bot} == {a1}
    errors = (await rpc.call(QUERY, LogQuery(level=["error"]), user_id=alice)).items
    assert len(errors) == 6
    assert {i.level for i in errors} == {"error"}
    assert {i.kind for i in errors} == {"error"}
    found = (await rpc.call(QUERY, LogQuery(q="kaboom"), user_id=alice)).items
    assert sorted(i.message for i in found) == [
        "alice line 13 kaboom",
        "alice line 23 kaboom",
        "alice line 3 kaboom",
    ]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert (await rpc.call(QUERY, LogQuery(since=future), user_id=alice)).items == []

    # Cursor paging: pages of 7 cover the 30 rows exactly once, even while rows arrive.
    seen = []
    cursor = None
    while True:
        page = await rpc.call(QUERY, LogQuery(limit=7, cursor=cursor), user_id=alice)
        seen.extend(i.id for i in page.items)
        if len(seen) == 7:
            for j in range(5):
                await publisher.publish("log", "info", log_line(alice, a1, f"late {j}"))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [e.id for e in reversed(sent)]

    with pytest.raises(RpcError) as bad:
        await rpc.call(QUERY, LogQuery(cursor="not-a-cursor"), user_id=alice)
    assert bad.value.code.value == "invalid"

    # Export: NDJSON in chunks, same filters.
    lines: list[dict] = []
    cursor = None
    while True:
        meta, body = await rpc.call_raw(
            EXPORT_CHUNK, ExportQuery(bot_id=a2, chunk=4, cursor=cursor), user_id=alice
        )
        lines.extend(orjson.loads(line) for line in body.splitlines())
        assert meta.count == len(body.splitlines())
        cursor = meta.next_cursor
        if cursor is None:
            break
    assert len(lines) == 15
    assert {line["bot_id"] for line in lines} == {str(a2)}
    assert lines[0]["payload"]["id"] == lines[0]["id"]

    summary = await rpc.call(SUMMARY, SummaryQuery(bot_id=a1, bucket_s=60), user_id=alice)
    counts = {(c.kind, c.level): c.count for c in summary.counts}
    assert counts[("error", "error")] == 3
    assert summary.total >= 15
    assert sum(c.count for b in summary.series for c in b.counts) == summary.total
    # Another user's bot does not exist for bob.
    with pytest.raises(RpcError) as hidden:
        await rpc.call(SUMMARY, SummaryQuery(bot_id=a1), user_id=bob)
    assert hidden.value.code.value == "not_found"

    # Purge removes one user's rows only.
    removed = await rpc.call(PURGE, PurgeUser(user_id=bob))
    assert removed.removed == 1
    assert (await rpc.call(QUERY, LogQuery(), user_id=bob)).items == []
    assert len((await rpc.call(QUERY, LogQuery(limit=1000), user_id=alice)).items) >= 30


async def test_queries_need_a_user(start_service, rpc) -> None:
    start_service("log")
    with pytest.raises(RpcError) as err:
        await rpc.call(QUERY, LogQuery())
    assert err.value.code.value == "unauthenticated"
