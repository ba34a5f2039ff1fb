"""Typed request/reply over core NATS.

Server: one subscription per subject with queue group = service name, so replicas share
load; a semaphore bounds the messages in flight (back-pressure stays in NATS), each
request has a deadline, and any failure becomes an error envelope — never a traceback.

Client: typed `call(spec, request)`; no responders -> `unavailable`, no answer in time ->
`timeout`, an error envelope -> `RpcError` with the same code.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from prometheus_client import Histogram
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from proto import headers as H
from proto.base import Contract
from proto.errors import ErrorCode, ErrorEnvelope, FieldError
from proto.registry import RpcSpec
from services.db.engine import Database
from services.errors import RpcError
from services.telemetry import metrics, tracing
from services.telemetry.logs import request_id_var, user_id_var
from services.telemetry.tracing import extract_context, inject_headers

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("botcenter.rpc")
_NO_SPAN: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


# Label lookups take a lock and build a tuple; the set of (subject, code) pairs is small.
@functools.cache
def _server_seconds(service: str, subject: str, code: str) -> Histogram:
    return metrics.RPC_SERVER_SECONDS.labels(service, subject, code)


@functools.cache
def _client_seconds(caller: str, subject: str, code: str) -> Histogram:
    return metrics.RPC_CLIENT_SECONDS.labels(caller, subject, code)

Req = TypeVar("Req", bound=Contract)
Rep = TypeVar("Rep", bound=Contract)


class RpcContext:
    """What a handler knows about the message besides its body."""

    __slots__ = ("_db", "_session", "_stack", "headers", "raw", "request_id", "subject", "user_id")

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
        self.request_id = headers.get(H.REQUEST_ID) or uuid.uuid4().hex
        self._db = db
        self._session: AsyncSession | None = None
        self._stack: AsyncExitStack | None = None

    def require_user(self) -> UUID:
        if self.user_id is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this operation needs a signed-in user")
        return self.user_id

    async def session(self) -> AsyncSession:
        """The message's database session, opened on first use in the caller's RLS scope.

        The transaction commits when the handler returns and rolls back when it raises.
        """
        if self._session is None:
            if self._db is None:
                raise RuntimeError("this service has no database")
            self._stack = AsyncExitStack()
            scope = (
                self._db.user_scope(self.user_id)
                if self.user_id is not None
                else self._db.system_scope()
            )
            self._session = await self._stack.enter_async_context(scope)
        return self._session

    async def _close(self, exc: BaseException | None) -> None:
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


class RpcServer:
    def __init__(
        self,
        nc: NATS,
        service: str,
        *,
        concurrency: int = 256,
        timeout_s: float = 10.0,
        db: Database | None = None,
    ) -> None:
        self.nc = nc
        self.service = service
        self.timeout_s = timeout_s
        self.db = db
        self._handlers: dict[str, tuple[RpcSpec[Any, Any], Handler]] = {}
        self._subs: list[Subscription] = []
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = metrics.RPC_IN_FLIGHT.labels(service)

    def register(self, spec: RpcSpec[Any, Any], handler: Handler) -> None:
        if spec.subject in self._handlers:
            raise ValueError(f"{spec.subject} registered twice")
        self._handlers[spec.subject] = (spec, handler)

    def handle(self, spec: RpcSpec[Any, Any]) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def deco(fn: Handler) -> Handler:
            self.register(spec, fn)
            return fn

        return deco

    async def start(self) -> None:
        for subject, (spec, handler) in self._handlers.items():
            sub = await self.nc.subscribe(
                subject, queue=self.service, cb=self._callback(spec, handler)
            )
            self._subs.append(sub)
        await self.nc.flush()

    async def stop(self, drain_timeout_s: float = 20.0) -> None:
        """Stop taking new requests and wait for those in flight."""
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self._subs.clear()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=drain_timeout_s)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _callback(
        self, spec: RpcSpec[Any, Any], handler: Handler
    ) -> Callable[[Msg], Awaitable[None]]:
        async def on_msg(msg: Msg) -> None:
            await self._sem.acquire()
            task = asyncio.create_task(self._serve(spec, handler, msg))
            self._tasks.add(task)
            task.add_done_callback(self._done)

        return on_msg

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._sem.release()

    async def _serve(self, spec: RpcSpec[Any, Any], handler: Handler, msg: Msg) -> None:
        started = time.perf_counter()
        hdrs = msg.headers or {}
        ctx = RpcContext(spec.subject, hdrs, msg.data if spec.raw_body else None, self.db)
        rid_token = request_id_var.set(ctx.request_id)
        uid_token = user_id_var.set(str(ctx.user_id) if ctx.user_id else None)
        code = "ok"
        self._in_flight.inc()
        try:
            span_cm = (
                _tracer.start_as_current_span(
                    f"rpc {spec.subject}",
                    context=extract_context(hdrs) if H.TRACEPARENT in hdrs else None,
                    kind=SpanKind.SERVER,
                    attributes={"messaging.system": "nats", "rpc.service": self.service},
                )
                if tracing.enabled()
                else _NO_SPAN
            )
            with span_cm as span:
                try:
                    body, reply_headers = await self._run(spec, handler, msg, ctx)
                except RpcError as err:
                    code = err.code.value
                    body = _error_body(err.envelope())
                    reply_headers = {H.STATUS: H.STATUS_ERROR}
                    if err.code in (ErrorCode.INTERNAL, ErrorCode.TIMEOUT):
                        span.set_status(Status(StatusCode.ERROR, err.code.value))
                span.set_attribute("rpc.code", code)
            if msg.reply:
                await self.nc.publish(msg.reply, body, headers=reply_headers)
        except Exception:
            log.warning("could not reply to %s", spec.subject, exc_info=True)
        finally:
            self._in_flight.dec()
            request_id_var.reset(rid_token)
            user_id_var.reset(uid_token)
            _server_seconds(self.service, spec.subject, code).observe(
                time.perf_counter() - started
            )

    async def _run(
        self, spec: RpcSpec[Any, Any], handler: Handler, msg: Msg, ctx: RpcContext
    ) -> tuple[bytes, dict[str, str] | None]:
        try:
            if spec.raw_body:
                meta = (msg.headers or {}).get(H.META, "{}")
                request = spec.request.model_validate_json(meta)
            else:
                request = spec.request.model_validate_json(msg.data or b"{}")
        except ValidationError as exc:
            raise RpcError(
                ErrorCode.INVALID,
                "the request does not match its contract",
                fields=fields_from_validation(exc),
            ) from None
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await handler(request, ctx)
                await ctx._close(None)
        except RpcError as err:
            await ctx._close(err)
            raise
        except TimeoutError as exc:
            await ctx._close(exc)
            raise RpcError(
                ErrorCode.TIMEOUT, f"{spec.subject} took longer than {self.timeout_s:g}s"
            ) from None
        except ValidationError as exc:
            # A handler that builds an invalid model from user input is a validation problem.
            await ctx._close(exc)
            raise RpcError(
                ErrorCode.VALIDATION, "invalid value", fields=fields_from_validation(exc)
            ) from None
        except Exception as exc:
            await ctx._close(exc)
            log.exception("handler for %s failed", spec.subject)
            raise RpcError(
                ErrorCode.INTERNAL,
                f"internal error (request id {ctx.request_id})",
                details={"request_id": ctx.request_id},
            ) from None
        if isinstance(result, RawReply) and isinstance(result.meta, spec.reply):
            return result.data, {H.META: result.meta.model_dump_json()}
        if not isinstance(result, spec.reply):
            log.error("handler for %s returned %s", spec.subject, type(result).__name__)
            raise RpcError(ErrorCode.INTERNAL, f"internal error (request id {ctx.request_id})")
        return result.__pydantic_serializer__.to_json(result), None


def fields_from_validation(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(loc=[p for p in err["loc"] if isinstance(p, str | int)], message=err["msg"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _error_body(env: ErrorEnvelope) -> bytes:
    return orjson.dumps({"error": env.model_dump(mode="json")})


class RpcClient:
    """Typed calls to other services."""

    def __init__(self, nc: NATS, caller: str, *, timeout_s: float = 10.0) -> None:
        self.nc = nc
        self.caller = caller
        self.timeout_s = timeout_s

    async def call(
        self,
        spec: RpcSpec[Req, Rep],
        request: Req,
        *,
        user_id: UUID | str | None = None,
        timeout_s: float | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Rep:
        reply, _ = await self.call_raw(
            spec, request, user_id=user_id, timeout_s=timeout_s, body=body, headers=headers
        )
        return reply

    async def call_raw(
        self,
        spec: RpcSpec[Req, Rep],
        request: Req,
        *,
        user_id: UUID | str | None = None,
        timeout_s: float | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Rep, bytes]:
        """Like `call`, also returning the raw reply body (file bytes for raw replies)."""
        hdrs: dict[str, str] = dict(headers or {})
        hdrs[H.REQUEST_ID] = request_id_var.get() or uuid.uuid4().hex
        if user_id is None:
            uid = user_id_var.get()
            if uid:
                hdrs[H.USER_ID] = uid
        else:
            hdrs[H.USER_ID] = str(user_id)
        if spec.raw_body:
            hdrs[H.META] = request.model_dump_json()
            payload = body or b""
        else:
            payload = request.__pydantic_serializer__.to_json(request)
        timeout = timeout_s or self.timeout_s
        code = "ok"
        started = time.perf_counter()
        traced = tracing.enabled()
        span_cm = (
            _tracer.start_as_current_span(
                f"rpc {spec.subject}", kind=SpanKind.CLIENT, attributes={"messaging.system": "nats"}
            )
            if traced
            else _NO_SPAN
        )
        with span_cm:
            if traced:
                inject_headers(hdrs)
            try:
                msg = await self.nc.request(spec.subject, payload, timeout=timeout, headers=hdrs)
            except NoRespondersError:
                code = ErrorCode.UNAVAILABLE.value
                raise RpcError(
                    ErrorCode.UNAVAILABLE, f"the {spec.service} service is not available"
                ) from None
            except (NatsTimeoutError, TimeoutError):
                code = ErrorCode.TIMEOUT.value
                raise RpcError(
                    ErrorCode.TIMEOUT, f"the {spec.service} service did not answer in time"
                ) from None
            finally:
                _client_seconds(self.caller, spec.subject, code).observe(
                    time.perf_counter() - started
                )
        if msg.headers and msg.headers.get(H.STATUS) == H.STATUS_ERROR:
            env = ErrorEnvelope.model_validate(orjson.loads(msg.data)["error"])
            raise RpcError.from_envelope(env)
        if msg.headers and H.META in msg.headers:
            return spec.reply.model_validate_json(msg.headers[H.META]), msg.data
        return spec.reply.model_validate_json(msg.data), msg.data
