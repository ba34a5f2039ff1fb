"""What a value taken from outside must be before any service stores or forwards it.

Every store and wire format downstream has the same limits: PostgreSQL text and jsonb
refuse NUL characters, UTF-8 (NATS bodies, orjson, the database) cannot carry lone
surrogates, orjson and `bigint` stop at 64-bit integers, and JSON has no NaN or infinity.
A value past them used to travel until something deep inside failed with a 500, so the
gateway checks every string and JSON value it takes against these rules (naming the field),
and the contracts that carry free-form JSON (settings) check them again at the RPC boundary.

    text_problem("a\\x00b")                  # -> "must not contain NUL characters"
    json_problems({"a": [1, 2**64]})         # -> [(("a", 1), "must be a 64-bit integer …")]
    class UserSettings(Contract):
        settings: JsonObject                 # refused by pydantic, field named
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# JSON nested deeper than this is refused (the json module recurses; so would we).
MAX_JSON_DEPTH = 64

Loc = tuple[str | int, ...]

NUL_MESSAGE = "must not contain NUL characters"
SURROGATE_MESSAGE = "must be valid Unicode text (it contains a lone surrogate)"
INT_MESSAGE = f"must be a 64-bit integer (from {INT64_MIN} to {INT64_MAX})"
FLOAT_MESSAGE = "must be a finite number"
DEPTH_MESSAGE = f"is nested deeper than {MAX_JSON_DEPTH} levels"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be taken as text, or None when it can."""
    if "\x00" in value:
        return NUL_MESSAGE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return None


def json_problems(value: Any, loc: Loc = (), *, limit: int = 10) -> list[tuple[Loc, str]]:
    """Where a parsed JSON value breaks the rules above (at most `limit` places)."""
    found: list[tuple[Loc, str]] = []
    for where, problem in _walk(value, loc, 0):
        found.append((where, problem))
        if len(found) >= limit:
            break
    return found


def _walk(value: Any, loc: Loc, depth: int) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            yield loc, problem
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield loc, INT_MESSAGE
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield loc, FLOAT_MESSAGE
    elif isinstance(value, dict | list):
        if depth >= MAX_JSON_DEPTH:
            yield loc, DEPTH_MESSAGE
            return
        if isinstance(value, dict):
            for key, item in value.items():
                key_text = str(key)
                problem = text_problem(key_text)
                where = (*loc, key_text if problem is None else _printable(key_text))
                if problem:
                    yield where, f"key {problem}"
                yield from _walk(item, where, depth + 1)
        else:
            for index, item in enumerate(value):
                yield from _walk(item, (*loc, index), depth + 1)


def _printable(text: str) -> str:
    """`text` as it can be shown back (escapes for what cannot be encoded)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _check_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("text_invalid", problem)
    return value


def _check_json(value: Any) -> Any:
    problems = json_problems(value, limit=1)
    if problems:
        where, problem = problems[0]
        path = ".".join(str(p) for p in where)
        raise PydanticCustomError("json_invalid", f"{path}: {problem}" if path else problem)
    return value


# Text that any store and wire format can carry (no NUL, no lone surrogate). TEXT_CHECK
# alone goes after a length constraint (`Annotated[str, StringConstraints(...), TEXT_CHECK]`),
# so the length error reads as one about characters.
TEXT_CHECK = AfterValidator(_check_text)
Text = Annotated[str, TEXT_CHECK]
# A free-form JSON object within the same limits (and 64-bit integers, finite numbers).
JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json)]
# A name token: event kinds and domains, and filters on them.
Token = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
