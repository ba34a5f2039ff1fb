"""Resume after `last_event_id`, and a slow client closed with 1013 while others go on."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from proto.events import new_event_id
from tests.fixtures.logs import (
    close_code,
    events_until,
    log_line,
    next_frame,
    open_stream,
    subscribe,
    ticket_for,
)


async def test_reconnect_with_last_event_id_gets_every_missed_event_then_live(
    start_service, rpc, publisher
) -> None:
    log = start_service("log")
    alice, bot = uuid.uuid4(), uuid.uuid4()
    ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    await subscribe(ws)
    first = [log_line(alice, bot, f"before {i}") for i in range(5)]
    for ev in first:
        await publisher.publish("log", "info", ev)
    got = await events_until(ws, first[-1].id)
    last_id = got[-1]["id"]
    await ws.close()

    # 500 events while disconnected, plus another user's that must not appear.
    missed = [log_line(alice, bot, f"missed {i}") for i in range(500)]
    for i, ev in enumerate(missed):
        await publisher.publish("log", "info", ev)
        if i % 50 == 0:
            await publisher.publish("log", "info", log_line(uuid.uuid4(), None, "someone else"))

    ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    await subscribe(ws, last_event_id=last_id)
    frames = []
    while True:
        frame = await next_frame(ws)
        if frame["type"] == "resumed":
            break
        if frame["type"] == "event":
            frames.append(frame)
    assert [f["id"] for f in frames] == [str(e.id) for e in missed]
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 500
    live = [log_line(alice, bot, f"live {i}") for i in range(5)]
    for ev in live:
        await publisher.publish("log", "info", ev)
    after = await events_until(ws, live[-1].id)
    assert [f["id"] for f in after] == [str(e.id) for e in live]
    await ws.close()


async def test_resume_while_events_keep_coming_has_no_gap_or_duplicate(
    start_service, rpc, publisher
) -> None:
    log = start_service("log")
    alice, bot = uuid.uuid4(), uuid.uuid4()
    start = log_line(alice, bot, "start")
    await publisher.publish("log", "info", start)
    everything = []

    async def produce() -> None:
        for i in range(600):
            ev = log_line(alice, bot, f"n {i}")
            await publisher.publish("log", "info", ev)
            everything.append(str(ev.id))

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0)  # let the producer start: the resume races with it on purpose
    ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    await subscribe(ws, last_event_id=str(start.id))
    await producer
    got = await events_until(ws, everything[-1], timeout_s=30)
    assert [f["id"] for f in got] == everything
    await ws.close()


async def test_resume_finds_an_event_not_stored_yet_in_jetstream(
    start_service, rpc, publisher
) -> None:
    # A replica that does not ingest: the last event id is only in JetStream, found by time.
    log = start_service("log", LOG_INGEST_WORKERS="0")
    alice, bot = uuid.uuid4(), uuid.uuid4()
    ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    await subscribe(ws)
    seen = log_line(alice, bot, "seen")
    await publisher.publish("log", "info", seen)
    await events_until(ws, seen.id)
    await ws.close()
    missed = [log_line(alice, bot, f"missed {i}") for i in range(50)]
    for ev in missed:
        await publisher.publish("log", "info", ev)
    ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
    await subscribe(ws, last_event_id=str(seen.id))
    got = await events_until(ws, missed[-1].id)
    assert [f["id"] for f in got] == [str(e.id) for e in missed]
    assert (await next_frame(ws))["type"] == "resumed"
    await ws.close()

    # An id that never existed is said so, and live events follow.
    for unknown in (uuid.uuid4(), new_event_id()):
        ws = await open_stream(log.url, ticket=await ticket_for(rpc, alice))
        await subscribe(ws, last_event_id=str(unknown))
        assert (await next_frame(ws))["type"] == "resume_failed"
        assert (await next_frame(ws))["type"] == "resumed"
        live = log_line(alice, bot, "after a failed resume")
        await publisher.publish("log", "info", live)
        assert [f["id"] for f in await events_until(ws, live.id)] == [str(live.id)]
        await ws.close()


async def buffered(url: str) -> float:
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("botcenter_log_stream_buffered_bytes"))
    return float(line.split()[-1])


@pytest.mark.parametrize("server", ["picows", "asgi"])
async def test_a_slow_client_is_closed_with_1013_and_others_keep_receiving(
    start_service, rpc, publisher, server
) -> None:
    bound = 512 * 1024
    log = start_service(
        "log",
        LOG_STREAM_SERVER=server,
        LOG_STREAM_QUEUE_MAX="64",  # the asgi route's bound, in frames (64 x 8 kB)
        LOG_STREAM_SEND_BUFFER_BYTES=str(bound),  # the picows server's bound, in bytes
        LOG_STREAM_CLOSE_TIMEOUT_S="300",  # this test reads the close frame late on purpose
    )
    alice, bot = uuid.uuid4(), uuid.uuid4()
    fast = await open_stream(log.url, ticket=await ticket_for(rpc, alice), max_queue=None)
    # The slow one stops reading from its socket as soon as its one-frame queue is full.
    slow = await open_stream(log.url, ticket=await ticket_for(rpc, alice), max_queue=1)
    await subscribe(fast)
    await subscribe(slow)
    big = "x" * 8000
    events = [log_line(alice, bot, f"{i} {big}") for i in range(2500)]
    peak = 0.0

    async def produce() -> None:
        nonlocal peak
        for i, ev in enumerate(events):
            await publisher.publish("log", "info", ev)
            if i % 100 == 0:
                peak = max(peak, await buffered(log.url))

    producer = asyncio.create_task(produce())
    got = await events_until(fast, events[-1].id, timeout_s=60)
    await producer
    assert [f["id"] for f in got] == [str(e.id) for e in events]
    # 20 MB went to the slow client's user; at no time did it hold more than its bound
    # (plus a frame), and once closed its backlog is not replenished.
    assert peak <= 2 * (bound + 16 * 1024)
    assert await buffered(log.url) <= bound + 16 * 1024
    code, reason = await close_code(slow, timeout_s=30)
    assert code == 1013
    assert "too slow" in reason
    await fast.close()
