"""Every use of nats-py's private internals, with nats-py's public API as the fallback.

nats-py hands every message of a subscription to an asyncio queue that a task of its own
drains: a queue put, a task wake-up and a get per message. For hot subscriptions (RPC
requests and replies, ingest deliveries) the fast path runs the callback right where the
read loop parses the message instead, by standing in for `Subscription._pending_queue`
(and keeping `_pending_size` honest); it acknowledges a batch of JetStream messages with
one write (`Client._send_command` + `_flush_pending`) and builds pull requests from
`JetStreamContext._prefix`.

None of that is nats-py's promise. `configure` checks, once per process, that the
installed nats-py still has those internals and still feeds the pending queue from its
read loop; if not (or with `BUS_FAST_PATH=off`) every function here uses the public API
instead (`subscribe(cb=...)`, `pull_subscribe_bind`/`fetch`, `Msg.ack`) and the callers
see the same behaviour, a little slower (bench/rpc_roundtrip.py measures both). The log
says which path the process runs. This is the only module allowed to touch nats-py's
private members (ruff SLF001).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

FastPathSetting = Literal["auto", "off"]

_fast: bool | None = None


def configure(setting: FastPathSetting) -> bool:
    """Pick this process's path (`auto`: fast when the installed nats-py allows it);
    logs which one when the choice changes. True when the fast path is on."""
    global _fast
    missing = missing_internals() if setting == "auto" else []
    fast = setting == "auto" and not missing
    if fast != _fast:
        if fast:
            log.info("nats-py fast path on (direct delivery, batched acks)")
        elif setting == "off":
            log.info("nats-py fast path off (BUS_FAST_PATH=off): public API only")
        else:
            log.warning(
                "nats-py fast path unavailable, public API only: this nats-py lacks %s",
                ", ".join(missing),
            )
    _fast = fast
    return fast


def fast_path() -> bool:
    """Whether the fast path is on (chosen from the environment on first use, unless the
    runner configured it already)."""
    if _fast is None:
        from services.settings import KernelSettings

        return configure(KernelSettings().bus_fast_path)
    return _fast


def missing_internals() -> list[str]:
    """The nats-py internals the fast path needs that the installed version lacks."""
    missing: list[str] = []
    try:
        probe = Subscription(None)
        if not isinstance(getattr(probe, "_pending_queue", None), asyncio.Queue):
            missing.append("Subscription._pending_queue")
        if not isinstance(getattr(probe, "_pending_size", None), int):
            missing.append("Subscription._pending_size")
    except Exception:
        missing.append("Subscription(conn)")
    # The read loop must count bytes and hand each message to the pending queue with
    # put_nowait, the one method DirectDelivery overrides.
    try:
        read_loop = inspect.getsource(NATS._process_msg)
    except (AttributeError, OSError, TypeError):
        read_loop = ""
    for needle in ("_pending_queue.put_nowait(", "_pending_size +="):
        if needle not in read_loop:
            missing.append(f"Client._process_msg using {needle.rstrip('(+= ')}")
    for name in ("_send_command", "_flush_pending"):
        if not inspect.iscoroutinefunction(getattr(NATS, name, None)):
            missing.append(f"Client.{name}")
    if "self._prefix =" not in _source(JetStreamContext.__init__):
        missing.append("JetStreamContext._prefix")
    return missing


def _source(fn: object) -> str:
    try:
        return inspect.getsource(fn)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


# -- subscriptions ------------------------------------------------------------------------


class Delivery:
    """A subscription whose messages go to `deliver(msg)`.

    `deliver` returns True when it took the message, False when it parked it (call
    `taken` once it takes it), or raises `asyncio.QueueFull` to drop it as a slow
    consumer. On the fast path it runs inside nats-py's read loop, so it must not block;
    on the public path it runs in the subscription's task, one message at a time.
    """

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub

    def taken(self, msg: Msg) -> None:
        """A parked message was taken: on the fast path its bytes stop counting towards
        nats-py's `pending_bytes_limit` (the public path never counted them)."""

    async def unsubscribe(self) -> None:
        await self.sub.unsubscribe()


class _DirectQueue(asyncio.Queue[Msg]):
    """Stands in for a subscription's pending queue: each message goes to `deliver` as
    nats-py's read loop parses it. Nothing is ever stored in the queue itself, so
    nats-py's drain (`join()`) never waits on it; `asyncio.QueueFull` raised by `deliver`
    is what nats-py reports as a slow consumer."""

    def __init__(self, sub: Subscription, deliver: Callable[[Msg], bool]) -> None:
        super().__init__()
        self._sub = sub
        self._deliver = deliver

    def put_nowait(self, item: Msg) -> None:
        if self._deliver(item):
            self._sub._pending_size -= len(item.data)

    def taken(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)


class _DirectDelivery(Delivery):
    def __init__(self, sub: Subscription, direct: _DirectQueue) -> None:
        super().__init__(sub)
        self._direct = direct

    def taken(self, msg: Msg) -> None:
        self._direct.taken(msg)


async def subscribe(
    nc: NATS, subject: str, deliver: Callable[[Msg], bool], queue: str = ""
) -> Delivery:
    """Subscribe `deliver` to `subject` (in queue group `queue`)."""
    if not fast_path():

        async def cb(msg: Msg) -> None:
            deliver(msg)

        return Delivery(await nc.subscribe(subject, queue=queue, cb=cb))
    sub = await nc.subscribe(subject, queue=queue)
    parked = getattr(sub, "_pending_queue", None)
    if not isinstance(parked, asyncio.Queue):  # pragma: no cover - checked by configure
        await sub.unsubscribe()
        raise RuntimeError("this nats-py version keeps no per-subscription pending queue")
    direct = _DirectQueue(sub, deliver)
    sub._pending_queue = direct
    while not parked.empty():  # anything that arrived before the swap, in order
        direct.put_nowait(parked.get_nowait())
    return _DirectDelivery(sub, direct)


# -- JetStream ----------------------------------------------------------------------------


class Batches(ABC):
    """Batches of messages from a durable JetStream pull consumer (acknowledge them with
    `ack_all`). `recover` is called when the server refuses pull requests (e.g. the
    consumer was deleted: make it again)."""

    nc: NATS

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def take(self, stopping: asyncio.Event) -> list[Msg]:
        """The next batch (empty when stopping)."""


def pull_batches(
    nc: NATS,
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    batch: int,
    linger_s: float,
    recover: Callable[[], Awaitable[object]],
) -> Batches:
    """Batches of up to `batch` messages from the durable consumer `durable` of `stream`,
    cut `linger_s` after a batch's first message at the latest (fast path; the public
    path takes what `fetch` returns)."""
    if fast_path():
        return _DirectPull(nc, js, stream, durable, batch, linger_s, recover)
    return _FetchPull(nc, js, stream, durable, batch, recover)


@dataclass(eq=False)
class _DirectPull(Batches):
    """One pull request at a time on the durable consumer, into a private inbox.

    Messages go from nats-py's read loop straight into a list (`subscribe`): no task,
    queue hop or timer per message (nats-py's `fetch` makes all three). A batch is cut when
    it is full, or `linger_s` after its first message, so a quiet stream is still stored
    at once.
    """

    nc: NATS
    js: JetStreamContext
    stream: str
    durable: str
    batch: int
    linger_s: float
    recover: Callable[[], Awaitable[object]]
    next_subject: str = field(init=False)
    expires_s: float = field(default=5.0, init=False)
    inbox: str = field(init=False)
    msgs: list[Msg] = field(default_factory=list, init=False)
    # messages the outstanding pull request may still deliver
    remaining: int = field(default=0, init=False)
    requested_at: float = field(default=0.0, init=False)
    # why the last request ended, when not routine
    trouble: str | None = field(default=None, init=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    delivery: Delivery | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.next_subject = f"{self.js._prefix}.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        self.inbox = self.nc.new_inbox()

    async def start(self) -> None:
        self.delivery = await subscribe(self.nc, self.inbox, self._on_msg)

    async def stop(self) -> None:
        if self.delivery is not None:
            with contextlib.suppress(Exception):
                await self.delivery.unsubscribe()

    def _on_msg(self, msg: Msg) -> bool:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self.msgs.append(msg)
            self.remaining -= 1
            if self.remaining <= 0 or len(self.msgs) >= self.batch or len(self.msgs) == 1:
                self.wake.set()  # done, full, or the linger clock starts
            return True
        if status != "100":
            # 404 no messages, 408 request expired: routine; 409 (consumer deleted, too many
            # waiting requests...) and others: this request is over, and something is wrong.
            if status not in ("404", "408"):
                described = str(headers.get("Description", "")).split("\n")[0]
                self.trouble = f"{status} {described}".strip()
            self.remaining = 0
            self.wake.set()
        return True

    async def _request(self) -> None:
        want = self.batch - len(self.msgs)
        self.remaining = want
        self.requested_at = time.monotonic()
        body = b'{"batch":%d,"expires":%d}' % (want, int(self.expires_s * 1e9))
        await self.nc.publish(self.next_subject, body, reply=self.inbox)

    async def take(self, stopping: asyncio.Event) -> list[Msg]:
        """The next batch (empty when stopping)."""
        first_at: float | None = None
        while not stopping.is_set():
            if len(self.msgs) >= self.batch:
                break
            if self.trouble is not None:
                log.warning("pull request refused (%s); retrying in 1 s", self.trouble)
                self.trouble = None
                if self.msgs:
                    break  # store what arrived first
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)
                with contextlib.suppress(Exception):
                    await self.recover()  # e.g. the consumer was deleted: make it again
                continue
            now = time.monotonic()
            if self.remaining <= 0 or now - self.requested_at > self.expires_s + 2.0:
                # No request outstanding (or its answer was lost with a reconnect): ask again.
                await self._request()
            if self.msgs:
                if first_at is None:
                    first_at = now
                wait = first_at + self.linger_s - now
                if wait <= 0:
                    break
            else:
                wait = 1.0
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
        batch, self.msgs = self.msgs, []
        return batch


@dataclass(eq=False)
class _FetchPull(Batches):
    """`_DirectPull` on nats-py's public API: a pull subscription bound to the durable
    consumer, batches from `fetch` (which returns what is there at once, else waits up to
    a second for the first message)."""

    nc: NATS
    js: JetStreamContext
    stream: str
    durable: str
    batch: int
    recover: Callable[[], Awaitable[object]]
    psub: JetStreamContext.PullSubscription | None = field(default=None, init=False)

    async def start(self) -> None:
        self.psub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)

    async def stop(self) -> None:
        if self.psub is not None:
            with contextlib.suppress(Exception):
                await self.psub.unsubscribe()

    async def take(self, stopping: asyncio.Event) -> list[Msg]:
        """The next batch (empty when stopping)."""
        assert self.psub is not None
        while not stopping.is_set():
            try:
                return await self.psub.fetch(self.batch, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                continue
            except Exception as exc:
                # e.g. the consumer was deleted: make it again.
                log.warning("pull request refused (%s); retrying in 1 s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)
                with contextlib.suppress(Exception):
                    await self.recover()
        return []


async def ack_all(nc: NATS, msgs: list[Msg]) -> None:
    """Acknowledge every message; on the fast path with one write (a PUB with an empty
    body to each reply subject is exactly what `Msg.ack` sends, one at a time)."""
    if not fast_path():
        for m in msgs:
            await m.ack()
        return
    await nc._send_command(b"".join(b"PUB %s 0\r\n\r\n" % m.reply.encode() for m in msgs))
    await nc._flush_pending()
