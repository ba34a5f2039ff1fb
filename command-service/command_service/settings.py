"""command-service settings: environment variables prefixed `COMMAND_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMMAND_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "command"
