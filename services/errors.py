"""The exception a service raises to answer with a typed error envelope."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson

from proto.errors import ErrorCode, ErrorEnvelope, FieldError

T = TypeVar("T")


class RpcError(Exception):
    """Raised by service code (and by the RPC client) to carry an error envelope.

    The message must be safe to show to a user: it never contains secrets or tracebacks.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        fields: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.fields = fields or []

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(
            code=self.code, message=self.message, details=self.details, fields=self.fields
        )

    @classmethod
    def from_envelope(cls, env: ErrorEnvelope) -> RpcError:
        return cls(env.code, env.message, details=env.details, fields=env.fields)

    def __repr__(self) -> str:
        return f"RpcError({self.code.value!r}, {self.message!r})"


def not_found(what: str) -> RpcError:
    return RpcError(ErrorCode.NOT_FOUND, f"{what} not found")


async def peer_answer(service: str, answer: Awaitable[T], consequence: str = "") -> T:
    """Another service's answer a request depends on: when that service is down (no
    responder, or no answer in time) the request is refused as UNAVAILABLE (503) naming it,
    not as the caller's own timeout; its other errors pass through."""
    try:
        return await answer
    except RpcError as err:
        if err.code not in (ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT):
            raise
        raise RpcError(
            ErrorCode.UNAVAILABLE,
            f"the {service} service did not answer{consequence}; try again",
            details={"service": service},
        ) from None


def conflict(message: str, **details: Any) -> RpcError:
    return RpcError(ErrorCode.CONFLICT, message, details=details)


def validation(message: str, *, fields: list[FieldError] | None = None) -> RpcError:
    return RpcError(ErrorCode.VALIDATION, message, fields=fields)


def envelope_json(code: ErrorCode, message: str, details: dict[str, Any]) -> bytes:
    """The error envelope as JSON, for ASGI code that answers before any framework does
    (body size and pace limits, rate limits)."""
    error: dict[str, Any] = {
        "code": code.value,
        "message": message,
        "details": details,
        "fields": [],
    }
    return orjson.dumps({"error": error})
