"""The control plane hands an applied avatar to the book the fleet was built with (the API
half of bot-service records the hash and the image's SHA-256 there), instead of finding it
in `runtime.state`; an image the book says Discord already shows is not sent again."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from bot_service.fleet.control import Control
from proto.bots import ApplyAvatar, AvatarApplied
from services.bus.rpc import RpcContext

PNG = b"\x89PNG"


class FakeBook:
    def __init__(self) -> None:
        self.applied: list[tuple[AvatarApplied, str]] = []

    async def avatar_known(
        self, bot_id: uuid.UUID, image_sha256: str, ctx: RpcContext
    ) -> str | None:
        for applied, sha in self.applied:
            if applied.bot_id == bot_id and sha == image_sha256:
                return applied.avatar_hash
        return None

    async def avatar_applied(
        self, applied: AvatarApplied, image_sha256: str, ctx: RpcContext
    ) -> None:
        self.applied.append((applied, image_sha256))


class FakeHost:
    def __init__(self) -> None:
        self.avatars = FakeBook()


def test_apply_avatar_records_it_and_the_same_image_again_is_a_no_op() -> None:
    host = FakeHost()
    control = Control(host)  # type: ignore[arg-type]
    bot_id = uuid.uuid4()
    routed: list[bytes] = []

    async def owned(bot: uuid.UUID, ctx: RpcContext, permission: str) -> None:
        return None

    async def route(*args: Any) -> bytes:
        routed.append(args[4])
        return AvatarApplied(bot_id=bot_id, avatar_hash="abc").model_dump_json().encode()

    control._owned = owned  # type: ignore[method-assign]
    control._route = route  # type: ignore[method-assign]
    req = ApplyAvatar(bot_id=bot_id, content_type="image/png")
    applied = asyncio.run(control.apply_avatar(req, RpcContext("rpc.bot.avatar", {}, PNG, None)))
    assert (applied.avatar_hash, applied.unchanged) == ("abc", False)
    assert host.avatars.applied == [(applied, hashlib.sha256(PNG).hexdigest())]

    again = asyncio.run(control.apply_avatar(req, RpcContext("rpc.bot.avatar", {}, PNG, None)))
    assert (again.avatar_hash, again.unchanged) == ("abc", True)
    other = asyncio.run(
        control.apply_avatar(req, RpcContext("rpc.bot.avatar", {}, PNG + b"x", None))
    )
    assert other.unchanged is False
    assert routed == [PNG, PNG + b"x"]  # the same image went to Discord once
