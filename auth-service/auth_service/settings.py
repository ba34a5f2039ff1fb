"""auth-service settings: environment variables prefixed `AUTH_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "auth"
