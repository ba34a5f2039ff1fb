"""Optional error reporting to Sentry, on when `SENTRY_DSN` is set.

Uses sentry-sdk's Starlette/FastAPI integrations (unhandled errors in HTTP routes) and its
logging integration (records at ERROR and above, which covers failed RPC handlers). Every
event passes through `before_send`, which applies the same redaction as the logs
(`services.telemetry.redaction.redact`: known secrets, Discord tokens, JWTs, API tokens,
`password=...` pairs) to every string in it and drops credential-bearing request headers,
cookies and bodies. Traces stay with OpenTelemetry: Sentry gets errors only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from services.telemetry.redaction import REDACTED, redact

log = logging.getLogger(__name__)

# Request parts that carry credentials as a whole: dropped, not pattern-matched.
_SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key", "bc-user-id"}
)
_SECRET_KEYS = frozenset({"cookies", "data", "env"})
_MAX_DEPTH = 32


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` (an event or part of one) with every string redacted."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = key.lower() if isinstance(key, str) else key
            if name in _SECRET_HEADERS:
                out[key] = REDACTED
            else:
                out[key] = scrub(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [scrub(item, depth + 1) for item in value]
    return value


def before_send(event: Any, hint: Any) -> Any:
    """sentry-sdk hook: the event as it will leave the process, or None to drop it."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _SECRET_KEYS & request.keys():
            request[key] = REDACTED
    return scrub(event)


def setup_sentry(
    service: str,
    *,
    version: str,
    instance: str,
    environment: str,
    dsn: str | None = None,
) -> bool:
    """Initialise sentry-sdk for this process when a DSN is configured; True when on."""
    dsn = dsn if dsn is not None else os.environ.get("SENTRY_DSN")
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.fastapi import FastApiIntegration
        from sentry_sdk.integrations.starlette import StarletteIntegration
    except ImportError:
        log.warning("SENTRY_DSN is set but sentry-sdk is not installed; errors are not reported")
        return False
    sentry_sdk.init(
        dsn=dsn,
        release=f"botcenter-{service}@{version}",
        environment=environment,
        server_name=instance,
        integrations=[StarletteIntegration(), FastApiIntegration()],
        before_send=before_send,
        before_send_transaction=lambda _event, _hint: None,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=0.0,
    )
    sentry_sdk.set_tag("service", service)
    return True
