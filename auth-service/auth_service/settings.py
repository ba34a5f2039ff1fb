"""auth-service settings: environment variables prefixed `AUTH_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.settings import MissingSecretError, ServiceSettings

# The discord-sandbox's built-in OAuth client (both providers); refused in production.
SANDBOX_CLIENT_ID = "botcenter-local"
SANDBOX_CLIENT_SECRET = "botcenter-local-secret"  # noqa: S105 - the sandbox's public test client


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "auth"

    # Access tokens (JWT) and refresh tokens.
    issuer: str = "botcenter"
    audience: str = "botcenter-api"
    access_ttl_s: int = Field(900, ge=30, le=24 * 3600)
    refresh_ttl_s: int = Field(30 * 24 * 3600, ge=60)
    # EdDSA (Ed25519) or ES256 for new keys; keys older than this are replaced.
    signing_alg: str = Field("EdDSA", pattern="^(EdDSA|ES256)$")
    key_rotation_days: float = Field(30.0, gt=0)
    key_refresh_s: float = Field(30.0, gt=0)
    # A rotated key is published at once and signs only this many seconds later (>= the
    # refresh interval). 0 = automatic: 2 x key_refresh_s + 10 s.
    key_activation_s: float = Field(
        0.0,
        ge=0,
        description="seconds between publishing a rotated signing key and signing with it "
        "(>= AUTH_KEY_REFRESH_S; 0 = 2 x AUTH_KEY_REFRESH_S + 10)",
    )
    # Sign-in.
    login_flow_ttl_s: int = Field(600, ge=30, le=3600)
    provider_timeout_s: float = Field(10.0, gt=0, le=60)
    discord_client_id: str = SANDBOX_CLIENT_ID
    discord_client_secret: SecretStr = SecretStr(SANDBOX_CLIENT_SECRET)
    discord_scopes: str = "identify email"
    # Avatar CDN; derived from DISCORD_BASE_URL when empty (discord.com -> cdn.discordapp.com).
    discord_cdn_url: str = ""
    google_enabled: bool = True
    google_client_id: str = SANDBOX_CLIENT_ID
    google_client_secret: SecretStr = SecretStr(SANDBOX_CLIENT_SECRET)
    # Personal API tokens.
    max_api_tokens: int = Field(50, ge=1)
    token_touch_s: float = Field(60.0, ge=0)
    # Account deletion: how often to retry services that did not confirm a purge.
    purge_retry_s: float = Field(30.0, gt=0)
    purge_timeout_s: float = Field(5.0, gt=0)
    # Seconds to wait for bot-service or storage-service checking a change (a member's
    # bot_ids, a workspace's avatar file) before refusing it as unavailable.
    peer_timeout_s: float = Field(5.0, gt=0, le=60)
    settings_max_bytes: int = Field(64 * 1024, ge=1024)

    @model_validator(mode="after")
    def _activation_after_refresh(self) -> Settings:
        if self.key_activation_s and self.key_activation_s < self.key_refresh_s:
            raise ValueError(
                "AUTH_KEY_ACTIVATION_S must be at least AUTH_KEY_REFRESH_S: every replica "
                "must have loaded a new key before anyone signs with it"
            )
        return self

    @property
    def activation_delay_s(self) -> float:
        return self.key_activation_s or 2 * self.key_refresh_s + 10.0

    def check_production(self) -> None:
        if not self.production:
            return
        for name, value in (
            ("AUTH_DISCORD_CLIENT_SECRET", self.discord_client_secret),
            ("AUTH_GOOGLE_CLIENT_SECRET", self.google_client_secret),
        ):
            if value.get_secret_value() == SANDBOX_CLIENT_SECRET and (
                name.startswith("AUTH_DISCORD") or self.google_enabled
            ):
                raise MissingSecretError(f"{name} must be set in production")

    @property
    def cdn_url(self) -> str:
        if self.discord_cdn_url:
            return self.discord_cdn_url.rstrip("/")
        base = self.discord_base_url.rstrip("/")
        return "https://cdn.discordapp.com" if base == "https://discord.com" else base
