"""Messages straight from nats-py's read loop to a callback, without a task per subscription.

nats-py hands every message of a subscription to an asyncio queue that a task of its own
drains: a queue put, a task wake-up and a get per message. For hot subscriptions (RPC
requests and replies, ingest deliveries) the callback runs right where the message is
parsed instead. This relies on a nats-py internal (`Subscription._pending_queue`), checked
at subscribe time; constraints.txt keeps nats-py on the version it was written against.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class DirectDelivery(asyncio.Queue[Msg]):
    """Stands in for a nats-py subscription's pending queue so that each message goes to
    `deliver` as nats-py's read loop parses it, without the subscription task in between.

    `deliver` returns True when it took the message, False when it parked it (its bytes
    then still count towards nats-py's `pending_bytes_limit` until `taken` is called), or
    raises `asyncio.QueueFull`, which nats-py reports as a slow consumer. Nothing is ever
    stored in the queue itself, so nats-py's drain (`join()`) never waits on it.
    """

    def __init__(self, sub: Subscription, deliver: Callable[[Msg], bool]) -> None:
        super().__init__()
        self._sub = sub
        self._deliver = deliver

    def put_nowait(self, item: Msg) -> None:
        if self._deliver(item):
            self._sub._pending_size -= len(item.data)

    def taken(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)


async def subscribe_direct(
    nc: NATS, subject: str, deliver: Callable[[Msg], bool], queue: str = ""
) -> tuple[Subscription, DirectDelivery]:
    sub = await nc.subscribe(subject, queue=queue)
    parked = getattr(sub, "_pending_queue", None)
    if not isinstance(parked, asyncio.Queue):  # pragma: no cover - nats-py internals moved
        await sub.unsubscribe()
        raise RuntimeError("this nats-py version keeps no per-subscription pending queue")
    direct = DirectDelivery(sub, deliver)
    sub._pending_queue = direct
    while not parked.empty():  # anything that arrived before the swap, in order
        direct.put_nowait(parked.get_nowait())
    return sub, direct
