"""Wiring of auth-service: which handlers answer which subjects."""

from __future__ import annotations

from pathlib import Path

from auth_service import __version__
from auth_service.settings import Settings
from services.runtime import ServiceDefinition, ServiceRuntime


async def setup(runtime: ServiceRuntime) -> None:
    """Register handlers and background work. The kernel already answers rpc.auth.status."""


SERVICE = ServiceDefinition(
    name="auth",
    version=__version__,
    settings_cls=Settings,
    setup=setup,
    migrations=Path(__file__).parent / "migrations",
)
