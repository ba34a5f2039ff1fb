"""The fleet half of bot-service: live discord.py connections sharded across replicas.

`await start_fleet(runtime)` from `bot_service.app.setup` starts it.
"""

from __future__ import annotations

from uuid import UUID

from bot_service.fleet.controller import Fleet, dev_token_loader
from bot_service.fleet.settings import FleetSettings
from services.runtime import ServiceRuntime
from services.settings import MissingSecretError

__all__ = ["Fleet", "FleetSettings", "start_fleet"]


async def start_fleet(runtime: ServiceRuntime, settings: FleetSettings | None = None) -> Fleet:
    settings = settings or FleetSettings()
    if settings.dev_tokens_file is not None:
        if runtime.settings.production:
            raise MissingSecretError("BOT_DEV_TOKENS_FILE is for development only")
        fleet = Fleet(runtime, settings, dev_token_loader(settings.dev_tokens_file))
    else:
        from bot_service.tokens import TokenNotFoundError, load_token

        db, vault = runtime.db, runtime.vault
        if db is None or vault is None:
            raise RuntimeError("the fleet needs the database and the vault")

        async def load(bot_id: UUID) -> str:
            return await load_token(db, vault, bot_id)

        fleet = Fleet(runtime, settings, load, (TokenNotFoundError,))
    runtime.state["fleet"] = fleet
    await fleet.start()
    return fleet
