"""The nats-py adapter against a real NATS server, on its fast path and on the public API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest
from nats.aio.msg import Msg

from proto.events import Event
from services.bus import natsfast
from services.bus.events import STREAM, EventPublisher, durable_pull, ensure_events_stream
from tests.fixtures.infra import apoll, connect_admin


class Thing(Event):
    n: int


@pytest.fixture(autouse=True, params=["auto", "off"])
def bus_fast_path(request: pytest.FixtureRequest) -> Iterator[str]:
    natsfast.configure(request.param)
    try:
        yield request.param
    finally:
        natsfast.configure("auto")


async def test_deliveries_arrive_in_order_and_parked_ones_stop_counting(infra, nc) -> None:
    subject = f"t.natsfast.{uuid4().hex}"
    got: list[bytes] = []
    parked: list[Msg] = []

    def deliver(msg: Msg) -> bool:
        got.append(msg.data)
        if len(got) % 2:
            parked.append(msg)
            return False
        return True

    delivery = await natsfast.subscribe(nc, subject, deliver)
    await nc.flush()
    sender = await connect_admin(infra)
    try:
        for i in range(100):
            await sender.publish(subject, b"%d" % i)
        await sender.flush()
        await apoll(lambda: len(got) == 100, timeout_s=5, what="100 deliveries")
        assert got == [b"%d" % i for i in range(100)]
        for msg in parked:
            delivery.taken(msg)
        assert delivery.sub.pending_bytes == 0
    finally:
        await delivery.unsubscribe()
        await sender.close()


async def test_pulled_batches_are_acknowledged_in_full(infra) -> None:
    owner = uuid4()
    conn = await connect_admin(infra)
    js = conn.jetstream()
    try:
        await ensure_events_stream(js)
        durable = f"test_{uuid4().hex[:10]}"
        sub = await durable_pull(js, durable, filter_subject=f"evt.test.{owner}.>")
        publisher = EventPublisher(conn, "test", js)
        for n in range(30):
            await publisher.publish("test", "thing", Thing(owner_id=owner, n=n))
        batches = natsfast.pull_batches(
            conn, js, stream=STREAM, durable=durable, batch=20, linger_s=0.2, recover=_never
        )
        await batches.start()
        stopping = asyncio.Event()
        msgs: list[Msg] = []
        try:
            while len(msgs) < 30:
                batch = await asyncio.wait_for(batches.take(stopping), 10)
                assert 0 < len(batch) <= 20
                msgs += batch
        finally:
            await batches.stop()
        assert sorted(Thing.model_validate_json(m.data).n for m in msgs) == list(range(30))
        await natsfast.ack_all(conn, msgs)

        async def all_acked() -> bool:
            info = await sub.consumer_info()
            return info.num_ack_pending == 0 and info.num_pending == 0

        await apoll(all_acked, timeout_s=5, what="every message acknowledged")
    finally:
        await conn.close()


async def _never() -> None:
    raise AssertionError("the consumer exists: nothing to recover")
