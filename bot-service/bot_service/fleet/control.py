"""Status reads and bot control. Control operations are routed to the replica that runs
the bot's shard (`ctl.bot.<bot>.<shard>`); with nobody running it, REST-only operations
(avatar, message, automation acts) are done here with the bot's token."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import discord
import orjson

from bot_service.fleet.actions import Actions, parse_params, perform, perform_with_token
from bot_service.fleet.cache import place_of
from bot_service.fleet.host import FleetCore
from proto import headers as H
from proto.access import Permission
from proto.automations import ACT, ActResult, DiscordAct
from proto.base import Contract
from proto.bots import APPLY_AVATAR, ApplyAvatar, AvatarApplied, BotRef
from proto.errors import ErrorCode, ErrorEnvelope
from proto.fleet import (
    APPLY_PRESENCE,
    GET_GUILDS,
    GET_SHARDS,
    GET_STATUS,
    LIVE_CONTEXT,
    SEND_MESSAGE,
    SYNC_COMMANDS,
    ApplyPresence,
    BotStatus,
    CommandsSynced,
    ContextRequest,
    DesiredBot,
    GuildChannel,
    GuildList,
    GuildRole,
    LiveContext,
    LiveGuild,
    MessageSent,
    PresenceApplied,
    SendMessage,
    ShardList,
)
from services.access import require
from services.bus.rpc import RpcContext
from services.bus.types import Msg, NatsTimeoutError, NoRespondersError, Subscription
from services.errors import RpcError, not_found
from services.sizes import human_duration

if TYPE_CHECKING:
    import aiohttp

    from bot_service.fleet.unit import ShardUnit

log = logging.getLogger(__name__)

CTL_OP = "bc-ctl-op"
AVATAR_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
MAX_AVATAR_BYTES = 10 * 1024 * 1024


def ctl_subject(bot_id: UUID, shard_id: int) -> str:
    return f"ctl.bot.{bot_id}.{shard_id}"


def discord_error(status: int, text: str, retry_after: float | None = None) -> RpcError:
    """A Discord REST failure as an error the user can read (never the token)."""
    if status == 429:
        wait = retry_after if retry_after is not None else 5.0
        return RpcError(
            ErrorCode.RATE_LIMITED,
            f"Discord rate limit: try again in {human_duration(wait)}",
            details={"retry_after": round(wait, 3)},
        )
    if status == 401:
        return RpcError(ErrorCode.VALIDATION, "Discord rejected the bot token: replace it")
    if status == 403:
        return RpcError(ErrorCode.FORBIDDEN, "Discord does not allow the bot to do this")
    if status == 404:
        return RpcError(ErrorCode.NOT_FOUND, "Discord does not know this channel or resource")
    if 400 <= status < 500:
        return RpcError(ErrorCode.VALIDATION, f"Discord refused the request: {text[:300]}")
    return RpcError(ErrorCode.UNAVAILABLE, f"Discord is not available (HTTP {status})")


def _from_discord_py(exc: Exception) -> RpcError:
    if isinstance(exc, discord.RateLimited):
        return discord_error(429, "", exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        retry = None
        with contextlib.suppress(Exception):
            header = exc.response.headers.get("Retry-After")
            if header is not None:
                retry = float(header)
        return discord_error(exc.status, exc.text, retry)
    return RpcError(ErrorCode.UNAVAILABLE, f"Discord is not reachable ({type(exc).__name__})")


class AvatarBook(Protocol):
    """Where the API half of bot-service keeps which image made a bot's avatar."""

    async def avatar_known(self, bot_id: UUID, image_sha256: str, ctx: RpcContext) -> str | None:
        """The hash Discord already shows for these image bytes, or None."""

    async def avatar_applied(
        self, applied: AvatarApplied, image_sha256: str, ctx: RpcContext
    ) -> None:
        """Record an avatar Discord accepted (BotView.avatar_url)."""


class ControlHost(FleetCore, Protocol):
    """What the control plane needs of the fleet."""

    @property
    def http(self) -> aiohttp.ClientSession | None: ...

    @property
    def token_missing_errors(self) -> tuple[type[BaseException], ...]: ...

    @property
    def avatars(self) -> AvatarBook | None: ...

    async def token(self, bot_id: UUID) -> str: ...

    async def desired_of(self, bot_id: UUID) -> DesiredBot | None: ...

    async def bot_status(self, desired: DesiredBot) -> BotStatus: ...

    def shard_count_of(self, desired: DesiredBot) -> int | None: ...

    def unit_of(self, bot_id: UUID, shard_id: int = 0) -> ShardUnit | None: ...

    async def sync_commands(self, unit: ShardUnit) -> tuple[bool, str | None, int]: ...


class Control:
    def __init__(self, fleet: ControlHost) -> None:
        self.fleet = fleet
        self._subs: dict[tuple[UUID, int], Subscription] = {}
        self.actions = Actions()

    def register(self) -> None:
        rpc = self.fleet.runtime.rpc
        rpc.register(GET_STATUS, self.get_status)
        rpc.register(GET_SHARDS, self.get_shards)
        rpc.register(APPLY_AVATAR, self.apply_avatar)
        rpc.register(APPLY_PRESENCE, self.apply_presence)
        rpc.register(SEND_MESSAGE, self.send_message)
        rpc.register(GET_GUILDS, self.get_guilds)
        rpc.register(SYNC_COMMANDS, self.sync_commands)
        rpc.register(LIVE_CONTEXT, self.live_context)
        rpc.register(ACT, self.act)

    # ------------------------------------------------------------------ ownership
    async def _owned(self, bot_id: UUID, ctx: RpcContext, permission: Permission) -> DesiredBot:
        """The bot's desired state when the caller is a member of its workspace who may
        see it (else NOT_FOUND) and holds `permission` there (else FORBIDDEN naming it)."""
        access = ctx.require_access()
        desired = await self.fleet.desired_of(bot_id)
        if desired is None or not access.sees(desired.workspace_id, bot_id):
            raise not_found("bot")
        require(access, permission, desired.workspace_id, bot_id)
        return desired

    # ------------------------------------------------------------------ status
    async def get_status(self, req: BotRef, ctx: RpcContext) -> BotStatus:
        desired = await self._owned(req.bot_id, ctx, "bots.view")
        return await self.fleet.bot_status(desired)

    async def get_shards(self, req: BotRef, ctx: RpcContext) -> ShardList:
        desired = await self._owned(req.bot_id, ctx, "bots.view")
        status = await self.fleet.bot_status(desired)
        return ShardList(bot_id=req.bot_id, shards=status.shards)

    # ------------------------------------------------------------------ operations
    async def apply_avatar(self, req: ApplyAvatar, ctx: RpcContext) -> AvatarApplied:
        await self._owned(req.bot_id, ctx, "bots.edit")
        data = ctx.raw or b""
        if req.content_type not in AVATAR_TYPES:
            raise RpcError(ErrorCode.VALIDATION, "the avatar must be PNG, JPEG, GIF or WebP")
        if not data or len(data) > MAX_AVATAR_BYTES:
            raise RpcError(ErrorCode.VALIDATION, "the avatar must be between 1 byte and 10 MiB")
        book = self.fleet.avatars
        image_sha256 = hashlib.sha256(data).hexdigest()
        if book is not None:
            # Discord already shows these exact bytes: changing nothing must not spend its
            # avatar-change budget (2 per 10 minutes).
            known = await book.avatar_known(req.bot_id, image_sha256, ctx)
            if known is not None:
                return AvatarApplied(bot_id=req.bot_id, avatar_hash=known, unchanged=True)
        reply = await self._route(req.bot_id, 0, "avatar", req, data, ctx)
        applied = AvatarApplied.model_validate_json(reply)
        # The API half records the new avatar hash (BotView.avatar_url).
        if book is not None:
            await book.avatar_applied(applied, image_sha256, ctx)
        return applied

    async def send_message(self, req: SendMessage, ctx: RpcContext) -> MessageSent:
        await self._owned(req.bot_id, ctx, "bots.control")
        if not req.content and not req.embeds:
            raise RpcError(ErrorCode.VALIDATION, "a message needs content or embeds")
        reply = await self._route(req.bot_id, 0, "message", req, b"", ctx)
        return MessageSent.model_validate_json(reply)

    async def act(self, req: DiscordAct, ctx: RpcContext) -> ActResult:
        """A Discord side effect of an automation run (callers: command, acting for no
        user): done by the replica running the guild's shard, once per idempotency key."""
        desired = await self.fleet.desired_of(req.bot_id)
        if desired is None:
            raise not_found("bot")

        async def route(act: DiscordAct, shard: int) -> ActResult:
            reply = await self._route(act.bot_id, shard, "act", act, b"", ctx)
            return ActResult.model_validate_json(reply)

        return await self.actions.act(req, self.fleet.shard_count_of(desired) or 1, route)

    async def live_context(self, req: ContextRequest, ctx: RpcContext) -> LiveContext:
        await self._owned(req.bot_id, ctx, "bots.view")
        reply = await self._route(req.bot_id, 0, "context", req, b"", ctx, fallback=False)
        return LiveContext.model_validate_json(reply)

    async def apply_presence(self, req: ApplyPresence, ctx: RpcContext) -> PresenceApplied:
        desired = await self._owned(req.bot_id, ctx, "bots.edit")
        count = self.fleet.shard_count_of(desired) or 1
        applied = 0

        async def one(shard: int) -> None:
            nonlocal applied
            with contextlib.suppress(RpcError):
                await self._route(req.bot_id, shard, "presence", req, b"", ctx, fallback=False)
                applied += 1

        await asyncio.gather(*(one(s) for s in range(count)))
        return PresenceApplied(bot_id=req.bot_id, shards=applied)

    async def get_guilds(self, req: BotRef, ctx: RpcContext) -> GuildList:
        """The bot's servers from the caches of the replicas that run its shards."""
        desired = await self._owned(req.bot_id, ctx, "bots.view")
        count = self.fleet.shard_count_of(desired) or 1
        found: dict[str, LiveGuild] = {}
        answered = 0

        async def one(shard: int) -> None:
            nonlocal answered
            with contextlib.suppress(RpcError):
                reply = await self._route(
                    req.bot_id, shard, "guilds", req, b"", ctx, fallback=False
                )
                answered += 1
                for guild in GuildList.model_validate_json(reply).guilds:
                    found[guild.id] = guild

        await asyncio.gather(*(one(s) for s in range(count)))
        if not answered:
            if desired.running:
                raise RpcError(
                    ErrorCode.CONFLICT, "the bot is not online yet: its servers show once it is"
                )
            raise RpcError(
                ErrorCode.CONFLICT, "the bot is not running: start it to see its servers"
            )
        guilds = sorted(found.values(), key=lambda g: (g.name.lower(), g.id))
        return GuildList(bot_id=req.bot_id, guilds=guilds)

    async def sync_commands(self, req: BotRef, ctx: RpcContext) -> CommandsSynced:
        """Sync now: done by the replica running shard 0, which syncs the commands anyway."""
        await self._owned(req.bot_id, ctx, "commands.edit")
        try:
            reply = await self._route(req.bot_id, 0, "sync", req, b"", ctx, fallback=False)
        except RpcError as exc:
            if exc.code is not ErrorCode.UNAVAILABLE:
                raise
            raise RpcError(
                ErrorCode.CONFLICT,
                "the bot is not running: start it, then sync (its commands are synced when it "
                "connects)",
            ) from None
        return CommandsSynced.model_validate_json(reply)

    async def _route(
        self,
        bot_id: UUID,
        shard: int,
        op: str,
        req: Contract,
        body: bytes,
        ctx: RpcContext,
        *,
        fallback: bool = True,
    ) -> bytes:
        """Run `op` where the shard runs; the JSON reply."""
        unit = self.fleet.unit_of(bot_id, shard)
        if unit is not None and unit.client is not None:
            return await self._local(op, unit, req, body)
        headers = {CTL_OP: op, H.META: req.model_dump_json(), H.REQUEST_ID: ctx.request_id}
        if ctx.user_id is not None:
            headers[H.USER_ID] = str(ctx.user_id)
        try:
            msg = await self.fleet.runtime.nc.request(
                ctl_subject(bot_id, shard), body, timeout=8.0, headers=headers
            )
        except (NoRespondersError, NatsTimeoutError, TimeoutError):
            if not fallback:
                raise RpcError(ErrorCode.UNAVAILABLE, "the bot is not running") from None
            return await self._rest(op, bot_id, req, body)
        if msg.headers and msg.headers.get(H.STATUS) == H.STATUS_ERROR:
            env = ErrorEnvelope.model_validate(orjson.loads(msg.data)["error"])
            raise RpcError.from_envelope(env)
        return msg.data

    async def _local(self, op: str, unit: ShardUnit, req: Contract, body: bytes) -> bytes:
        client = unit.client
        if client is None:
            raise RpcError(ErrorCode.UNAVAILABLE, "the bot is reconnecting; try again")
        try:
            if op == "avatar":
                assert isinstance(req, ApplyAvatar)
                uri = f"data:{req.content_type};base64,{base64.b64encode(body).decode()}"
                user = await client.http.edit_profile({"avatar": uri})
                return (
                    AvatarApplied(bot_id=req.bot_id, avatar_hash=user.get("avatar"))
                    .model_dump_json()
                    .encode()
                )
            if op == "message":
                assert isinstance(req, SendMessage)
                route = discord.http.Route(
                    "POST", "/channels/{channel_id}/messages", channel_id=int(req.channel_id)
                )
                data: Any = await client.http.request(route, json=_message_body(req))
                return (
                    MessageSent(
                        bot_id=req.bot_id, channel_id=req.channel_id, message_id=str(data["id"])
                    )
                    .model_dump_json()
                    .encode()
                )
            if op == "act":
                assert isinstance(req, DiscordAct)
                result = await perform(client.http, req, parse_params(req))
                return result.model_dump_json().encode()
            if op == "context":
                assert isinstance(req, ContextRequest)
                return live_context_of(client, req).model_dump_json().encode()
            if op == "presence":
                assert isinstance(req, ApplyPresence)
                unit.desired = unit.desired.model_copy(update={"presence": req.presence})
                await self.apply_presence_local(unit)
                return PresenceApplied(bot_id=req.bot_id, shards=1).model_dump_json().encode()
            if op == "sync":
                if unit.ws is None or unit.state != "online":
                    raise RpcError(
                        ErrorCode.CONFLICT, "the bot is still connecting: sync when it is online"
                    )
                ok, error, count = await self.fleet.sync_commands(unit)
                return (
                    CommandsSynced(bot_id=unit.key.bot_id, ok=ok, error=error, commands=count)
                    .model_dump_json()
                    .encode()
                )
            if op == "guilds":
                if unit.ws is None:
                    raise RpcError(ErrorCode.UNAVAILABLE, "the bot is reconnecting; try again")
                guilds = [_live_guild(g, unit.key.shard_id) for g in client.guilds]
                return GuildList(bot_id=unit.key.bot_id, guilds=guilds).model_dump_json().encode()
        except RpcError:
            raise
        except Exception as exc:
            raise _from_discord_py(exc) from None
        raise RpcError(ErrorCode.INVALID, f"unknown operation {op}")

    async def apply_presence_local(self, unit: ShardUnit) -> None:
        from bot_service.fleet.unit import activity_of

        client = unit.client
        if client is None or unit.ws is None:
            return
        presence = unit.desired.presence
        with contextlib.suppress(Exception):
            await client.change_presence(
                status=discord.Status(presence.status), activity=activity_of(presence)
            )

    async def _rest(self, op: str, bot_id: UUID, req: Contract, body: bytes) -> bytes:
        """REST with the bot's token when no replica runs the bot."""
        fleet = self.fleet
        assert fleet.http is not None
        try:
            token = await fleet.token(bot_id)
        except fleet.token_missing_errors:
            raise not_found("bot") from None
        if op == "act":
            assert isinstance(req, DiscordAct)
            try:
                result = await perform_with_token(token, req, parse_params(req))
            except RpcError:
                raise
            except Exception as exc:
                raise _from_discord_py(exc) from None
            return result.model_dump_json().encode()
        api = fleet.runtime.settings.discord_api_url
        auth = {"Authorization": f"Bot {token}"}
        if op == "avatar":
            assert isinstance(req, ApplyAvatar)
            uri = f"data:{req.content_type};base64,{base64.b64encode(body).decode()}"
            method, url, payload = "PATCH", f"{api}/users/@me", {"avatar": uri}
        elif op == "message":
            assert isinstance(req, SendMessage)
            method, url = "POST", f"{api}/channels/{req.channel_id}/messages"
            payload = _message_body(req)
        else:
            raise RpcError(ErrorCode.UNAVAILABLE, "the bot is not running")
        try:
            async with fleet.http.request(method, url, json=payload, headers=auth) as response:
                text = await response.text()
                if response.status >= 400:
                    retry = None
                    with contextlib.suppress(Exception):
                        retry = float(orjson.loads(text).get("retry_after"))
                    if retry is None:
                        with contextlib.suppress(Exception):
                            retry = float(response.headers.get("Retry-After", ""))
                    raise discord_error(response.status, _discord_message(text), retry)
                data = orjson.loads(text)
        except RpcError:
            raise
        except Exception as exc:
            raise RpcError(
                ErrorCode.UNAVAILABLE, f"Discord is not reachable ({type(exc).__name__})"
            ) from None
        if op == "avatar":
            assert isinstance(req, ApplyAvatar)
            return (
                AvatarApplied(bot_id=bot_id, avatar_hash=data.get("avatar"))
                .model_dump_json()
                .encode()
            )
        assert isinstance(req, SendMessage)
        return (
            MessageSent(bot_id=bot_id, channel_id=req.channel_id, message_id=str(data["id"]))
            .model_dump_json()
            .encode()
        )

    # ------------------------------------------------------------------ ctl.bot.<bot>.<shard>
    async def subscribe(self, unit: ShardUnit) -> None:
        key = (unit.key.bot_id, unit.key.shard_id)
        if key in self._subs:
            return
        with contextlib.suppress(Exception):
            self._subs[key] = await self.fleet.runtime.nc.subscribe(
                ctl_subject(*key), cb=self._on_ctl
            )

    async def unsubscribe(self, unit: ShardUnit) -> None:
        sub = self._subs.pop((unit.key.bot_id, unit.key.shard_id), None)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_ctl(self, msg: Msg) -> None:
        if not msg.reply:
            return
        headers = msg.headers or {}
        op = headers.get(CTL_OP, "")
        parts = msg.subject.split(".")
        try:
            bot_id, shard = UUID(parts[2]), int(parts[3])
            models: dict[str, type[Contract]] = {
                "avatar": ApplyAvatar,
                "message": SendMessage,
                "presence": ApplyPresence,
                "guilds": BotRef,
                "sync": BotRef,
                "context": ContextRequest,
                "act": DiscordAct,
            }
            req = models[op].model_validate_json(headers.get(H.META, "{}"))
            unit = self.fleet.unit_of(bot_id, shard)
            if unit is None:
                raise RpcError(ErrorCode.UNAVAILABLE, "the shard moved; try again")
            body = await self._local(op, unit, req, msg.data)
            await self.fleet.runtime.nc.publish(msg.reply, body)
        except Exception as exc:
            err = (
                exc if isinstance(exc, RpcError) else RpcError(ErrorCode.INTERNAL, "internal error")
            )
            if not isinstance(exc, RpcError):
                log.warning("control operation %s failed", op, exc_info=True)
            body = orjson.dumps({"error": err.envelope().model_dump(mode="json")})
            with contextlib.suppress(Exception):
                await self.fleet.runtime.nc.publish(
                    msg.reply, body, headers={H.STATUS: H.STATUS_ERROR}
                )


def _live_guild(guild: discord.Guild, shard_id: int) -> LiveGuild:
    """A guild of discord.py's cache as the contract shows it (public attributes only)."""
    channels = [
        GuildChannel(id=str(c.id), name=c.name, type=str(c.type), position=c.position)
        for c in sorted(guild.channels, key=lambda c: (c.position, c.id))
    ]
    roles = [
        GuildRole(id=str(r.id), name=r.name, color=r.color.value, position=r.position)
        for r in sorted(guild.roles, key=lambda r: (-r.position, r.id))
    ]
    return LiveGuild(
        id=str(guild.id),
        name=guild.name,
        member_count=guild.member_count,
        icon=guild.icon.key if guild.icon is not None else None,
        shard_id=shard_id,
        channels=channels,
        roles=roles,
    )


def live_context_of(client: discord.Client, req: ContextRequest) -> LiveContext:
    """A server (the asked one, else the first by id), a channel (the asked one, else the
    server's first text channel) and the bot user, from the client's cache."""
    guild: discord.Guild | None = None
    if req.guild_id is not None:
        guild = client.get_guild(int(req.guild_id))
    elif client.guilds:
        guild = min(client.guilds, key=lambda g: g.id)
    channel: object = None
    if guild is not None:
        if req.channel_id is not None:
            channel = guild.get_channel(int(req.channel_id))
        elif guild.text_channels:
            channel = guild.text_channels[0]
    return LiveContext(bot_id=req.bot_id, **place_of(client.user, guild, channel))


def _message_body(req: SendMessage) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if req.content:
        body["content"] = req.content
    if req.embeds:
        body["embeds"] = req.embeds
    return body


def _discord_message(text: str) -> str:
    with contextlib.suppress(Exception):
        return str(orjson.loads(text).get("message", text))
    return text
