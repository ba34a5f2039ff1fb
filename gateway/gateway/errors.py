"""Every error leaves the gateway as `{"error": {code, message, details, fields}}`.

RPC error codes map to HTTP statuses through `proto.errors.HTTP_STATUS`; nothing ever
answers with a traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from proto.errors import HTTP_STATUS, ErrorCode, ErrorEnvelope, FieldError
from services.errors import RpcError
from services.telemetry.logs import request_id_var

log = logging.getLogger(__name__)

_STATUS_TO_CODE = {status: code for code, status in HTTP_STATUS.items()}
_STATUS_TO_CODE[405] = ErrorCode.INVALID


def error_response(env: ErrorEnvelope, headers: dict[str, str] | None = None) -> ORJSONResponse:
    return ORJSONResponse(
        {"error": env.model_dump(mode="json")}, status_code=env.http_status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RpcError)
    async def rpc_error(_: Request, exc: RpcError) -> ORJSONResponse:
        headers = None
        if exc.code is ErrorCode.RATE_LIMITED and "retry_after" in exc.details:
            headers = {"Retry-After": str(max(1, int(float(exc.details["retry_after"]) + 0.999)))}
        return error_response(exc.envelope(), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> ORJSONResponse:
        fields = [
            FieldError(loc=[p for p in e["loc"] if isinstance(p, str | int)], message=e["msg"])
            for e in exc.errors()
        ]
        return error_response(
            ErrorEnvelope(code=ErrorCode.VALIDATION, message="invalid request", fields=fields)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        code = _STATUS_TO_CODE.get(exc.status_code, ErrorCode.INVALID)
        env = ErrorEnvelope(code=code, message=str(exc.detail))
        resp = error_response(env, dict(exc.headers) if exc.headers else None)
        resp.status_code = exc.status_code
        return resp

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> ORJSONResponse:
        rid = request_id_var.get() or "-"
        log.exception("unhandled error")
        return error_response(
            ErrorEnvelope(
                code=ErrorCode.INTERNAL,
                message=f"internal error (request id {rid})",
                details={"request_id": rid},
            )
        )
