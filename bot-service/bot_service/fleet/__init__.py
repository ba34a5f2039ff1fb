"""The fleet half of bot-service: live discord.py connections sharded across replicas.

`build_fleet(runtime)` then `await fleet.start()` from `bot_service.app.setup`.
Layers (.importlinter `fleet-layers`): the controller builds the control plane, command
bridge and status board; they hold units; a unit sees the fleet only as `host.UnitHost`;
every discord.py internal is in `discordpy`; IDENTIFY pacing across replicas is
`identify`.
"""

from __future__ import annotations

from uuid import UUID

from bot_service.fleet.control import AvatarBook
from bot_service.fleet.controller import Fleet, dev_token_loader
from bot_service.fleet.settings import FleetSettings
from services.runtime import ServiceRuntime
from services.settings import MissingSecretError

__all__ = ["AvatarBook", "Fleet", "FleetSettings", "build_fleet", "start_fleet"]


def build_fleet(
    runtime: ServiceRuntime,
    settings: FleetSettings | None = None,
    *,
    avatars: AvatarBook | None = None,
) -> Fleet:
    """The fleet of this replica, not started yet."""
    settings = settings or FleetSettings()
    if settings.dev_tokens_file is not None:
        if runtime.settings.production:
            raise MissingSecretError("BOT_DEV_TOKENS_FILE is for development only")
        return Fleet(
            runtime,
            settings,
            dev_token_loader(settings.dev_tokens_file),
            avatars=avatars,
        )
    from bot_service.tokens import TokenNotFoundError, load_token

    db, vault = runtime.db, runtime.vault
    if db is None or vault is None:
        raise RuntimeError("the fleet needs the database and the vault")

    async def load(bot_id: UUID) -> str:
        return await load_token(db, vault, bot_id)

    return Fleet(runtime, settings, load, (TokenNotFoundError,), avatars=avatars)


async def start_fleet(
    runtime: ServiceRuntime,
    settings: FleetSettings | None = None,
    *,
    avatars: AvatarBook | None = None,
) -> Fleet:
    fleet = build_fleet(runtime, settings, avatars=avatars)
    await fleet.start()
    return fleet
