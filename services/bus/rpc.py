"""Typed request/reply over core NATS.

Server: one subscription per subject with queue group = service name, so replicas share
load; a limit bounds the handlers in flight (the rest wait in arrival order, within
nats-py's pending limits), each request has a deadline, and any failure becomes an error
envelope — never a traceback.

Client: typed `call(spec, request)`; no responders -> `unavailable`, no answer in time ->
`timeout`, an error envelope -> `RpcError` with the same code.

Hot path (bench/rpc_roundtrip.py, issue 2: p50 <= 1.2x bare nats-py): nats-py hands each
message of a callback subscription to a per-subscription task through an asyncio.Queue,
and its `request()` adds that hop again for the reply plus `asyncio.wait_for`. Here both
sides take messages through `natsfast.subscribe`, straight from nats-py's read loop on
its fast path: the server starts one task per request, the client resolves the caller's
future. Deadlines share one timer per server (and one per client
connection) instead of an `asyncio.timeout`/`wait_for` per request, histograms are
observed after the reply is on its way, and the in-flight gauge is read at scrape time.
Headers cost on both ends (nats-py encodes and parses them in Python), so a call carries
only those it has: a request id when the caller has one (otherwise the server makes one
up, as the caller has nothing to correlate it with), a user id, trace context.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypedDict, TypeVar, Unpack
from uuid import UUID

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import DEFAULT_SUB_PENDING_MSGS_LIMIT, Subscription
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Histogram
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from proto import headers as H
from proto.access import Access
from proto.base import Contract
from proto.errors import ErrorCode, ErrorEnvelope, FieldError
from proto.registry import RpcSpec
from services.access import access_var, decode_access, legacy_access
from services.audit import audit_header, client_var, written_var
from services.bus import natsfast
from services.db.engine import Database
from services.errors import RpcError
from services.telemetry import metrics, tracing
from services.telemetry.logs import request_id_var, user_id_var
from services.telemetry.tracing import extract_context, inject_headers
from services.timer import Timer

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("botcenter.rpc")


# Label lookups take a lock and build a tuple; the set of (subject, code) pairs is small.
@functools.cache
def _server_seconds(service: str, subject: str, code: str) -> Histogram:
    return metrics.RPC_SERVER_SECONDS.labels(service, subject, code)


@functools.cache
def _client_seconds(caller: str, subject: str, code: str) -> Histogram:
    return metrics.RPC_CLIENT_SECONDS.labels(caller, subject, code)


def new_request_id() -> str:
    """A random 128-bit id shaped like `uuid.uuid4().hex`, without a getrandom() syscall.

    Request ids correlate logs; they are not secrets, so the process PRNG (reseeded after
    fork) is enough.
    """
    n = random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET
    return f"{n:032x}"


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


class _Alarm:
    """One timer for many deadlines, armed for the nearest (a timer per request costs more
    than the request): `ring` runs at that deadline and re-arms for the next one."""

    __slots__ = ("_at", "_ring", "_timer")

    def __init__(self, ring: Callable[[], None]) -> None:
        self._ring = ring
        self._timer = Timer()
        self._at = 0.0

    def arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if not self._timer.armed or self._at > deadline:
            self._timer.arm(loop, deadline, self._ring)
            self._at = deadline

    def cancel(self) -> None:
        self._timer.cancel()


Req = TypeVar("Req", bound=Contract)
Rep = TypeVar("Rep", bound=Contract)


class RpcContext:
    """What a handler knows about the message besides its body."""

    __slots__ = (
        "_access",
        "_db",
        "_session",
        "_stack",
        "headers",
        "raw",
        "request_id",
        "subject",
        "user_id",
    )

    def __init__(
        self,
        subject: str,
        headers: dict[str, str],
        raw: bytes | None,
        db: Database | None,
    ) -> None:
        self.subject = subject
        self.headers = headers
        self.raw = raw
        uid = headers.get(H.USER_ID)
        self.user_id: UUID | None = UUID(uid) if uid else None
        self.request_id = headers.get(H.REQUEST_ID) or new_request_id()
        self._db = db
        self._session: AsyncSession | None = None
        self._stack: AsyncExitStack | None = None
        self._access: Access | None = None

    def require_user(self) -> UUID:
        if self.user_id is None and H.ACCESS in self.headers:
            # A caller that sends only `bc-access` (the gateway once every service reads
            # it) is the user it names; a system access has none.
            access = self.access
            self.user_id = access.user_id if access is not None else None
        if self.user_id is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this operation needs a signed-in user")
        return self.user_id

    @property
    def access(self) -> Access | None:
        """What the caller may do: the `bc-access` header, decoded on first use (most
        handlers never look); without one, a `bc-user-id` caller owns their personal
        workspace only (requests from before teams); None for system messages.

        A malformed header is INVALID: only the kernel writes it, so it is a caller's bug,
        never a reason to fall back to the user id."""
        if self._access is None:
            header = self.headers.get(H.ACCESS)
            if header:
                try:
                    access = decode_access(header)
                except ValueError as exc:
                    raise RpcError(ErrorCode.INVALID, str(exc)) from None
                # Both headers come from the same caller: two users is a bug upstream, and
                # acting as either could mix one user's rows with another's permissions.
                if self.user_id is not None and access.user_id not in (None, self.user_id):
                    raise RpcError(
                        ErrorCode.INVALID, "bc-access and bc-user-id name different users"
                    )
                self._access = access
            elif self.user_id is not None:
                self._access = legacy_access(self.user_id)
        return self._access

    def require_access(self) -> Access:
        """`access`, UNAUTHENTICATED when the message has no caller at all."""
        access = self.access
        if access is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this operation needs a signed-in user")
        return access

    async def session(self) -> AsyncSession:
        """The message's database session, opened on first use in the caller's RLS scope.

        The transaction commits when the handler returns and rolls back when it raises.
        """
        if self._session is None:
            if self._db is None:
                raise RuntimeError("this service has no database")
            self._stack = AsyncExitStack()
            access = self.access
            scope = self._db.access_scope(access) if access is not None else self._db.system_scope()
            self._session = await self._stack.enter_async_context(scope)
        return self._session

    async def user_session(self) -> AsyncSession:
        """`session()` for an operation that needs a signed-in user (UNAUTHENTICATED
        without one, never the system scope)."""
        self.require_user()
        return await self.session()

    @property
    def session_open(self) -> bool:
        return self._stack is not None

    async def close_session(self, exc: BaseException | None) -> None:
        """Commit (no `exc`) or roll back the message's session; the server calls this
        when the handler is done."""
        if self._stack is not None:
            stack, self._stack, self._session = self._stack, None, None
            if exc is None:
                await stack.aclose()
            else:
                await stack.__aexit__(type(exc), exc, exc.__traceback__)


@dataclass(frozen=True)
class RawReply:
    """A reply whose body is bytes (a file); its metadata travels in the `bc-meta` header."""

    meta: Contract
    data: bytes


Handler = Callable[[Any, RpcContext], Awaitable[Contract | RawReply]]
HandlerT = TypeVar("HandlerT", bound=Callable[..., Awaitable[Contract | RawReply]])
_ANSWERS = "__rpc_answers__"


def answers(spec: RpcSpec[Any, Any]) -> Callable[[HandlerT], HandlerT]:
    """Marks a handler method as the one that answers `spec`, next to its code;
    `RpcServer.register_all(handlers)` registers every marked method of the object."""

    def mark(method: HandlerT) -> HandlerT:
        setattr(method, _ANSWERS, spec)
        return method

    return mark


def answered_by(cls: type) -> dict[RpcSpec[Any, Any], str]:
    """The specs the methods of `cls` are marked to answer, and those methods' names."""
    marked: dict[RpcSpec[Any, Any], str] = {}
    for name in dir(cls):
        spec = getattr(getattr(cls, name), _ANSWERS, None)
        if spec is not None:
            marked[spec] = name
    return marked


class _Route:
    """One subscribed subject: its contract, handler and subscription."""

    __slots__ = ("delivery", "handler", "spec")

    def __init__(self, spec: RpcSpec[Any, Any], handler: Handler) -> None:
        self.spec = spec
        self.handler = handler
        self.delivery: natsfast.Delivery | None = None


class _Call:
    """One request being handled: its task and deadline."""

    __slots__ = ("armed", "code", "deadline", "elapsed", "expired", "msg", "route", "task")

    def __init__(self, route: _Route, msg: Msg, deadline: float) -> None:
        self.route = route
        self.msg = msg
        self.deadline = deadline
        self.armed = True  # the deadline applies (handler and commit still running)
        self.expired = False  # the deadline cancelled the task
        self.task: asyncio.Task[None] | None = None
        # Recorded into the histogram once the task is done, after the reply went out.
        self.code = "ok"
        self.elapsed: float | None = None


# In-flight gauge, read at scrape time: the sum over live servers of each service.
_SERVERS: dict[str, weakref.WeakSet[RpcServer]] = {}


def _in_flight_gauge(service: str) -> None:
    if service in _SERVERS:
        return
    servers: weakref.WeakSet[RpcServer] = weakref.WeakSet()
    _SERVERS[service] = servers
    metrics.RPC_IN_FLIGHT.labels(service).set_function(
        lambda: float(sum(s.in_flight for s in list(servers)))
    )


# The codes that mark a server span failed (the others are the caller's mistakes).
_FAILED_SPAN = (ErrorCode.INTERNAL.value, ErrorCode.TIMEOUT.value)


@dataclass(eq=False)
class RpcServer:
    nc: NATS
    service: str
    _: KW_ONLY
    concurrency: int = 256
    timeout_s: float = 10.0
    db: Database | None = None
    _handlers: dict[str, tuple[RpcSpec[Any, Any], Handler]] = field(
        default_factory=dict, init=False, repr=False
    )
    _routes: list[_Route] = field(default_factory=list, init=False, repr=False)
    _subs: list[Subscription] = field(default_factory=list, init=False, repr=False)
    # Handlers running, in start order; requests over the limit wait in `_backlog`.
    _calls: dict[asyncio.Task[None], _Call] = field(default_factory=dict, init=False, repr=False)
    _backlog: deque[tuple[_Route, Msg]] = field(default_factory=deque, init=False, repr=False)
    _alarm: _Alarm = field(init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._alarm = _Alarm(self._expire)
        _in_flight_gauge(self.service)
        _SERVERS[self.service].add(self)

    def register(self, spec: RpcSpec[Any, Any], handler: Handler) -> None:
        if spec.subject in self._handlers:
            raise ValueError(f"{spec.subject} registered twice")
        self._handlers[spec.subject] = (spec, handler)

    def register_all(self, handlers: object) -> None:
        """Register each method of `handlers` marked with `@answers(spec)`."""
        marked = answered_by(type(handlers))
        if not marked:
            raise ValueError(f"{type(handlers).__name__} has no method marked @answers(spec)")
        for spec, name in marked.items():
            self.register(spec, getattr(handlers, name))

    def handle(self, spec: RpcSpec[Any, Any]) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def deco(fn: Handler) -> Handler:
            self.register(spec, fn)
            return fn

        return deco

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for spec, handler in self._handlers.values():
            route = _Route(spec, handler)
            route.delivery = await natsfast.subscribe(
                self.nc, spec.subject, functools.partial(self._deliver, route), self.service
            )
            self._routes.append(route)
            self._subs.append(route.delivery.sub)
        # nats-py writes flush()'s PING straight to the socket, ahead of the SUBs still in
        # its outgoing buffer, so one PONG does not prove the server has the subscriptions
        # (callers racing a fresh server saw "no responders"); the second one does.
        await self.nc.flush()
        await self.nc.flush()

    async def stop(self, drain_timeout_s: float = 20.0) -> None:
        """Stop taking new requests and wait for those in flight (and those already
        received that waited for a free slot)."""
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self._subs.clear()
        self._routes.clear()
        deadline = time.monotonic() + drain_timeout_s
        while self._calls:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.wait(list(self._calls), timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if not self._calls:
            self._alarm.cancel()

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    # -- dispatch: called from nats-py's read loop (fast path), must not block ----------

    def _deliver(self, route: _Route, msg: Msg) -> bool:
        if len(self._calls) < self.concurrency and not self._backlog:
            self._start(route, msg)
            return True
        if len(self._backlog) >= DEFAULT_SUB_PENDING_MSGS_LIMIT:
            raise asyncio.QueueFull
        self._backlog.append((route, msg))
        return False

    def _start(self, route: _Route, msg: Msg) -> None:
        loop = self._loop
        assert loop is not None
        deadline = loop.time() + self.timeout_s
        call = _Call(route, msg, deadline)
        task = call.task = loop.create_task(self._serve(call))
        self._calls[task] = call
        task.add_done_callback(self._done)
        self._alarm.arm(loop, deadline)

    def _done(self, task: asyncio.Task[None]) -> None:
        call = self._calls.pop(task)
        if call.elapsed is not None:
            _server_seconds(self.service, call.route.spec.subject, call.code).observe(call.elapsed)
        while self._backlog and len(self._calls) < self.concurrency:
            route, msg = self._backlog.popleft()
            if route.delivery is not None:
                route.delivery.taken(msg)
            self._start(route, msg)

    def _expire(self) -> None:
        """Cancel the handlers past their deadline; re-arm for the next one."""
        loop = self._loop
        assert loop is not None
        now = loop.time()
        nearest: float | None = None
        for call in list(self._calls.values()):
            if not call.armed or call.expired:
                continue
            if call.deadline <= now:
                call.expired = True
                assert call.task is not None
                call.task.cancel()
            elif nearest is None or call.deadline < nearest:
                nearest = call.deadline
        if nearest is not None:
            self._alarm.arm(loop, nearest)

    # -- one request -------------------------------------------------------------------

    async def _serve(self, call: _Call) -> None:
        started = time.perf_counter()
        spec = call.route.spec
        msg = call.msg
        hdrs = msg.headers or {}
        ctx = RpcContext(spec.subject, hdrs, msg.data if spec.raw_body else None, self.db)
        # The task runs in its own copy of the context: nothing to reset afterwards.
        request_id_var.set(ctx.request_id)
        user_id_var.set(str(ctx.user_id) if ctx.user_id else None)
        # Forwarded undecoded: a handler that only calls on passes the same bytes along.
        access_var.set(hdrs.get(H.ACCESS))
        client_var.set(hdrs.get(H.CLIENT))
        written_var.set(())
        code = "ok"
        try:
            if tracing.enabled():
                with _tracer.start_as_current_span(
                    f"rpc {spec.subject}",
                    context=extract_context(hdrs) if H.TRACEPARENT in hdrs else None,
                    kind=SpanKind.SERVER,
                    attributes={"messaging.system": "nats", "rpc.service": self.service},
                ) as span:
                    code, body, reply_headers = await self._answer(call, ctx)
                    if code in _FAILED_SPAN:
                        span.set_status(Status(StatusCode.ERROR, code))
                    span.set_attribute("rpc.code", code)
            else:
                code, body, reply_headers = await self._answer(call, ctx)
            if msg.reply:
                await self.nc.publish(msg.reply, body, headers=reply_headers)
        except Exception:
            log.warning("could not reply to %s", spec.subject, exc_info=True)
        finally:
            # Observed by `_done`, so the reply is flushed before the histogram's locks.
            call.code = code
            call.elapsed = time.perf_counter() - started

    async def _answer(
        self, call: _Call, ctx: RpcContext
    ) -> tuple[str, bytes, dict[str, str] | None]:
        """(code, body, headers) of the reply: the handler's, or the envelope of the
        `RpcError` it raised."""
        try:
            body, headers = await self._run(call, ctx)
        except RpcError as err:
            return err.code.value, _error_body(err.envelope()), {H.STATUS: H.STATUS_ERROR}
        return "ok", body, headers

    def _timed_out(self, subject: str) -> RpcError:
        """The reply to a handler that timed out: cancelled by our deadline, or ended by a
        `TimeoutError` of its own."""
        return RpcError(ErrorCode.TIMEOUT, f"{subject} took longer than {self.timeout_s:g}s")

    async def _run(self, call: _Call, ctx: RpcContext) -> tuple[bytes, dict[str, str] | None]:
        spec = call.route.spec
        msg = call.msg
        try:
            try:
                if spec.raw_body:
                    meta = (msg.headers or {}).get(H.META, "{}")
                    request = spec.request.__pydantic_validator__.validate_json(meta)
                else:
                    request = spec.request.__pydantic_validator__.validate_json(msg.data or b"{}")
            except ValidationError as exc:
                raise RpcError(
                    ErrorCode.INVALID,
                    "the request does not match its contract",
                    fields=fields_from_validation(exc),
                ) from None
            try:
                result = await call.route.handler(request, ctx)
                if ctx.session_open:
                    await ctx.close_session(None)
            except asyncio.CancelledError:
                # Our deadline (and nobody else) cancelled the task: a timeout, as
                # asyncio.timeout() would report it.
                assert call.task is not None
                if not call.expired or call.task.uncancel() > 0:
                    raise
                call.armed = False
                await ctx.close_session(TimeoutError())
                raise self._timed_out(spec.subject) from None
            except RpcError as err:
                call.armed = False
                await ctx.close_session(err)
                raise
            except TimeoutError as exc:
                call.armed = False
                await ctx.close_session(exc)
                raise self._timed_out(spec.subject) from None
            except ValidationError as exc:
                # A handler that builds an invalid model from user input is a validation
                # problem.
                call.armed = False
                await ctx.close_session(exc)
                raise RpcError(
                    ErrorCode.VALIDATION, "invalid value", fields=fields_from_validation(exc)
                ) from None
            except Exception as exc:
                call.armed = False
                await ctx.close_session(exc)
                log.exception("handler for %s failed", spec.subject)
                raise RpcError(
                    ErrorCode.INTERNAL,
                    f"internal error (request id {ctx.request_id})",
                    details={"request_id": ctx.request_id},
                ) from None
        finally:
            call.armed = False
        # The audit records the change wrote (committed above with it).
        audit = audit_header()
        extra = {H.AUDIT: audit} if audit else {}
        if isinstance(result, RawReply) and isinstance(result.meta, spec.reply):
            return result.data, {H.META: result.meta.model_dump_json(), **extra}
        if not isinstance(result, spec.reply):
            log.error("handler for %s returned %s", spec.subject, type(result).__name__)
            raise RpcError(ErrorCode.INTERNAL, f"internal error (request id {ctx.request_id})")
        return result.__pydantic_serializer__.to_json(result), extra or None


def fields_from_validation(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(loc=[p for p in err["loc"] if isinstance(p, str | int)], message=err["msg"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _error_body(env: ErrorEnvelope) -> bytes:
    return orjson.dumps({"error": env.model_dump(mode="json")})


class _Replies:
    """One wildcard reply subscription per connection (like nats-py's `request()`), whose
    replies resolve the callers' futures straight from the read loop. One timer, armed for
    the nearest deadline, times the calls out (no timer per call)."""

    def __init__(self) -> None:
        # No reference to the connection: it is this object's key in a weak mapping.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.prefix = ""
        # token -> (future, deadline); a None result means the deadline passed.
        self.waiting: dict[str, tuple[asyncio.Future[Msg | None], float]] = {}
        self._tokens = itertools.count()
        self._starting: asyncio.Lock | None = None
        self._alarm = _Alarm(self._expire)

    async def start(self, nc: NATS) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.loop is not None:
                return
            prefix = nc.new_inbox() + "."
            await natsfast.subscribe(nc, prefix + "*", self._deliver)
            self.prefix = prefix
            self.loop = asyncio.get_running_loop()

    def _deliver(self, msg: Msg) -> bool:
        waiting = self.waiting.pop(msg.subject[len(self.prefix) :], None)
        if waiting is not None and not waiting[0].done():
            waiting[0].set_result(msg)
        return True

    def new(self, timeout: float) -> tuple[str, asyncio.Future[Msg | None]]:
        loop = self.loop
        assert loop is not None
        token = f"{next(self._tokens):x}"
        fut: asyncio.Future[Msg | None] = loop.create_future()
        deadline = loop.time() + timeout
        self.waiting[token] = (fut, deadline)
        self._alarm.arm(loop, deadline)
        return token, fut

    def _expire(self) -> None:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        nearest: float | None = None
        for token, (fut, deadline) in list(self.waiting.items()):
            if deadline <= now:
                del self.waiting[token]
                if not fut.done():
                    fut.set_result(None)
            elif nearest is None or deadline < nearest:
                nearest = deadline
        if nearest is not None:
            self._alarm.arm(loop, nearest)


_REPLIES: weakref.WeakKeyDictionary[NATS, _Replies] = weakref.WeakKeyDictionary()


class CallOptions(TypedDict, total=False):
    """The keyword arguments of `RpcClient.call`, those of `call_raw`."""

    user_id: UUID | str | None
    access: Access | str | None
    timeout_s: float | None
    body: bytes | None
    headers: dict[str, str] | None


class RpcClient:
    """Typed calls to other services."""

    def __init__(self, nc: NATS, caller: str, *, timeout_s: float = 10.0) -> None:
        self.nc = nc
        self.caller = caller
        self.timeout_s = timeout_s
        replies = _REPLIES.get(nc)
        if replies is None:
            replies = _REPLIES[nc] = _Replies()
        self._replies = replies

    async def call(
        self, spec: RpcSpec[Req, Rep], request: Req, **options: Unpack[CallOptions]
    ) -> Rep:
        reply, _ = await self.call_raw(spec, request, **options)
        return reply

    async def call_raw(
        self,
        spec: RpcSpec[Req, Rep],
        request: Req,
        *,
        user_id: UUID | str | None = None,
        access: Access | str | None = None,
        timeout_s: float | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Rep, bytes]:
        """Like `call`, also returning the raw reply body (file bytes for raw replies).

        `access` (an `Access` or its encoded header) sets `bc-access`; without it the
        header of the request being served, if any, goes along, as the user id does."""
        hdrs: dict[str, str] = dict(headers) if headers else {}
        rid = request_id_var.get()
        if rid:
            hdrs[H.REQUEST_ID] = rid
        if user_id is None:
            uid = user_id_var.get()
            if uid:
                hdrs[H.USER_ID] = uid
        else:
            hdrs[H.USER_ID] = str(user_id)
        if access is None:
            forwarded = access_var.get()
            if forwarded and (user_id is None or _access_of(forwarded, user_id)):
                hdrs[H.ACCESS] = forwarded
        else:
            hdrs[H.ACCESS] = access if isinstance(access, str) else access.encode()
        if H.CLIENT not in hdrs:
            client = client_var.get()
            if client:
                hdrs[H.CLIENT] = client
        if spec.raw_body:
            hdrs[H.META] = request.model_dump_json()
            payload = body or b""
        else:
            payload = request.__pydantic_serializer__.to_json(request)
        timeout = timeout_s or self.timeout_s
        started = time.perf_counter()
        if tracing.enabled():
            with _tracer.start_as_current_span(
                f"rpc {spec.subject}", kind=SpanKind.CLIENT, attributes={"messaging.system": "nats"}
            ):
                inject_headers(hdrs)
                msg = await self._request(spec, payload, hdrs or None, timeout, started)
        else:
            msg = await self._request(spec, payload, hdrs or None, timeout, started)
        if msg.headers and msg.headers.get(H.STATUS) == H.STATUS_ERROR:
            env = ErrorEnvelope.model_validate(orjson.loads(msg.data)["error"])
            raise RpcError.from_envelope(env)
        if msg.headers and H.AUDIT in msg.headers:
            # The records the call wrote count as this request's: its own reply (or, in the
            # gateway, the check that a change was recorded) names them too.
            written = tuple(UUID(i) for i in msg.headers[H.AUDIT].split(",") if i)
            written_var.set((*written_var.get(), *written))
        try:
            if msg.headers and H.META in msg.headers:
                meta = spec.reply.__pydantic_validator__.validate_json(msg.headers[H.META])
                return meta, msg.data
            return spec.reply.__pydantic_validator__.validate_json(msg.data), msg.data
        except ValidationError:
            # The service broke its own contract: a bug there, not the caller's input (a
            # ValidationError reaching the gateway would read as the caller's 422).
            log.exception("the reply of %s does not match its contract", spec.subject)
            raise RpcError(
                ErrorCode.INTERNAL, f"the {spec.service} service sent an invalid reply"
            ) from None

    async def _request(
        self,
        spec: RpcSpec[Any, Any],
        payload: bytes,
        hdrs: dict[str, str] | None,
        timeout: float,
        started: float,
    ) -> Msg:
        replies = self._replies
        if replies.loop is None:
            await replies.start(self.nc)
        code = "ok"
        token, fut = replies.new(timeout)
        try:
            await self.nc.publish(spec.subject, payload, reply=replies.prefix + token, headers=hdrs)
            msg = await fut
            if msg is None:
                code = ErrorCode.TIMEOUT.value
                raise RpcError(
                    ErrorCode.TIMEOUT, f"the {spec.service} service did not answer in time"
                )
            if msg.headers and msg.headers.get(_NATS_STATUS) == _NO_RESPONDERS:
                code = ErrorCode.UNAVAILABLE.value
                raise RpcError(
                    ErrorCode.UNAVAILABLE, f"the {spec.service} service is not available"
                )
            return msg
        finally:
            replies.waiting.pop(token, None)
            # Off the caller's path: the histogram takes locks.
            assert replies.loop is not None
            replies.loop.call_soon(
                _client_seconds(self.caller, spec.subject, code).observe,
                time.perf_counter() - started,
            )


def _access_of(header: str, user_id: UUID | str) -> bool:
    """Whether the served request's access is `user_id`'s: a call made explicitly for
    another user (the fleet acting as a bot's owner in a task a member's request started)
    goes without it, as that user's legacy call, instead of mixing two identities."""
    try:
        return str(decode_access(header).user_id) == str(user_id)
    except ValueError:
        return False


# How nats-server says nobody subscribes to a request's subject (a status-only reply).
_NATS_STATUS = "Status"
_NO_RESPONDERS = "503"
