"""command-service settings: environment variables prefixed `COMMAND_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMMAND_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "command"

    # Comma-separated `host` or `host:port` entries (as written in URLs) that commands
    # may call even though they resolve to loopback/private/link-local addresses. The same
    # rule is checked when a connection is saved (a literal address or `localhost` that is
    # not allowed is a 422 at `base_url`; other names are resolved when called).
    outbound_allow_hosts: str = ""
    outbound_max_bytes: int = Field(1_000_000, ge=1024, le=16_000_000)
    outbound_max_redirects: int = Field(3, ge=0, le=10)
    render_timeout_ms: int = Field(250, ge=10, le=5000)
    render_max_chars: int = Field(16_000, ge=2000, le=1_000_000)
    render_workers: int = Field(2, ge=1, le=32)
    # Upper bound for one execution (HTTP/AI calls included); bot-service defers at ~2 s.
    execute_timeout_s: float = Field(25.0, gt=1, le=120)

    def allow_hosts(self) -> list[str]:
        return [h.strip() for h in self.outbound_allow_hosts.split(",") if h.strip()]
