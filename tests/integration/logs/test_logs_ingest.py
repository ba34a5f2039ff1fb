"""Ingest safety: SIGKILL mid-stream loses nothing and duplicates nothing; replicas share work."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from proto.logs import SUMMARY, SummaryQuery
from tests.fixtures.infra import apoll
from tests.fixtures.logs import events_until, log_line, open_stream, subscribe, ticket_for

# Every test uses the same durable consumer; its ack wait is fixed when it is first created.
ENV = {"LOG_INGEST_ACK_WAIT_S": "3"}


@pytest.fixture(params=["auto", "off"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Each test runs the log-service on nats-py's fast path and on its public API."""
    return {**ENV, "BUS_FAST_PATH": request.param}


async def stored(rpc, owner: uuid.UUID) -> int:
    # All of the owner's events (each test's owner has one bot): a per-bot summary would
    # ask bot-service, which these tests do not start.
    now = datetime.now(UTC)
    query = SummaryQuery(since=now - timedelta(hours=1), until=now + timedelta(hours=1), bucket_s=0)
    return (await rpc.call(SUMMARY, query, user_id=owner)).total


async def test_sigkill_while_10000_events_arrive_loses_and_duplicates_nothing(
    start_service, publisher, rpc, env
) -> None:
    log = start_service("log", **env)
    owner, bot = uuid.uuid4(), uuid.uuid4()

    async def produce(start: int, stop: int) -> None:
        for i in range(start, stop):
            await publisher.publish("log", "info", log_line(owner, bot, f"event {i}"))

    await produce(0, 3000)
    # Kill it while it is busy storing what arrived; more events arrive while it is down.
    await apoll(lambda: stored(rpc, owner), timeout_s=30, what="ingest started")
    os.killpg(log.proc.pid, signal.SIGKILL)
    log.proc.wait()
    await produce(3000, 7000)
    start_service("log", **env)
    await produce(7000, 10_000)

    async def all_stored() -> bool:
        return await stored(rpc, owner) >= 10_000

    await apoll(all_stored, timeout_s=90, interval_s=0.5, what="10,000 rows")
    # Events delivered to the killed process but never acknowledged were redelivered
    # (ack wait 3 s) and stored once: exactly 10,000 rows.
    assert await stored(rpc, owner) == 10_000


async def test_two_replicas_share_ingestion_and_each_serves_streams(
    start_service, publisher, rpc, env
) -> None:
    one = start_service("log", LOG_INGEST_BATCH="20", **env)
    two = start_service("log", LOG_INGEST_BATCH="20", **env)
    owner, bot = uuid.uuid4(), uuid.uuid4()
    ws1 = await open_stream(one.url, ticket=await ticket_for(rpc, owner))
    ws2 = await open_stream(two.url, ticket=await ticket_for(rpc, owner))
    await subscribe(ws1)
    await subscribe(ws2)
    events = [log_line(owner, bot, f"shared {i}") for i in range(2000)]
    for ev in events:
        await publisher.publish("log", "info", ev)
    ids = [str(e.id) for e in events]
    assert [f["id"] for f in await events_until(ws1, ids[-1])] == ids
    assert [f["id"] for f in await events_until(ws2, ids[-1])] == ids

    async def all_stored() -> bool:
        return await stored(rpc, owner) == 2000

    await apoll(all_stored, timeout_s=60, interval_s=0.3, what="2,000 rows")

    async def ingested(url: str) -> float:
        async with httpx.AsyncClient(base_url=url) as client:
            text = (await client.get("/metrics")).text
        line = next(x for x in text.splitlines() if x.startswith("botcenter_log_ingested_total"))
        return float(line.split()[-1])

    # Both replicas took batches from the one durable consumer.
    assert await ingested(one.url) > 0
    assert await ingested(two.url) > 0
    await ws1.close()
    await ws2.close()


async def test_ingestion_carries_on_after_its_durable_consumer_is_deleted(
    start_service, publisher, rpc, nc, env
) -> None:
    start_service("log", **env)
    owner, bot = uuid.uuid4(), uuid.uuid4()

    async def at_least(n: int) -> bool:
        return await stored(rpc, owner) >= n

    for i in range(100):
        await publisher.publish("log", "info", log_line(owner, bot, f"before {i}"))
    await apoll(lambda: at_least(100), timeout_s=30, interval_s=0.3, what="100 rows")
    # An operator (or a restore) removes the consumer: pull requests are refused; the
    # replica makes the consumer again (it redelivers from the start) and carries on.
    await nc.jetstream().delete_consumer("EVENTS", "log-ingest")
    for i in range(100):
        await publisher.publish("log", "info", log_line(owner, bot, f"after {i}"))
    await apoll(lambda: at_least(200), timeout_s=90, interval_s=0.5, what="200 rows")
    assert await stored(rpc, owner) == 200  # the redelivered ones were no-ops
