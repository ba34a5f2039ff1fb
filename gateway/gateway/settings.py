"""Gateway settings: environment variables prefixed `GATEWAY_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

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
