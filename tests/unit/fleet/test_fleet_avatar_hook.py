"""The control plane hands an applied avatar to the hook the fleet was built with (the API
half of bot-service records the hash there), instead of finding it in `runtime.state`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bot_service.fleet.control import Control
from proto.bots import ApplyAvatar, AvatarApplied
from services.bus.rpc import RpcContext


class FakeHost:
    def __init__(self) -> None:
        self.applied: list[AvatarApplied] = []

        async def hook(applied: AvatarApplied, ctx: RpcContext) -> None:
            self.applied.append(applied)

        self.on_avatar_applied = hook


def test_apply_avatar_calls_the_fleets_hook() -> None:
    host = FakeHost()
    control = Control(host)  # type: ignore[arg-type]
    bot_id = uuid.uuid4()

    async def owned(bot: uuid.UUID, ctx: RpcContext) -> None:
        return None

    async def route(*args: Any) -> bytes:
        return AvatarApplied(bot_id=bot_id, avatar_hash="abc").model_dump_json().encode()

    control._owned = owned  # type: ignore[method-assign]
    control._route = route  # type: ignore[method-assign]
    ctx = RpcContext("rpc.bot.avatar", {}, b"\x89PNG", None)
    req = ApplyAvatar(bot_id=bot_id, content_type="image/png")
    applied = asyncio.run(control.apply_avatar(req, ctx))
    assert applied.avatar_hash == "abc"
    assert host.applied == [applied]
