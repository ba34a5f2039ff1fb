"""Token material: opaque secrets, their hashes, access-token claims."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any
from uuid import UUID

from proto.events import new_event_id

REFRESH_PREFIX = "bcr_"
API_TOKEN_PREFIX = "bcp_"  # noqa: S105 - a prefix, not a secret


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """Tokens are stored only as SHA-256 (they are 256-bit random, so no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def access_claims(
    *, issuer: str, audience: str, user_id: UUID, session_id: UUID, ttl_s: int
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl_s,
        # UUIDv7: its timestamp (ms) orders the token against a "sign out everywhere".
        "jti": str(new_event_id()),
        "sid": str(session_id),
    }
