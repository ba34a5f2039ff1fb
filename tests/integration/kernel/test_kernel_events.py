"""JetStream events through the kernel: durability while a consumer is down, de-duplication."""

from __future__ import annotations

from uuid import uuid4

from proto.events import Event
from services.bus.events import (
    AUDIT_STREAM,
    EventPublisher,
    durable_pull,
    ensure_audit_stream,
    ensure_events_stream,
)
from tests.fixtures.infra import connect_admin


class Thing(Event):
    n: int


async def test_events_published_while_consumer_is_down_arrive_later(infra) -> None:
    owner = uuid4()
    pub_conn = await connect_admin(infra)
    js = pub_conn.jetstream()
    await ensure_events_stream(js)
    durable = f"test_{uuid4().hex[:10]}"
    subject = f"evt.test.{owner}.>"

    # The consumer exists, then goes away (its process dies).
    con_conn = await connect_admin(infra)
    sub = await durable_pull(con_conn.jetstream(), durable, filter_subject=subject)
    await sub.unsubscribe()
    await con_conn.close()

    publisher = EventPublisher(pub_conn, "test", js)
    sent = [Thing(owner_id=owner, n=i) for i in range(25)]
    for event in sent:
        await publisher.publish("test", "thing", event)

    # A new process binds to the same durable consumer and receives everything, in order.
    con_conn = await connect_admin(infra)
    sub = await durable_pull(con_conn.jetstream(), durable, filter_subject=subject)
    received: list[Thing] = []
    while len(received) < len(sent):
        for msg in await sub.fetch(10, timeout=5):
            received.append(Thing.model_validate_json(msg.data))
            await msg.ack()
    assert [e.id for e in received] == [e.id for e in sent]
    assert [e.n for e in received] == list(range(25))
    await con_conn.close()
    await pub_conn.close()


async def test_a_retried_publish_with_the_same_event_id_is_stored_once(infra) -> None:
    owner = uuid4()
    conn = await connect_admin(infra)
    js = conn.jetstream()
    await ensure_events_stream(js)
    publisher = EventPublisher(conn, "test", js)
    event = Thing(owner_id=owner, n=1)
    first = await publisher.publish("test", "thing", event)
    again = await publisher.publish("test", "thing", event)
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq

    durable = f"dup_{uuid4().hex[:10]}"
    sub = await durable_pull(js, durable, filter_subject=f"evt.test.{owner}.>")
    msgs = await sub.fetch(10, timeout=2)
    assert len(msgs) == 1
    # Nothing else is pending: a second fetch times out empty.
    try:
        extra = await sub.fetch(1, timeout=0.3)
    except TimeoutError:
        extra = []
    assert extra == []
    await conn.close()


async def test_a_durable_pull_consumer_of_another_stream(infra) -> None:
    # log-service's audit lane reads the AUDIT stream (aud.>), not EVENTS.
    conn = await connect_admin(infra)
    js = conn.jetstream()
    await ensure_audit_stream(js)
    ws = uuid4()
    await js.publish(f"aud.{ws}.test", b"{}")
    durable = f"aud_{uuid4().hex[:10]}"
    sub = await durable_pull(js, durable, filter_subject=f"aud.{ws}.>", stream=AUDIT_STREAM)
    [msg] = await sub.fetch(1, timeout=5)
    assert msg.subject == f"aud.{ws}.test"
    assert msg.metadata.stream == AUDIT_STREAM
    assert (await js.consumer_info(AUDIT_STREAM, durable)).name == durable
    await conn.close()
