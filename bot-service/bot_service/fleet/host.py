"""What a unit needs from the fleet that runs it, and nothing more.

A unit (`unit.ShardUnit`) calls back into its fleet to take an IDENTIFY slot, report a
state change or going online, ask for a re-plan and hand on Discord events. It sees
the fleet only through `UnitHost` (the `controller.Fleet` implements it), so the unit
module never imports the controller, nor the controller's parts (status board, command
bridge, control), which import the unit (.importlinter `fleet-layers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar
from uuid import UUID

if TYPE_CHECKING:
    import discord
    import yarl

    from bot_service.fleet.identify import IdentifyPacer
    from bot_service.fleet.settings import FleetSettings
    from services.runtime import ServiceRuntime


class UnitKey(NamedTuple):
    bot_id: UUID
    shard_id: int

    @property
    def key(self) -> str:
        return f"{self.bot_id}.{self.shard_id}"


# The unit type itself: a parameter so that this module need not import the unit.
UnitT_contra = TypeVar("UnitT_contra", contravariant=True)


class FleetCore(Protocol):
    """What every part of the fleet sees of it (`controller.Fleet` implements it): the
    replica it runs as, its settings and the service runtime."""

    @property
    def replica(self) -> str: ...

    @property
    def settings(self) -> FleetSettings: ...

    @property
    def runtime(self) -> ServiceRuntime: ...


class UnitHost(FleetCore, Protocol[UnitT_contra]):
    @property
    def discord_gateway(self) -> yarl.URL:
        """The gateway a new session connects to."""
        ...

    @property
    def token_missing_errors(self) -> tuple[type[BaseException], ...]:
        """What `token` raises when the bot no longer exists."""
        ...

    async def token(self, bot_id: UUID) -> str: ...

    @property
    def identify(self) -> IdentifyPacer:
        """Where a unit waits for its turn to IDENTIFY."""
        ...

    async def replan(self, unit: UnitT_contra, current: int) -> None:
        """Discord wants more than `current` shards for the unit's bot."""
        ...

    def unit_changed(self, unit: UnitT_contra) -> None:
        """The unit's state, reason or message changed."""
        ...

    def unit_online(self, unit: UnitT_contra) -> None: ...

    async def on_interaction(
        self, unit: UnitT_contra, interaction: discord.Interaction
    ) -> None: ...

    async def on_message(self, unit: UnitT_contra, message: discord.Message) -> None: ...
