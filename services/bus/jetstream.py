"""Following and replaying the event stream, and reading KV keys, on nats-py's public API.

Services name these instead of nats-py's, so that `nats` is imported by the bus alone
(the hot pull consumer of ingestion is `natsfast.pull_batches`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.bus.kv import Store
from services.bus.types import (
    JetStream,
    KeyDeletedError,
    Msg,
    NatsClient,
    NatsTimeoutError,
    Subscription,
)

__all__ = [
    "Following",
    "JetStream",
    "Msg",
    "NatsClient",
    "Replay",
    "Replayed",
    "first_seq",
    "follow_new",
    "live_value",
    "replay",
]


class Following:
    """A subscription that follows a stream; `stop` ends it (errors ignored: at shutdown
    the connection may be gone already)."""

    def __init__(self, sub: Subscription) -> None:
        self._sub = sub

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


async def follow_new(
    js: JetStream,
    subject: str,
    *,
    stream: str,
    cb: Callable[[Msg], Awaitable[None]],
    pending_msgs_limit: int,
) -> Following:
    """Every new message of `stream` on `subject`, in stream order, to `cb`: an ordered
    consumer (ephemeral, recreated by nats-py after a gap) starting after the last one."""
    sub = await js.subscribe(
        subject,
        stream=stream,
        cb=cb,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
        pending_msgs_limit=pending_msgs_limit,
    )
    return Following(sub)


async def first_seq(js: JetStream, stream: str) -> int:
    """The sequence of the oldest message `stream` still holds."""
    info = await js.stream_info(stream)
    return info.state.first_seq


@dataclass(frozen=True, slots=True)
class Replayed:
    subject: str
    data: bytes
    stream_seq: int
    pending: int  # messages of the replay still to come after this one


class Replay:
    """An open replay: `pending` messages matched when it opened."""

    def __init__(self, sub: JetStream.PullSubscription, pending: int) -> None:
        self._sub = sub
        self.pending = pending

    async def fetch(self, batch: int, timeout_s: float) -> list[Replayed] | None:
        """Up to `batch` messages; None when none came within `timeout_s`."""
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout_s)
        except (NatsTimeoutError, TimeoutError):
            return None
        out: list[Replayed] = []
        for m in msgs:
            meta = m.metadata
            out.append(Replayed(m.subject, m.data, meta.sequence.stream, meta.num_pending))
        return out


@contextlib.asynccontextmanager
async def replay(
    js: JetStream,
    stream: str,
    subject: str,
    *,
    start_seq: int | None = None,
    start_time: datetime | None = None,
) -> AsyncIterator[Replay]:
    """The messages of `stream` on `subject` from `start_seq` (or from `start_time`),
    through a short-lived consumer without acks, in memory, deleted on exit (or by the
    server once idle for 30 s, should the delete not reach it)."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
        mem_storage=True,
        filter_subject=subject,
    )
    if start_seq is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = start_seq
    else:
        assert start_time is not None
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = start_time
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    consumer: str | None = None
    try:
        info = await sub.consumer_info()
        consumer = info.name
        yield Replay(sub, info.num_pending or 0)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        if consumer is not None:  # else its inactive_threshold removes it
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, consumer)


async def live_value(store: Store, key: str) -> tuple[bytes, int] | None:
    """`Store.get`, also None when the key's last entry is a delete marker."""
    try:
        return await store.get(key)
    except KeyDeletedError:
        return None
