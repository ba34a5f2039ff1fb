"""Contracts of the bots domain. The cross-service part is fixed here first; bot-service
adds the rest (CRUD, status, events) below."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from proto.base import Contract
from proto.registry import CoreSpec, EventSpec, KvSpec, RpcSpec, rpc


class BotRef(Contract):
    bot_id: UUID


class BotSummary(Contract):
    """What other services may know of a bot (never its token)."""

    id: UUID
    owner_id: UUID
    name: str
    application_id: str | None = None
    discord_user_id: str | None = None
    username: str | None = None


class ApplyAvatar(Contract):
    """Raw body: the image bytes (PNG/WebP/...); this model travels in the `bc-meta` header."""

    bot_id: UUID
    content_type: str


class AvatarApplied(Contract):
    bot_id: UUID
    avatar_hash: str | None = None


GET_BOT = rpc(
    "rpc.bot.get",
    BotRef,
    BotSummary,
    callers=["gateway", "command", "storage", "log"],
    summary="a bot of the calling user (404 when it is not theirs)",
)
APPLY_AVATAR = rpc(
    "rpc.bot.avatar.apply",
    ApplyAvatar,
    AvatarApplied,
    callers=["storage"],
    summary="set the bot user's avatar on Discord (PATCH /users/@me)",
    raw_body=True,
)

SPECS: list[RpcSpec[Any, Any] | EventSpec | CoreSpec | KvSpec] = [GET_BOT, APPLY_AVATAR]
