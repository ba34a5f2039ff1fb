"""Wiring of storage-service: which handlers answer which subjects."""

from __future__ import annotations

from pathlib import Path

from services.runtime import ServiceDefinition, ServiceRuntime
from storage_service import __version__
from storage_service.settings import Settings


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.storage.status."""


SERVICE = ServiceDefinition(
    name="storage",
    version=__version__,
    settings_cls=Settings,
    setup=setup,
    migrations=Path(__file__).parent / "migrations",
)
