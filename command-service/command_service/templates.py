"""Sandboxed Jinja2 rendering with output-size and render-time caps.

Approach (both, on purpose):
- Bounded work inside the template: `ImmutableSandboxedEnvironment` (no `__class__`,
  `__mro__`, `__globals__`, no mutation of lists/dicts), `range()` capped by the sandbox,
  `*`, `**`, `+` and `%` intercepted so no single operation builds a huge value, the
  amplifying filters (`center`, `indent`, `wordwrap`, `format`, `replace`, `batch`) cap
  their result, and output is streamed from `generate()` and cut at `max_output` chars.
- Off the event loop with a timeout: renders run on a small pool of dedicated worker
  threads; when a render passes its time limit, the waiting coroutine gets a timeout at
  once and the worker thread is interrupted with an asynchronous exception
  (`PyThreadState_SetAsyncExc`), which stops pure-Python loops such as nested `for`s over
  a large list. So a hostile template costs at most `timeout_s` of one thread's CPU.
"""

from __future__ import annotations

import asyncio
import ctypes
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_VALUE_CHARS = 100_000  # no single intermediate string/list longer than this


class RenderError(Exception):
    """A template failed: syntax, sandbox refusal, limits or time. Message is user-safe."""


class RenderKilled(BaseException):
    """Raised inside a worker thread whose render ran out of time."""


def _too_big(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple) and len(value) > MAX_VALUE_CHARS


def _capped(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args[1:], *kwargs.values()):
            if isinstance(arg, int) and abs(arg) > 10_000:
                raise SecurityError(f"argument {arg} is too large for this filter")
        result = fn(*args, **kwargs)
        if _too_big(result):
            raise SecurityError("filter result is too large")
        return result

    return wrapper


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "%", "//"])

    def __init__(self) -> None:
        super().__init__(autoescape=False, undefined=Undefined, auto_reload=False)
        for name in ("center", "indent", "wordwrap", "format", "replace", "batch", "truncate"):
            self.filters[name] = _capped(self.filters[name])
        self.globals = {"range": self.globals["range"], "dict": dict, "lipsum": None}
        del self.globals["lipsum"]

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("the exponent is too large")
            if isinstance(left, int | float) and abs(left) > 10**12:
                raise SecurityError("the base is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(n, int)
                    and (len(seq) * n > MAX_VALUE_CHARS)
                ):
                    raise SecurityError("the repeated value is too large")
        result = super().call_binop(context, operator, left, right)
        if _too_big(result):
            raise SecurityError("the value is too large")
        if isinstance(result, int) and result.bit_length() > 4096:
            raise SecurityError("the number is too large")
        return result


class _Worker(threading.Thread):
    def __init__(self, jobs: queue.SimpleQueue[Any]) -> None:
        super().__init__(daemon=True, name="template-render")
        self.jobs = jobs
        self.lock = threading.Lock()
        self.current: Future[str] | None = None

    def run(self) -> None:
        while True:
            try:
                if self._one():
                    return
            except RenderKilled:
                continue  # an interrupt that landed just after its job ended

    def _one(self) -> bool:
        job = self.jobs.get()
        if job is None:
            return True
        fut, fn = job
        if not fut.set_running_or_notify_cancel():
            return False
        with self.lock:
            self.current = fut
        try:
            result = fn()
        except RenderKilled:
            result_exc: BaseException | None = RenderError("the template took too long to render")
            result = None
        except BaseException as exc:  # delivered to the awaiting coroutine
            result_exc = exc
            result = None
        else:
            result_exc = None
        with self.lock:
            self.current = None
        if result_exc is not None:
            fut.set_exception(result_exc)
        else:
            fut.set_result(result)
        return False

    def interrupt(self, fut: Future[str]) -> None:
        with self.lock:
            if self.current is fut and self.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.ident), ctypes.py_object(RenderKilled)
                )


def _retrieve(f: asyncio.Future[str]) -> None:
    if not f.cancelled():
        f.exception()  # a late result after a timeout: nobody waits for it any more


class Renderer:
    """Compiles (with a bounded cache) and renders templates under the limits."""

    def __init__(
        self, *, timeout_s: float = 0.25, max_output: int = 16_000, workers: int = 2
    ) -> None:
        self.env = BoundedEnvironment()
        self.timeout_s = timeout_s
        self.max_output = max_output
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers = [_Worker(self._jobs) for _ in range(workers)]
        for w in self._workers:
            w.start()

    def close(self) -> None:
        for _ in self._workers:
            self._jobs.put(None)

    def check(self, source: str) -> str | None:
        """A syntax problem of `source`, as a short message, or None."""
        try:
            self._compile(source)
        except RenderError as exc:
            return str(exc)
        return None

    def _compile(self, source: str) -> Any:
        with self._cache_lock:
            tpl = self._cache.get(source)
            if tpl is not None:
                self._cache.move_to_end(source)
                return tpl
        try:
            tpl = self.env.from_string(source)
        except TemplateSyntaxError as exc:
            raise RenderError(
                f"template syntax error on line {exc.lineno}: {exc.message}"
            ) from None
        with self._cache_lock:
            self._cache[source] = tpl
            if len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return tpl

    def render_sync(self, source: str, variables: dict[str, Any]) -> str:
        """Render in the calling thread (bounded work, but no time limit)."""
        tpl = self._compile(source)
        out: list[str] = []
        size = 0
        try:
            for chunk in tpl.generate(variables):
                size += len(chunk)
                if size > self.max_output:
                    raise RenderError(
                        f"the template output is longer than {self.max_output} characters"
                    )
                out.append(chunk)
        except SecurityError as exc:
            raise RenderError(f"refused by the template sandbox: {exc}") from None
        except RenderError:
            raise
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise RenderError(f"template error: {type(exc).__name__}: {exc}") from None
        except RecursionError:
            raise RenderError("template error: too deeply nested") from None
        return "".join(out)

    async def render(self, source: str, variables: dict[str, Any]) -> str:
        """Render on a worker thread; after `timeout_s` the render is stopped."""
        if "{" not in source:  # plain text: nothing to render
            if len(source) > self.max_output:
                raise RenderError(
                    f"the template output is longer than {self.max_output} characters"
                )
            return source
        fut: Future[str] = Future()
        self._jobs.put((fut, lambda: self.render_sync(source, variables)))
        wrapped = asyncio.wrap_future(fut)
        wrapped.add_done_callback(_retrieve)
        started = time.monotonic()
        try:
            return await asyncio.wait_for(asyncio.shield(wrapped), self.timeout_s)
        except TimeoutError:
            fut.cancel()  # if it has not started yet
            for w in self._workers:
                w.interrupt(fut)
            raise RenderError(
                f"the template took longer than {self.timeout_s * 1000:.0f} ms to render "
                f"(stopped after {(time.monotonic() - started) * 1000:.0f} ms)"
            ) from None
