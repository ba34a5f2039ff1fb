"""Sandboxed Jinja2 rendering with size, memory, output and time caps.

Approach (all of them, on purpose):
- Bounded values: `ImmutableSandboxedEnvironment` (no `__class__`, `__mro__`,
  `__globals__`, no mutation of lists/dicts), and every operation a template performs goes
  through one guard: calls (the sandbox's `call` hook), every filter and test, all binary
  operators, `~`, slices, `str.format`, printing, and the buffers that macros, `{% set %}`
  blocks and `{% filter %}` blocks render into. The guard refuses, before it runs, any
  operation whose result could be larger than one value may be (100k characters or items,
  4096-bit numbers; the bounds are computed from the arguments in `template_limits`),
  checks what was built, and charges it to the render's memory budget (8 MB of values
  built in all), so one template holds a few MB at most whatever it calls.
  Constant folding is off: nothing of a template runs while it is compiled.
- Bounded output: output is streamed from `generate()` and cut at `max_output` chars.
- Off the event loop with a timeout: renders run on a small pool of dedicated worker
  threads; when a render passes its time limit, the waiting coroutine gets a timeout at
  once and the worker thread is interrupted with an asynchronous exception
  (`PyThreadState_SetAsyncExc`), which stops pure-Python loops such as nested `for`s over
  a large list. So a hostile template costs at most `timeout_s` of one thread's CPU (the
  size bounds keep any single C call short).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import inspect
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from types import BuiltinMethodType, MethodType
from typing import Any, cast

from jinja2 import TemplateError, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Macro, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from command_service.execution.template_limits import (
    MAX_RENDER_BYTES,
    MAX_VALUE_CHARS,
    BoundedEscapeFormatter,
    BoundedFormatter,
    FilterRule,
    TooLarge,
    ValueRule,
    check_binop,
    check_call,
    check_concat,
    check_printable,
    filter_rule,
    metered,
    settle,
    signature_of,
    text_bound,
)

# The compiled-template cache holds at most this many templates and source characters: a
# user previewing distinct dense 4,000-character templates would otherwise fill 4,096
# entries of ~220 KB of compiled code each (~900 MB); 1M characters is ~55 MB at most.
CACHE_TEMPLATES = 4096
CACHE_CHARS = 1_000_000


class RenderError(Exception):
    """A template failed: syntax, sandbox refusal, limits or time. Message is user-safe."""


class RenderKilled(BaseException):
    """Raised inside a worker thread whose render ran out of time."""


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class OutputBuffer(list[Any]):
    """What a macro, a `{% set %}`/`{% filter %}` block or a call block renders into
    before it is joined: capped like any other value."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def append(self, item: Any) -> None:
        self.chars += len(item) if isinstance(item, str) else text_bound(item)
        if self.chars > MAX_VALUE_CHARS or len(self) >= MAX_VALUE_CHARS:
            raise _block_too_big()
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        batch = tuple(items)
        for item in batch:
            self.chars += len(item) if isinstance(item, str) else text_bound(item)
        if self.chars > MAX_VALUE_CHARS or len(self) + len(batch) > MAX_VALUE_CHARS:
            raise _block_too_big()
        super().extend(batch)


def _block_too_big() -> TooLarge:
    return TooLarge(f"a macro or block would render more than {MAX_VALUE_CHARS:,} characters")


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles buffers and `~` to the environment's guarded versions."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            escape = "context.eval_ctx.autoescape"
        else:
            escape = repr(bool(frame.eval_ctx.autoescape))
        self.write(f"environment.join_text({escape}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier, frame: Frame) -> None:
        # The base class evaluates the value at compile time (`as_const`), which would run
        # filters and `~` unguarded; only a literal is taken as known.
        for keyword in node.options:
            self.writeline(f"context.eval_ctx.{keyword.key} = ")
            self.visit(keyword.value, frame)
            if isinstance(keyword.value, nodes.Const):
                setattr(frame.eval_ctx, keyword.key, keyword.value.value)
            else:
                frame.eval_ctx.volatile = True


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every printed value: refused when its text would be too long. (Taking the context
    also keeps the compiler from evaluating printed constants at compile time.)"""
    check_printable(value)
    return value


def _guard(
    name: str, fn: Callable[..., Any], rule: FilterRule | ValueRule | None
) -> Callable[..., Any]:
    """A filter or test that checks its arguments with `rule` before it runs and its result
    after; it keeps the pass_environment/pass_eval_context/pass_context marks of `fn`."""
    pass_arg = getattr(fn, "jinja_pass_arg", None)
    first = int(pass_arg is not None)  # where the filtered value is
    # An async-variant filter adds the eval context in front of a function that takes none.
    inner = getattr(inspect.unwrap(fn), "jinja_pass_arg", None)
    lead = int(pass_arg is not None and inner is None)
    sig = signature_of(fn)

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = args[first] if len(args) > first else None
        if isinstance(rule, ValueRule):
            if len(args) > first:
                checked = rule(value, name)
                if checked is not value:
                    args = (*args[:first], checked, *args[first + 1 :])
        elif rule is not None and sig is not None:
            bound = sig.bind(*args[lead:], **kwargs)
            bound.apply_defaults()
            rule(bound.arguments, name)
            args, kwargs = (*args[:lead], *bound.args), bound.kwargs
        return settle(fn(*args, **kwargs), name, source=value)

    return guarded


def _self_settling(obj: Any) -> bool:
    """Callables whose result is already checked and charged (macros, str.format)."""
    return isinstance(obj, Macro) or getattr(obj, "settles", False) is True


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=Undefined,
            auto_reload=False,
            optimized=False,  # no constant folding: no template code runs at compile time
            finalize=_finalize,
        )
        self.filters = {
            name: _guard(f"the {name} filter", fn, filter_rule(name))
            for name, fn in self.filters.items()
        }
        tests = cast(dict[str, Callable[..., Any]], self.tests)
        self.tests = {  # a test answers a bool: checked after, like everything else
            name: _guard(f"the {name} test", fn, None) for name, fn in tests.items()
        }
        self.globals = {"range": self.globals["range"], "dict": dict}

    # -- hooks the compiled templates call --

    @staticmethod
    def output_buffer() -> OutputBuffer:
        return OutputBuffer()

    @staticmethod
    def _concat(parts: Iterable[str]) -> str:
        return settle("".join(parts), "a macro or block", deep=False)

    concat = _concat  # what a compiled macro or block joins its output with

    @staticmethod
    def join_text(escape: bool, parts: tuple[Any, ...]) -> str:
        check_concat(parts, escape)
        joined = markup_join(parts) if escape else str_join(parts)
        return settle(joined, "the ~ operator", deep=False)

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{type(__obj).__name__} object is not safely callable")
        args, what, owner = check_call(__obj, args, kwargs)
        result = __context.call(__obj, *args, **kwargs)
        if _self_settling(__obj):
            return result
        return settle(result, what, source=owner)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        return settle(result, f"the {operator} operator", deep=False)

    def getitem(self, obj: Any, argument: Any) -> Any:
        result = super().getitem(obj, argument)
        if isinstance(argument, slice):
            return settle(result, "a slice", deep=False, source=obj)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format`/`format_map` through a formatter that bounds every field."""
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self: Any = value.__self__
        if not isinstance(f_self, str):
            return None
        str_type = type(f_self)
        is_format_map = value.__name__ == "format_map"
        what = f"the '{value.__name__}' call"
        formatter: BoundedFormatter
        if isinstance(f_self, Markup):
            formatter = BoundedEscapeFormatter(self, what, escape=f_self.escape)
        else:
            formatter = BoundedFormatter(self, what)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs = args[0]
                args = ()
            return settle(str_type(formatter.vformat(f_self, args, kwargs)), what)

        wrapper.__dict__["settles"] = True  # read by _self_settling
        return functools.update_wrapper(wrapper, value)


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
        self,
        *,
        timeout_s: float = 0.25,
        max_output: int = 16_000,
        workers: int = 2,
        max_memory: int = MAX_RENDER_BYTES,
    ) -> None:
        self.env = BoundedEnvironment()
        self.timeout_s = timeout_s
        self.max_output = max_output
        self.max_memory = max_memory
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_chars = 0  # source characters cached: compiled code is ~55 bytes each
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
        except (RecursionError, MemoryError):
            raise RenderError("template syntax error: the template is nested too deeply") from None
        except (TemplateError, SyntaxError, ValueError, OverflowError) as exc:
            raise RenderError(f"template syntax error: {_short(str(exc))}") from None
        with self._cache_lock:
            if source not in self._cache:
                self._cache_chars += len(source)
            self._cache[source] = tpl
            while len(self._cache) > CACHE_TEMPLATES or self._cache_chars > CACHE_CHARS:
                dropped, _ = self._cache.popitem(last=False)
                self._cache_chars -= len(dropped)
        return tpl

    def render_sync(self, source: str, variables: dict[str, Any]) -> str:
        """Render in the calling thread (bounded size and memory, but no time limit)."""
        tpl = self._compile(source)
        out: list[str] = []
        size = 0
        try:
            with metered(self.max_memory):
                for chunk in tpl.generate(variables):
                    if not isinstance(chunk, str):  # a call block's raw result
                        check_printable(chunk)
                        chunk = str(chunk)
                    size += len(chunk)
                    if size > self.max_output:
                        raise RenderError(
                            f"the template output is longer than {self.max_output} characters"
                        )
                    if chunk:
                        out.append(chunk)
        except SecurityError as exc:
            raise RenderError(f"refused by the template sandbox: {_short(str(exc))}") from None
        except RenderError:
            raise
        except RecursionError:
            raise RenderError("template error: too deeply nested") from None
        except Exception as exc:  # a template's own error (TypeError, UndefinedError, ...)
            raise RenderError(f"template error: {type(exc).__name__}: {_short(str(exc))}") from None
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
