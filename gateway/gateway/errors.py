"""Every error leaves the gateway as `{"error": {code, message, details, fields}}`.

RPC error codes map to HTTP statuses through `proto.errors.HTTP_STATUS`; nothing ever
answers with a traceback. Validation failures of any kind — FastAPI's checks of the
request, and a contract the gateway builds from what the caller sent (a pydantic
`ValidationError` raised in a handler) — are 422s whose message names the first field.

Writing an error never fails: the body is serialized with a fallback that escapes what
JSON cannot carry (a lone surrogate or a huge integer echoed from the request), and an
exception that escapes every handler is answered by `RequestContextMiddleware` (see
`internal_error`), inside the middleware that sets the request id, so the reply names it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from proto.errors import HTTP_STATUS, ErrorCode, ErrorEnvelope, FieldError
from services.errors import RpcError
from services.telemetry.logs import request_id_var

log = logging.getLogger(__name__)

_STATUS_TO_CODE = {status: code for code, status in HTTP_STATUS.items()}
_STATUS_TO_CODE[405] = ErrorCode.INVALID
_FALLBACK_BODY = (
    b'{"error":{"code":"internal","message":"internal error","details":{},"fields":[]}}'
)


def _printable(value: Any) -> Any:
    """`value` with every string made encodable and every integer made representable."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, Mapping):
        return {str(_printable(str(k))): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return _printable(str(value))


def dump_json(body: Any) -> bytes:
    """orjson, and when it cannot encode something (user input echoed back), the same
    with that escaped; never raises."""
    try:
        return orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return orjson.dumps(_printable(body))
    except Exception:
        log.exception("could not serialize an error body")
        return _FALLBACK_BODY


def error_body(env: ErrorEnvelope) -> bytes:
    try:
        data = env.model_dump(mode="json")
    except Exception:
        data = {"code": env.code.value, "message": str(env.message), "details": {}, "fields": []}
    return dump_json({"error": data})


def error_response(env: ErrorEnvelope, headers: dict[str, str] | None = None) -> Response:
    return Response(
        error_body(env),
        status_code=env.http_status,
        headers=headers,
        media_type="application/json",
    )


def internal_error_body(request_id: str) -> bytes:
    """The 500 body for an exception nothing handled (written by the request-id middleware)."""
    return error_body(
        ErrorEnvelope(
            code=ErrorCode.INTERNAL,
            message=f"internal error (request id {request_id})",
            details={"request_id": request_id},
        )
    )


def validation_envelope(
    errors: Iterable[Mapping[str, Any]], prefix: tuple[str, ...] = ()
) -> ErrorEnvelope:
    """422 from pydantic/FastAPI error dicts; the message names the first field."""
    fields: list[FieldError] = []
    for e in errors:
        loc = [*prefix, *(p for p in e.get("loc", ()) if isinstance(p, str | int))]
        message = str(e.get("msg", "invalid value"))
        ctx = e.get("ctx")
        if e.get("type") == "json_invalid" and isinstance(ctx, Mapping) and ctx.get("error"):
            message = f"{message}: {ctx['error']}"
        fields.append(FieldError(loc=loc, message=message))
    if fields:
        first = fields[0]
        where = ".".join(str(p) for p in first.loc) or "request"
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        summary = f"invalid {where}: {first.message}{more}"
    else:
        summary = "invalid request"
    return ErrorEnvelope(code=ErrorCode.VALIDATION, message=summary, fields=fields)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RpcError)
    async def rpc_error(_: Request, exc: RpcError) -> Response:
        headers = None
        if exc.code is ErrorCode.RATE_LIMITED and "retry_after" in exc.details:
            try:
                wait = max(1, int(float(exc.details["retry_after"]) + 0.999))
            except (TypeError, ValueError, OverflowError):
                wait = 1
            headers = {"Retry-After": str(wait)}
        return error_response(exc.envelope(), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return error_response(validation_envelope(exc.errors()))

    @app.exception_handler(ValidationError)
    async def invalid_contract(_: Request, exc: ValidationError) -> Response:
        # A handler built a contract from what the caller sent and it broke a rule there
        # (replies from services that break theirs are RpcErrors, see RpcClient.call_raw).
        return error_response(
            validation_envelope(exc.errors(include_url=False, include_input=False))
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_TO_CODE.get(exc.status_code, ErrorCode.INVALID)
        env = ErrorEnvelope(code=code, message=str(exc.detail))
        resp = error_response(env, dict(exc.headers) if exc.headers else None)
        resp.status_code = exc.status_code
        return resp

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> Response:
        # Backstop only: `RequestContextMiddleware` answers unhandled errors itself (with
        # the request id); this runs if one escapes from outside it.
        rid = request_id_var.get() or "-"
        log.error("unhandled error", exc_info=exc)
        return Response(internal_error_body(rid), status_code=500, media_type="application/json")
