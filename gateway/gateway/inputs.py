"""Every value a request carries is checked once, here, before any route sees it.

Servers decode percent-escapes leniently (`%FF` and an encoded surrogate `%ED%A0%80`
become U+FFFD) and JSON parsers accept `\\u0000`, `\\ud800` and integers of any size;
none of those can be stored or forwarded (see `proto.values`). `check_request` — an
app-wide dependency, so it runs for every route before the route's own parameters are
validated — refuses them with a 422 naming the parameter:

- the query string and the path, decoded strictly: valid UTF-8, no NUL;
- a JSON body (routes that take one): every string and key without NUL or lone
  surrogates, every integer within 64 bits, every number finite, nesting bounded.

Semantic rules (lengths, ranges, character sets of a filter) stay on the route's
parameters and on the contracts.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from proto.values import NUL_MESSAGE, json_problems

M = TypeVar("M", bound=BaseModel)
NOT_UTF8 = "must be valid UTF-8 text (percent-escapes that decode to UTF-8)"
_MAX_ERRORS = 10


def _error(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": None}


def _decode(raw: bytes) -> str | None:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def query_problems(query_string: bytes) -> list[dict[str, Any]]:
    """The raw query string, split as the framework splits it (`&`, `=`, `+` = space)."""
    errors: list[dict[str, Any]] = []
    for part in query_string.split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name = _decode(raw_name.replace(b"+", b" "))
        value = _decode(raw_value.replace(b"+", b" "))
        shown = name if name is not None else raw_name.decode("ascii", "replace")
        shown = shown.replace("\x00", "\\x00")
        if name is None or value is None:
            errors.append(_error(("query", shown), NOT_UTF8, "utf8_invalid"))
        elif "\x00" in name or "\x00" in value:
            errors.append(_error(("query", shown), NUL_MESSAGE, "nul_invalid"))
        if len(errors) >= _MAX_ERRORS:
            break
    return errors


def path_problems(conn: HTTPConnection) -> list[dict[str, Any]]:
    raw = conn.scope.get("raw_path")
    if not isinstance(raw, bytes):
        return []
    path = _decode(raw.split(b"?", 1)[0])
    if path is not None and "\x00" not in path:
        return []
    message = NOT_UTF8 if path is None else NUL_MESSAGE
    # The server decoded the path leniently: a bad escape shows as U+FFFD in a parameter.
    names = [
        name
        for name, value in conn.path_params.items()
        if isinstance(value, str) and ("\ufffd" in value or "\x00" in value)
    ]
    return [_error(("path", name), message, "path_invalid") for name in names] or [
        _error(("path",), message, "path_invalid")
    ]


def _takes_json(request: Request) -> bool:
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None:
        return False
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def check_request(conn: HTTPConnection) -> None:
    """App-wide dependency: refuse what no service can take (see the module docstring)."""
    errors = query_problems(conn.scope.get("query_string", b""))
    errors += path_problems(conn)
    if not errors and isinstance(conn, Request) and _takes_json(conn):
        try:
            body = await conn.json()  # parsed (and cached) by FastAPI just before
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None  # FastAPI reports malformed JSON itself
        errors = [
            _error(("body", *loc), message, "value_invalid")
            for loc, message in json_problems(body, limit=_MAX_ERRORS)
        ]
    if errors:
        raise RequestValidationError(errors)


def contract_from(model: type[M], where: str, /, **values: Any) -> M:
    """Build a contract from request parameters; a rule it breaks is a 422 naming
    `<where>.<field>` (e.g. `query.kind`), like FastAPI's own parameter checks."""
    try:
        return model(**values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise RequestValidationError([{**e, "loc": (where, *e["loc"])} for e in errors]) from None
