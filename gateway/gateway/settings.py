"""Gateway settings: environment variables prefixed `GATEWAY_`."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "gateway"

    http_port: int = 8000
    # Bodies larger than this are refused with 413 before they are read whole.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Uploads (multipart) may be larger; the storage-service applies per-kind limits.
    max_upload_bytes: int = Field(9 * 1024 * 1024, ge=1024)
    status_timeout_s: float = Field(1.0, gt=0, le=30)

    # ---- sign-in and sessions
    # The public base URL (e.g. https://bots.example.com) used for OAuth callback URLs;
    # empty = the URL the request came in on.
    public_url: str = ""
    # Session cookies carry `Secure`; unset = on in production, off in development (http).
    cookie_secure: bool | None = None
    cookie_domain: str | None = None
    # Strict-Transport-Security on every response; unset = on in production or when the
    # public URL is https (browsers ignore it over plain http, so it never locks out dev).
    hsts: bool | None = None
    hsts_max_age_s: int = Field(365 * 24 * 3600, ge=0)
    # How long a personal API token check is cached (revocation events clear it at once).
    api_token_cache_s: float = Field(30.0, ge=0, le=3600)
    # How long a user's workspace access is cached (AccessChanged events drop it at once;
    # this bounds a missed one).
    access_cache_s: float = Field(30.0, ge=0, le=300)
    # Unknown `kid`: refresh the JWKS at most this often; refresh anyway after `jwks_max_age_s`.
    jwks_min_refresh_s: float = Field(5.0, ge=0)
    jwks_max_age_s: float = Field(300.0, gt=0)
    auth_timeout_s: float = Field(5.0, gt=0, le=60)

    # ---- CORS (browser origins allowed to call the API with credentials)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # ---- rate limits (token buckets; 429 with Retry-After)
    rate_limit_enabled: bool = True
    rate_ip_per_s: float = Field(50.0, gt=0)
    rate_ip_burst: int = Field(200, ge=1)
    rate_user_per_s: float = Field(20.0, gt=0)
    rate_user_burst: int = Field(100, ge=1)
    # Sign-in endpoints (/v1/auth/...) per IP: much stricter.
    rate_login_per_min: float = Field(20.0, gt=0)
    rate_login_burst: int = Field(10, ge=1)
    # How many proxies in front of the gateway append to X-Forwarded-For (0 = ignore it);
    # the client address is the one the outermost trusted proxy saw (1 behind ingress-nginx).
    trusted_proxy_hops: int = Field(0, ge=0, le=10)

    # ---- uploads in flight (429 beyond a cap; each holds a slot until stored)
    # Concurrent uploads of one user on this replica.
    max_uploads_per_user: int = Field(2, ge=1, le=1000)
    # Concurrent uploads from one client address (behind the trusted proxy hops).
    max_uploads_per_address: int = Field(4, ge=1, le=10_000)
    # Concurrent uploads on this replica (spooled files live in /tmp: keep within its size).
    max_uploads: int = Field(16, ge=1, le=10_000)
    # Bytes of an upload kept in memory while it arrives; beyond, a temporary file.
    upload_spool_bytes: int = Field(64 * 1024, ge=0, le=16 * 1024 * 1024)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [v.strip().rstrip("/") for v in text.split(",") if v.strip()]
        return value

    @property
    def hsts_header(self) -> str | None:
        """The Strict-Transport-Security value to send, or None (off)."""
        on = self.hsts
        if on is None:
            on = self.production or self.public_url.lower().startswith("https://")
        if not on or self.hsts_max_age_s <= 0:
            return None
        return f"max-age={self.hsts_max_age_s}; includeSubDomains"

    @property
    def secure_cookies(self) -> bool:
        return self.production if self.cookie_secure is None else self.cookie_secure
