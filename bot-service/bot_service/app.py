"""Wiring of bot-service: which handlers answer which subjects."""

from __future__ import annotations

from pathlib import Path

from bot_service import __version__
from bot_service.settings import Settings
from services.runtime import ServiceDefinition, ServiceRuntime


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.bot.status."""


SERVICE = ServiceDefinition(
    name="bot",
    version=__version__,
    settings_cls=Settings,
    setup=setup,
    migrations=Path(__file__).parent / "migrations",
)
