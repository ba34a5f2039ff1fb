"""Size bounds for everything a command template can build.

A template is untrusted code, and one C-level call (`'a'.ljust(10**9)`) allocates before
any time limit can stop it. So every operation a template performs goes through one guard
in `templates.BoundedEnvironment` (calls, filters, tests, operators, `~`, slices, output
blocks, printing), and the guard asks this module two questions:

- Before: how big can the result be, computed from the arguments alone? A bound over the
  cap on one value (`MAX_VALUE_CHARS` characters, bytes or items; `MAX_INT_BITS` bits) or
  one that does not fit in what is left of the render's memory budget is refused before
  the call runs. The bounds here cover every size-producing builtin a template can reach:
  str/bytes methods, `%` and `str.format` (widths and precisions parsed from the format
  spec), joins, repetition, integer arithmetic, and every Jinja filter.
- After: how big is it? The result is checked against the same caps (the second line for
  callables without a known bound) and its size is charged to the render's `Meter`, so a
  render never holds more than `MAX_RENDER_BYTES`, however many values it builds: the
  budget counts every value built, including the ones already freed.
"""

from __future__ import annotations

import inspect
import itertools
import math
import sys
import threading
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sized, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass
from operator import index
from types import MethodType
from typing import Any, TypeVar

from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedFormatter
from jinja2.utils import Namespace
from markupsafe import EscapeFormatter, Markup

MAX_VALUE_CHARS = 100_000  # one str/bytes (chars, bytes) or list/tuple/dict/set (items)
MAX_INT_BITS = 4096  # one integer
MAX_RENDER_BYTES = 8 * 2**20  # everything one render builds, freed or not
ESCAPE_GROWTH = 6  # HTML escaping turns one character into at most 5 (`&amp;`, `&#34;`)
_V = TypeVar("_V")
_MB = 2**20


class TooLarge(SecurityError):
    """A template operation would build a value over the limits (a user-safe message)."""


# --- the render's memory budget ----------------------------------------------------------


class Meter:
    """What one render has built so far, in bytes (sys.getsizeof of each value)."""

    def __init__(self, limit: int = MAX_RENDER_BYTES) -> None:
        self.limit = limit
        self.used = 0

    def _refuse(self, what: str) -> TooLarge:
        return TooLarge(
            f"{what} would take the template over its memory limit of "
            f"{self.limit / _MB:g} MB (it has built {self.used / _MB:.1f} MB so far)"
        )

    def fits(self, nbytes: int, what: str) -> None:
        if self.used + nbytes > self.limit:
            raise self._refuse(what)

    def charge(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise self._refuse(what)


_local = threading.local()


@contextmanager
def metered(limit: int = MAX_RENDER_BYTES) -> Iterator[Meter]:
    """Make a fresh `Meter` the budget of everything this thread renders inside."""
    meter = Meter(limit)
    previous = getattr(_local, "meter", None)
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = previous


def current_meter() -> Meter:
    meter = getattr(_local, "meter", None)
    return meter if isinstance(meter, Meter) else Meter()  # outside a render: this call only


# --- the caps ----------------------------------------------------------------------------


def need_text(chars: int, what: str) -> None:
    """Refuse, before it is built, a text (str or bytes) of `chars` characters."""
    if chars > MAX_VALUE_CHARS:
        raise TooLarge(
            f"{what} would build a text of {chars:,} characters; the limit is {MAX_VALUE_CHARS:,}"
        )
    current_meter().fits(chars, what)


def need_items(items: int, what: str, item_bytes: int = 8) -> None:
    """Refuse, before it is built, a list, tuple or dict of `items` items."""
    if items > MAX_VALUE_CHARS:
        raise TooLarge(
            f"{what} would build a list of {items:,} items; the limit is {MAX_VALUE_CHARS:,}"
        )
    current_meter().fits(item_bytes * items, what)


def need_bits(bits: int, what: str) -> None:
    """Refuse, before it is computed, an integer of `bits` bits."""
    if bits > MAX_INT_BITS:
        raise TooLarge(
            f"{what} would build a number of {bits:,} bits; the limit is {MAX_INT_BITS:,}"
        )


def settle(value: _V, what: str, *, deep: bool = True, source: Any = None) -> _V:
    """Check a value just built against the caps and charge it to the render's budget.

    `deep` also charges the items of a new container one level down (for builders that
    make new items, like `range(n)|list`); operators that only copy references do not.
    A result that *is* `source` (a filter that returned its input) was not built.
    """
    if value is source and source is not None:
        return value
    if isinstance(value, str | bytes | bytearray):
        if len(value) > MAX_VALUE_CHARS:
            raise TooLarge(
                f"{what} built a text of {len(value):,} characters; the limit is "
                f"{MAX_VALUE_CHARS:,}"
            )
        current_meter().charge(sys.getsizeof(value), what)
    elif isinstance(value, int) and not isinstance(value, bool):
        bits = value.bit_length()
        if bits > MAX_INT_BITS:
            raise TooLarge(f"{what} built a number of {bits:,} bits; the limit is {MAX_INT_BITS:,}")
        current_meter().charge(sys.getsizeof(value), what)
    elif isinstance(value, list | tuple | dict | set | frozenset):
        if len(value) > MAX_VALUE_CHARS:
            raise TooLarge(
                f"{what} built a list of {len(value):,} items; the limit is {MAX_VALUE_CHARS:,}"
            )
        size = sys.getsizeof(value)
        if deep and isinstance(value, dict):
            size += sum(map(sys.getsizeof, value.keys())) + sum(map(sys.getsizeof, value.values()))
        elif deep:
            size += sum(map(sys.getsizeof, value))
        current_meter().charge(size, what)
    return value


def materialize(iterable: Any, what: str) -> Any:
    """A sized form of `iterable` with at most MAX_VALUE_CHARS items (an iterator is read
    into a list, one item past the cap at most)."""
    if isinstance(iterable, Sized):
        if len(iterable) > MAX_VALUE_CHARS:
            need_items(len(iterable), what)
        return iterable
    items = list(itertools.islice(iter(iterable), MAX_VALUE_CHARS + 1))
    need_items(len(items), what)
    return items


# --- how long is str(value)? -------------------------------------------------------------


@dataclass
class Shape:
    text: int  # an upper bound of len(str(value))
    nodes: int  # values inside, itself included
    depth: int  # nesting


def _digits(n: int) -> int:
    return n.bit_length() * 30103 // 100000 + 2  # log10(2) < 0.30103; sign and rounding


def _repr_str(s: str) -> int:
    if s.isprintable():  # repr escapes only backslashes and the quote
        extra = 8 if isinstance(s, Markup) else 0
        return len(s) + s.count("\\") + s.count("'") + 2 + extra
    return 10 * len(s) + 10  # \U0010ffff


def shape(value: Any, limit: int = MAX_VALUE_CHARS) -> Shape:
    """Measure what `str(value)` would print without building it; stops past `limit`.

    Every value inside adds at least one character, so the walk visits at most `limit`
    values whatever the value is (shared or nested references included).
    """
    if isinstance(value, str):
        return Shape(len(value), 1, 0)
    text = nodes = depth = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack and text <= limit:
        try:
            v = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        nodes += 1
        depth = max(depth, len(stack) - 1)
        if isinstance(v, str):
            text += _repr_str(v)
        elif isinstance(v, bytes | bytearray):
            text += 4 * len(v) + 14
        elif v is None or isinstance(v, bool):
            text += 5
        elif isinstance(v, int):
            text += _digits(v)
        elif isinstance(v, float):
            text += 25
        elif isinstance(v, dict):
            text += 2 + 4 * len(v)
            stack.append(itertools.chain.from_iterable(v.items()))
        elif isinstance(v, list | tuple | set | frozenset | KeysView | ValuesView):
            text += 12 + 2 * len(v)
            stack.append(iter(v))
        elif isinstance(v, ItemsView):
            text += 12 + 6 * len(v)
            stack.append(itertools.chain.from_iterable(v))
        elif isinstance(v, Namespace):
            attrs = object.__getattribute__(v, "_Namespace__attrs")
            text += 13 + 4 * len(attrs)
            stack.append(itertools.chain.from_iterable(attrs.items()))
        elif isinstance(v, MethodType):  # <bound method Markup.x of Markup('...')>
            text += 80
            stack.append(iter((v.__self__,)))
        elif isinstance(v, Undefined):
            text += 0
        else:  # ranges, macros, loop and generator objects: a short fixed repr
            text += 200
    return Shape(text, nodes, depth)


def text_bound(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _digits(value)
    return shape(value).text


def repr_bound(value: Any) -> int:
    return _repr_str(value) if isinstance(value, str) else shape(value).text


def _text(value: Any, what: str) -> int:
    """len(str(value)), refused past the cap."""
    n = text_bound(value)
    if n > MAX_VALUE_CHARS:
        raise TooLarge(
            f"{what} would turn a value of {n:,} characters into text; the limit is "
            f"{MAX_VALUE_CHARS:,}"
        )
    return n


def check_printable(value: Any, what: str = "printing a value") -> None:
    if not isinstance(value, str):
        _text(value, what)


# --- formatting: `%` and str.format ------------------------------------------------------


def _number_text(value: Any, precision: int) -> int:
    """A number formatted with any spec: its bits (binary is the longest form; grouped
    decimals take fewer), a float's 309 integer digits, the precision, signs and prefixes."""
    bits = abs(value).bit_length() if isinstance(value, int) else 1100
    return bits + 400 + precision


def format_field_bound(value: Any, spec: str, growth: int = 1) -> int:
    """len(format(value, spec)) at most: the width, or the value with its precision."""
    width, precision = _parse_spec(spec)
    if isinstance(value, str):
        base = len(value) if precision is None else min(len(value), precision)
    elif isinstance(value, int | float):
        base = _number_text(value, precision or 0)
    else:  # object.__format__: str(value), any other spec is refused by Python itself
        base = text_bound(value)
    return max(width, base * growth)


def _parse_spec(spec: str) -> tuple[int, int | None]:
    """(width, precision) of a format spec: [[fill]align][sign][z][#][0][width][,_][.prec][type]."""
    i, n = 0, len(spec)
    if n >= 2 and spec[1] in "<>=^":
        i = 2
    elif n >= 1 and spec[0] in "<>=^":
        i = 1
    while i < n and spec[i] in "+- z#":
        i += 1
    j = i
    while j < n and spec[j].isdigit():
        j += 1
    width = int(spec[i:j]) if j > i else 0
    precision = None
    k = spec.find(".", j)
    if k >= 0:
        m = k + 1
        while m < n and spec[m].isdigit():
            m += 1
        precision = int(spec[k + 1 : m]) if m > k + 1 else 0
    return width, precision


class BoundedFormatter(SandboxedFormatter):
    """`str.format` for templates: each field's size is bounded from its spec before it is
    formatted, and the whole result is capped."""

    growth = 1

    def __init__(self, env: Any, what: str, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.what = what
        self.total = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.total = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def _add(self, n: int) -> None:
        self.total += n
        need_text(self.total, self.what)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion in ("r", "a"):
            n = repr_bound(value) * (10 if conversion == "a" else 1)
            need_text(n, self.what)
        elif conversion == "s":
            need_text(text_bound(value), self.what)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._add(format_field_bound(value, format_spec, self.growth))
        return super().format_field(value, format_spec)


class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):
    """`Markup.format`: every field is escaped, so may grow by ESCAPE_GROWTH."""

    growth = ESCAPE_GROWTH


def printf_bound(fmt: str | bytes | bytearray, args: Any, growth: int = 1) -> int:
    """len(fmt % args) at most, parsing each conversion like CPython does."""
    text = fmt if isinstance(fmt, str) else fmt.decode("latin-1")
    take = _PositionalArgs(args if isinstance(args, tuple) else (args,)).take
    total, i, n = 0, 0, len(text)
    while True:
        j = text.find("%", i)
        if j < 0:
            return total + n - i
        total += j - i
        key, i = _printf_key(text, j + 1)
        i = _skip(text, i, "-+ #0")
        width, i = _printf_width(text, i, take)
        precision, i = _printf_precision(text, i, take)
        i = _skip(text, i, "hlL")
        if i >= n:
            return total  # Python refuses the incomplete format
        conv = text[i]
        i += 1
        if conv == "%":
            total += 1
            continue
        value = _printf_value(args, key, take)
        total += max(width, _printf_base(fmt, conv, value, precision) * growth)
        if total > MAX_VALUE_CHARS:
            return total


class _PositionalArgs:
    """The arguments a printf format consumes left to right (fields, `*` widths)."""

    def __init__(self, seq: tuple[Any, ...]) -> None:
        self._seq = seq
        self._next = 0

    def take(self) -> Any:
        if self._next >= len(self._seq):
            raise TypeError("not enough arguments for format string")
        self._next += 1
        return self._seq[self._next - 1]


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _printf_digits(text: str, i: int) -> tuple[int, int]:
    """A decimal number at i (0 when there is none), and the index after it."""
    j = i
    while i < len(text) and text[i].isdigit():
        i += 1
    return (int(text[j:i]) if i > j else 0), i


def _printf_key(text: str, i: int) -> tuple[str | None, int]:
    """The `(name)` of a mapping conversion at i, with nested parentheses as CPython reads
    them, and the index after it."""
    n = len(text)
    if not (i < n and text[i] == "("):
        return None, i
    depth, start = 1, i + 1
    i += 1
    while i < n and depth:
        depth += (text[i] == "(") - (text[i] == ")")
        i += 1
    return text[start : i - 1], i


def _printf_width(text: str, i: int, take: Callable[[], Any]) -> tuple[int, int]:
    if i < len(text) and text[i] == "*":
        return abs(index(take())), i + 1
    return _printf_digits(text, i)


def _printf_precision(text: str, i: int, take: Callable[[], Any]) -> tuple[int | None, int]:
    if not (i < len(text) and text[i] == "."):
        return None, i
    i += 1
    if i < len(text) and text[i] == "*":
        return max(index(take()), 0), i + 1
    return _printf_digits(text, i)


def _printf_value(args: Any, key: str | None, take: Callable[[], Any]) -> Any:
    if key is None:
        return take()
    if isinstance(args, tuple | str | bytes) or not hasattr(args, "__getitem__"):
        raise TypeError("format requires a mapping")
    return args[key]


def _printf_base(fmt: str | bytes | bytearray, conv: str, value: Any, precision: int | None) -> int:
    """Characters one conversion prints at most, before width and growth."""
    if conv in "sb":  # a bytes format takes bytes as they are; str() shows their repr
        raw = not isinstance(fmt, str) and isinstance(value, bytes | bytearray)
        base = len(value) if raw else text_bound(value)
        return base if precision is None else min(base, precision)
    if conv in "ra":
        base = repr_bound(value) * (10 if conv == "a" else 1)
        return base if precision is None else min(base, precision)
    if conv == "c":
        return 1
    # d i o u x X e E f F g G
    return _number_text(value, precision or 0) if isinstance(value, int | float) else 0


# --- calls: str/bytes methods and the few other builders a template can reach ----------

Args = tuple[Any, ...]
Kwargs = dict[str, Any]


def _arg(args: Args, kwargs: Kwargs, pos: int, name: str | None, default: Any) -> Any:
    if len(args) > pos:
        return args[pos]
    if name is not None and name in kwargs:
        return kwargs[name]
    return default


def _growth(s: Any) -> int:
    return ESCAPE_GROWTH if isinstance(s, Markup) else 1


def _pad(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:  # ljust rjust center zfill
    need_text(max(len(s), index(_arg(args, kwargs, 0, None, 0))), what)


def _expandtabs(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    tabsize = index(_arg(args, kwargs, 0, "tabsize", 8))
    tab = "\t" if isinstance(s, str) else b"\t"
    need_text(len(s) + s.count(tab) * max(tabsize, 0), what)


def _replace(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    old, new = _arg(args, kwargs, 0, None, ""), _arg(args, kwargs, 1, None, "")
    count = index(_arg(args, kwargs, 2, "count", -1))
    if not isinstance(old, str if isinstance(s, str) else bytes | bytearray):
        return  # Python refuses it
    if isinstance(s, Markup):  # escapes `new` first
        n_new = _text(new, what) * ESCAPE_GROWTH
    elif isinstance(new, str | bytes | bytearray):
        n_new = len(new)
    else:
        return  # Python refuses it
    need_text(replace_bound(s, old, n_new, count), what)


def replace_bound(s: Any, old: Any, n_new: int, count: int) -> int:
    """len(s.replace(old, new, count)) at most, for a `new` of `n_new` characters."""
    if n_new <= len(old):
        return len(s)
    times = s.count(old) if old else len(s) + 1
    if count >= 0:
        times = min(times, count)
    return len(s) + times * (n_new - len(old))


def _join(s: Any, args: Args, kwargs: Kwargs, what: str) -> Args:
    items = materialize(_arg(args, kwargs, 0, None, ()), what)
    growth = _growth(s)
    if growth > 1:  # Markup.join escapes every item
        n = sum(text_bound(x) for x in items) * growth
    else:
        n = sum(len(x) for x in items if isinstance(x, str | bytes | bytearray))
    need_text(n + len(s) * max(len(items) - 1, 0), what)
    return (items,)


def _translate(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    table = _arg(args, kwargs, 0, None, None)
    longest = 1
    if isinstance(s, str) and table is not None:
        values = table.values() if isinstance(table, Mapping) else materialize(table, what)
        longest = max([1, *(len(v) for v in values if isinstance(v, str))])
    need_text(len(s) * longest, what)


_PLAIN_CODECS = {"utf-8", "utf8", "ascii", "latin-1", "latin1", "iso-8859-1", "utf-16", "utf-32"}


def _encode(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    encoding = str(_arg(args, kwargs, 0, "encoding", "utf-8")).lower().replace("_", "-")
    errors = _arg(args, kwargs, 1, "errors", "strict")
    plain = encoding in _PLAIN_CODECS and errors in ("strict", "ignore", "replace")
    one_byte = encoding in ("utf-8", "utf8") or not encoding.startswith("utf")
    if plain and one_byte and s.isascii():  # ASCII to ascii, latin-1 or utf-8
        need_text(len(s), what)
    else:  # utf-32: 4 bytes a character; namereplace: \N{...}, up to ~90
        need_text(len(s) * (4 if plain else 100) + 4, what)


def _split(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    """split, rsplit, splitlines: a new string per part, up to one per character."""
    sep = _arg(args, kwargs, 0, "sep", None)
    if isinstance(sep, str | bytes | bytearray) and sep:
        parts = s.count(sep) + 1
    else:
        parts = len(s) // 2 + 1 if sep is None else len(s) + 1  # words, or lines
    maxsplit = _arg(args, kwargs, 1, "maxsplit", -1)
    if isinstance(maxsplit, int) and maxsplit >= 0:
        parts = min(parts, maxsplit + 1)
    need_items(parts, what, 60)


def _decode(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    need_text(4 * len(s), what)  # backslashreplace: \xff per byte


def _hex(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    need_text(3 * len(s), what)


def _case(s: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    need_text(len(s) if s.isascii() else 3 * len(s), what)  # 'ﬃ'.upper() == 'FFI'


def _escape(cls: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    need_text(text_bound(_arg(args, kwargs, 0, "s", "")) * ESCAPE_GROWTH, what)


def _to_bytes(n: Any, args: Args, kwargs: Kwargs, what: str) -> None:
    need_text(index(_arg(args, kwargs, 0, "length", 1)), what)


_DICT_ENTRY = 100  # bytes a dict spends on one entry (table and a new key), at most


def _fromkeys(cls: Any, args: Args, kwargs: Kwargs, what: str) -> Args:
    keys = materialize(_arg(args, kwargs, 0, None, ()), what)
    need_items(len(keys), what, _DICT_ENTRY)
    return (keys, *args[1:])


def _mapping(cls: Any, args: Args, kwargs: Kwargs, what: str) -> Args:  # dict(), namespace()
    if args:
        first = args[0]
        if not isinstance(first, Mapping | Namespace):
            first = materialize(first, what)
        need_items(len(first) + len(kwargs), what, _DICT_ENTRY)
        return (first, *args[1:])
    return args


Rule = Callable[[Any, Args, Kwargs, str], Args | None]

TEXT_METHODS: dict[str, Rule] = {
    "ljust": _pad,
    "rjust": _pad,
    "center": _pad,
    "zfill": _pad,
    "expandtabs": _expandtabs,
    "replace": _replace,
    "join": _join,
    "split": _split,
    "rsplit": _split,
    "splitlines": _split,
    "translate": _translate,
    "encode": _encode,
    "decode": _decode,
    "hex": _hex,
    "upper": _case,
    "lower": _case,
    "title": _case,
    "capitalize": _case,
    "swapcase": _case,
    "casefold": _case,
}
# All other str/bytes methods build at most the receiver's length (strip, partition...);
# format/format_map never get here: the sandbox hands out BoundedFormatter wrappers.


def call_rule(obj: Any) -> tuple[Rule | None, Any, str]:
    """The pre-check for calling `obj`, the receiver it gets, and a name for messages."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", None) or type(obj).__name__
    if isinstance(owner, str | bytes | bytearray):
        return TEXT_METHODS.get(name), owner, f"the '{name}' call"
    if isinstance(owner, int) and name == "to_bytes":
        return _to_bytes, owner, "the 'to_bytes' call"
    if isinstance(owner, type):
        if issubclass(owner, dict) and name == "fromkeys":
            return _fromkeys, owner, "the 'fromkeys' call"
        if issubclass(owner, Markup) and name == "escape":
            return _escape, owner, "the 'escape' call"
    if obj is dict or obj is Namespace:
        return _mapping, obj, f"the '{name}' call"
    return None, owner, f"the '{name}' call"


def check_call(obj: Any, args: Args, kwargs: Kwargs) -> tuple[Args, str, Any]:
    """Refuse a call that would build too much; returns the (maybe read) args to use."""
    rule, owner, what = call_rule(obj)
    if rule is not None:
        new_args = rule(owner, args, kwargs, what)
        if new_args is not None:
            args = new_args
    return args, what, owner


# --- operators -------------------------------------------------------------------------


def _bits(n: Any) -> int:
    return abs(n).bit_length() if isinstance(n, int) else 0


def check_binop(op: str, left: Any, right: Any) -> None:
    what = f"the {op} operator"
    texts = (str, bytes, bytearray)
    seqs = (list, tuple)
    if op == "+":
        if isinstance(left, texts) and isinstance(right, texts):
            growth = _growth(left) if isinstance(left, Markup) else _growth(right)
            need_text((len(left) + len(right)) * growth, what)
        elif isinstance(left, seqs) and isinstance(right, seqs):
            need_items(len(left) + len(right), what)
        elif isinstance(left, int) and isinstance(right, int):
            need_bits(max(_bits(left), _bits(right)) + 1, what)
    elif op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, texts + seqs) and isinstance(times, int):
                n = len(seq) * max(times, 0)
                if isinstance(seq, texts):
                    need_text(n, what)
                else:
                    need_items(n, what)
                return
        if isinstance(left, int) and isinstance(right, int):
            need_bits(_bits(left) + _bits(right), what)
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            # floor(right * log2|left|) + 1 bits; a float's rounding may make it one short,
            # which the check after the operation catches
            need_bits(1 if abs(left) <= 1 else int(right * math.log2(abs(left))) + 1, what)
    elif op == "%":
        if isinstance(left, texts):
            need_text(printf_bound(left, right, _growth(left)), what)
    elif op in ("-", "//") and isinstance(left, int) and isinstance(right, int):
        need_bits(max(_bits(left), _bits(right)) + 1, what)


def check_concat(parts: tuple[Any, ...], escape: bool) -> None:
    n = 0
    for part in parts:
        size = text_bound(part)
        n += size * ESCAPE_GROWTH if escape and not isinstance(part, Markup) else size
        if n > MAX_VALUE_CHARS:
            break
    need_text(n, "the ~ operator")


# --- filters -----------------------------------------------------------------------------

FilterRule = Callable[[dict[str, Any], str], None]


class ValueRule:
    """A filter pre-check that needs only the filtered value (no argument binding)."""

    def __init__(self, check: Callable[[Any, str], Any]) -> None:
        self.check = check

    def __call__(self, value: Any, what: str) -> Any:
        """Check `value`; return what the filter should get (an iterator is read)."""
        return self.check(value, what)


def _text_value(value: Any, what: str) -> Any:
    _text(value, what)
    return value


TEXT_IN = ValueRule(_text_value)  # the value's text, grown by a fixed factor at most
ITEMS_IN = ValueRule(materialize)  # at most the value's items


def _f_center(p: dict[str, Any], what: str) -> None:
    need_text(max(_text(p["value"], what), index(p["width"])), what)


def _f_indent(p: dict[str, Any], what: str) -> None:
    s = p["s"]
    n = _text(s, what)
    width = p["width"]
    prefix = len(width) if isinstance(width, str) else max(index(width), 0)
    lines = (s.count("\n") if isinstance(s, str) else n) + 1
    need_text(n + lines * prefix, what)


def _f_wordwrap(p: dict[str, Any], what: str) -> None:
    n = _text(p["s"], what)
    wrap = p["wrapstring"]
    sep = len(wrap) if isinstance(wrap, str) else len(p["environment"].newline_sequence)
    need_text(n + (n + 1) * sep, what)  # at most one line per character


def _f_truncate(p: dict[str, Any], what: str) -> None:
    s, length, end = p["s"], index(p["length"]), text_bound(p["end"])
    n = text_bound(s)
    # s itself when short enough, else s[: length - len(end)] + end
    need_text(n if n <= length else min(n, max(length, 0)) + end, what)


def _f_replace(p: dict[str, Any], what: str) -> None:
    s, count = p["s"], p["count"]
    growth = ESCAPE_GROWTH if p["eval_ctx"].autoescape else 1  # s and new are escaped
    n = _text(s, what)
    _text(p["old"], what)
    n_new = text_bound(p["new"]) * growth
    count = -1 if count is None else index(count)
    need_text(replace_bound(str(s), str(p["old"]), n_new, count) + n * (growth - 1), what)


def _f_format(p: dict[str, Any], what: str) -> None:
    value = p["value"]
    if not isinstance(value, str):
        _text(value, what)
        value = str(value)
    need_text(printf_bound(value, p["kwargs"] or p["args"], _growth(value)), what)


def _f_batch(p: dict[str, Any], what: str) -> None:
    need_items(max(index(p["linecount"]), 0), what)


def _f_slice(p: dict[str, Any], what: str) -> None:
    p["value"] = materialize(p["value"], what)
    need_items(max(index(p["slices"]), 0) + len(p["value"]), what)


def _f_join(p: dict[str, Any], what: str) -> None:
    items = p["value"] = materialize(p["value"], what)
    sep = text_bound(p["d"])
    growth = ESCAPE_GROWTH if p["eval_ctx"].autoescape else 1
    # with `attribute`, each item's text is bounded by the whole item's
    n = sep * max(len(items) - 1, 0)
    for item in items:
        n += text_bound(item) * growth
        if n > MAX_VALUE_CHARS:
            break
    need_text(n, what)


def _f_urlize(p: dict[str, Any], what: str) -> None:
    n = _text(p["value"], what)
    extra = 64 + text_bound(p["target"] or "") + text_bound(p["rel"] or "")
    need_text(2 * ESCAPE_GROWTH * n + (n + 1) // 2 * extra, what)  # a link per word


def _f_sum(p: dict[str, Any], what: str) -> None:
    items = p["iterable"] = materialize(p["iterable"], what)
    start = p["start"]
    if isinstance(start, list | tuple | str | bytes):
        if p["attribute"] is not None:
            items = list(map(make_attrgetter(p["environment"], p["attribute"]), items))
        total = len(start) + sum(len(x) for x in items if isinstance(x, Sized))
        need_items(total, what)
        # sum() copies what it has so far at each step, in one C call: bound that work too
        if len(items) * total > 100 * MAX_VALUE_CHARS:
            raise TooLarge(f"{what} would copy {len(items) * total:,} items; join lists instead")


def _f_xmlattr(p: dict[str, Any], what: str) -> None:
    need_text(_text(p["d"], what) * ESCAPE_GROWTH, what)


def _f_tojson(p: dict[str, Any], what: str) -> None:
    s = shape(p["value"])
    if s.text > MAX_VALUE_CHARS:
        _text(p["value"], what)
    indent = p["indent"]
    step = len(indent) if isinstance(indent, str) else max(index(indent or 0), 0)
    # \ud83d\ude00 for one character at most; a line per value, indented by its depth
    need_text(12 * s.text + s.nodes * (step * (s.depth + 1) + 1), what)


def _f_pprint(p: dict[str, Any], what: str) -> None:
    s = shape(p["value"])
    if s.text > MAX_VALUE_CHARS:
        _text(p["value"], what)
    need_text(s.text + s.nodes * (s.depth + 2), what)


def _f_round(p: dict[str, Any], what: str) -> None:
    precision = index(p["precision"])
    if abs(precision) > MAX_INT_BITS * 30103 // 100000:  # 10**precision
        need_bits(abs(precision) * 33219 // 10000, what)


def _list_value(value: Any, what: str) -> Any:
    value = materialize(value, what)
    # the characters of a non-Latin-1 text become new one-character strings
    fresh = isinstance(value, str) and not value.isascii()
    current_meter().fits(len(value) * (88 if fresh else 8), what)
    return value


FILTER_RULES: dict[str, FilterRule | ValueRule | None] = {
    # no growth: a scalar, an item of the value, or a lazy iterator over it
    "abs": None,
    "attr": None,
    "count": None,
    "d": None,
    "default": None,
    "filesizeformat": None,
    "first": None,
    "float": None,
    "items": None,
    "length": None,
    "map": None,  # the filter it maps is guarded on each item
    "reject": None,
    "rejectattr": None,
    "select": None,
    "selectattr": None,
    # the value's text, grown by a fixed factor (checked after)
    "capitalize": TEXT_IN,
    "e": TEXT_IN,
    "escape": TEXT_IN,
    "forceescape": TEXT_IN,
    "int": TEXT_IN,
    "lower": TEXT_IN,
    "safe": TEXT_IN,
    "string": TEXT_IN,
    "striptags": TEXT_IN,
    "title": TEXT_IN,
    "trim": TEXT_IN,
    "upper": TEXT_IN,
    "urlencode": TEXT_IN,
    "wordcount": TEXT_IN,
    # at most the value's items
    "dictsort": ITEMS_IN,
    "groupby": ITEMS_IN,
    "last": ITEMS_IN,
    "list": ValueRule(_list_value),
    "max": ITEMS_IN,
    "min": ITEMS_IN,
    "random": ITEMS_IN,
    "reverse": ITEMS_IN,
    "sort": ITEMS_IN,
    "unique": ITEMS_IN,
    # sized by their arguments
    "batch": _f_batch,
    "center": _f_center,
    "format": _f_format,
    "indent": _f_indent,
    "join": _f_join,
    "pprint": _f_pprint,
    "replace": _f_replace,
    "round": _f_round,
    "slice": _f_slice,
    "sum": _f_sum,
    "tojson": _f_tojson,
    "truncate": _f_truncate,
    "urlize": _f_urlize,
    "wordwrap": _f_wordwrap,
    "xmlattr": _f_xmlattr,
}


def _f_unknown(p: dict[str, Any], what: str) -> None:
    """A filter without a known bound: every argument within the caps."""
    for value in p.values():
        if isinstance(value, int) and not isinstance(value, bool):
            need_items(abs(value), what)
        elif isinstance(value, str | bytes | list | tuple | dict):
            _text(value, what)


def filter_rule(name: str) -> FilterRule | ValueRule | None:
    """The pre-check of a filter (None: it builds nothing bigger than its input)."""
    return FILTER_RULES.get(name, _f_unknown)


def signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None
