"""bot-service settings: environment variables prefixed `BOT_`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "bot"

    # Token check against Discord (GET /users/@me, GET /applications/@me) on add/replace:
    # timeout of each request (both together stay below BOT_RPC_TIMEOUT_S).
    discord_timeout_s: float = Field(4.0, gt=0, le=60)
    # DELETE waits this long for the fleet to show no live shard before removing data
    # (keep it below BOT_RPC_TIMEOUT_S and the gateway's call timeout).
    delete_stop_timeout_s: float = Field(6.0, gt=0, le=120)
    # How many bots one workspace may hold (a personal one: its user).
    max_bots_per_user: int = Field(100, ge=1, le=100_000)
