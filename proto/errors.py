"""The error envelope every RPC reply may carry, and the codes it may use."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from proto.base import Contract


class ErrorCode(StrEnum):
    """Stable, machine-readable error codes. The gateway maps each to one HTTP status."""

    INVALID = "invalid"  # 400: malformed request
    UNAUTHENTICATED = "unauthenticated"  # 401
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409
    GONE = "gone"  # 410: existed, but expired, was revoked or used (an invitation)
    REQUEST_TIMEOUT = "request_timeout"  # 408: the client sent its request too slowly
    TOO_LARGE = "too_large"  # 413
    VALIDATION = "validation"  # 422: well-formed but breaks a rule
    RATE_LIMITED = "rate_limited"  # 429
    INTERNAL = "internal"  # 500: a bug; never carries a traceback
    UNAVAILABLE = "unavailable"  # 503: nobody answered / dependency down
    TIMEOUT = "timeout"  # 504: the service did not answer in time


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.GONE: 410,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.VALIDATION: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
}


# The one `details` key that carries a wait in seconds on `rate_limited` errors; the gateway
# turns it into the `Retry-After` header.
RETRY_AFTER = "retry_after"
# The `details` key of a `forbidden` error on a resource the caller can see: the permission
# string they lack (`{"missing_permission": "bots.control"}`).
MISSING_PERMISSION = "missing_permission"


class FieldError(Contract):
    """One field-level problem, as shown next to a form field."""

    loc: list[str | int] = Field(default_factory=list)
    message: str


class ErrorEnvelope(Contract):
    """The reply body of a failed RPC: `{"error": {code, message, details}}` on the wire."""

    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    fields: list[FieldError] = Field(default_factory=list)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]
