"""Wiring of command-service: which handlers answer which subjects."""

from __future__ import annotations

from pathlib import Path

from command_service import __version__
from command_service.settings import Settings
from services.runtime import ServiceDefinition, ServiceRuntime


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.command.status."""


SERVICE = ServiceDefinition(
    name="command",
    version=__version__,
    settings_cls=Settings,
    setup=setup,
    migrations=Path(__file__).parent / "migrations",
)
