"""Discord side effects of automation runs (`rpc.bot.runtime.act`), done with the bot's own
discord.py HTTP client (its rate limits, its 429 handling) and at most once per
idempotency key (KV bucket `bot_actions`)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import discord
import orjson
from discord.http import MultipartParameters
from pydantic import BaseModel, Field, StrictInt, ValidationError

from proto.automations import (
    MAX_TIMEOUT_S,
    ActionRow,
    ActResult,
    DiscordAct,
)
from proto.base import Contract
from proto.commands import EmbedTemplate, Snowflake
from proto.errors import ErrorCode
from services.errors import RpcError

ACTIONS_TTL_S = 24 * 3600.0
# A "pending" key this old belongs to an attempt that died (an act takes a few seconds at
# most, 429 waits included): the next attempt acts again instead of waiting forever.
PENDING_STALE_S = 15.0

# What the bot could not do, for "the bot lacks the permission to <…> in this server".
_DOING = {
    "send_message": "send messages",
    "add_role": "manage roles",
    "remove_role": "manage roles",
    "delete_message": "manage messages",
    "add_reaction": "add reactions",
    "timeout_member": "time out members",
    "kick_member": "kick members",
}
# Discord also answers 50013 when the target sits above the bot's highest role.
_RANKED = frozenset({"add_role", "remove_role", "timeout_member", "kick_member"})
_UNKNOWN = {
    10003: ("channel", "channel_id"),
    10004: ("server", None),
    10007: ("member", "user_id"),
    10008: ("message", "message_id"),
    10011: ("role", "role_id"),
    10013: ("user", "user_id"),
    10014: ("emoji", "emoji"),
}
_BUTTON_STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4, "link": 5}
_CUSTOM_EMOJI = re.compile(r"^<(a?):([A-Za-z0-9_~]{1,32}):([0-9]{15,21})>$")


# ------------------------------------------------------------------ params per action
class SendParams(Contract):
    """No `user_id`: to `channel_id` (the executor fills the event's channel); `user_id`: a
    DM. `embeds` and `components` in the contract's shapes (EmbedTemplate rendered,
    ActionRow)."""

    channel_id: Snowflake | None = None
    user_id: Snowflake | None = None
    content: str | None = Field(None, max_length=2000)
    embeds: list[EmbedTemplate] = Field(default_factory=list, max_length=10)
    components: list[ActionRow] = Field(default_factory=list, max_length=5)


class RoleParams(Contract):
    user_id: Snowflake
    role_id: Snowflake
    reason: str | None = Field(None, max_length=512)


class MessageParams(Contract):
    channel_id: Snowflake
    message_id: Snowflake


class ReactionParams(MessageParams):
    emoji: str = Field(min_length=1, max_length=100)


class TimeoutParams(Contract):
    user_id: Snowflake
    duration_s: StrictInt = Field(ge=1, le=MAX_TIMEOUT_S)
    reason: str | None = Field(None, max_length=512)


class KickParams(Contract):
    user_id: Snowflake
    reason: str | None = Field(None, max_length=512)


_PARAMS: dict[str, type[Contract]] = {
    "send_message": SendParams,
    "add_role": RoleParams,
    "remove_role": RoleParams,
    "delete_message": MessageParams,
    "add_reaction": ReactionParams,
    "timeout_member": TimeoutParams,
    "kick_member": KickParams,
}
_IN_GUILD = frozenset({"add_role", "remove_role", "timeout_member", "kick_member"})


def with_guild(act: DiscordAct) -> DiscordAct:
    """The executor fills a step's omitted ids from the event, the server among them: a
    `params.guild_id` is the act's `guild_id` (the two must agree)."""
    if "guild_id" not in act.params:
        return act
    params = dict(act.params)
    given = params.pop("guild_id")
    guild = None if given is None else str(given)
    if act.guild_id is not None and guild is not None and guild != act.guild_id:
        raise RpcError(ErrorCode.VALIDATION, "params.guild_id: not the act's guild_id")
    return act.model_validate(
        {**act.model_dump(), "guild_id": act.guild_id or guild, "params": params}
    )


def parse_params(act: DiscordAct) -> Contract:
    """The act's params for its action; a VALIDATION error naming the field otherwise."""
    model = _PARAMS.get(act.action)
    if model is None:
        raise RpcError(ErrorCode.VALIDATION, f"{act.action} is not an action bot-service does")
    if act.action in _IN_GUILD and act.guild_id is None:
        raise RpcError(ErrorCode.VALIDATION, f"guild_id: {act.action} needs the server")
    try:
        params = model.model_validate(act.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("params", *first["loc"]))
        raise RpcError(ErrorCode.VALIDATION, f"{where}: {first['msg']}") from None
    if isinstance(params, SendParams):
        if params.channel_id and params.user_id:
            raise RpcError(
                ErrorCode.VALIDATION, "params.user_id: give a channel_id or a user_id, not both"
            )
        if not (params.channel_id or params.user_id):
            raise RpcError(ErrorCode.VALIDATION, "params.channel_id: where should it go?")
        if not ((params.content and params.content.strip()) or params.embeds):
            raise RpcError(
                ErrorCode.VALIDATION, "params.content: a message needs content or an embed"
            )
    return params


# ------------------------------------------------------------------ Discord JSON
def nonce_of(act: DiscordAct) -> str:
    """Discord drops a second message with the same nonce (`enforce_nonce`): the gap
    between "Discord accepted" and "the key says done" cannot send twice. ≤ 25 chars."""
    return hashlib.sha256(f"{act.bot_id}:{act.idempotency_key}".encode()).hexdigest()[:25]


def embed_json(embed: EmbedTemplate) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "rich"}
    for key in ("title", "description", "url"):
        value = getattr(embed, key)
        if value:
            out[key] = value
    if embed.color is not None:
        out["color"] = embed.color
    if embed.footer:
        out["footer"] = {"text": embed.footer}
    if embed.fields:
        out["fields"] = [
            {"name": f.name, "value": f.value, "inline": f.inline} for f in embed.fields
        ]
    return out


def emoji_json(emoji: str) -> dict[str, Any]:
    custom = _CUSTOM_EMOJI.match(emoji)
    if custom is None:
        return {"name": emoji}
    animated, name, emoji_id = custom.groups()
    return {"name": name, "id": emoji_id, "animated": bool(animated)}


def components_json(rows: list[ActionRow]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        buttons = []
        for b in row.buttons:
            button: dict[str, Any] = {"type": 2, "style": _BUTTON_STYLES[b.style], "label": b.label}
            if b.style == "link":
                button["url"] = b.url
            else:
                button["custom_id"] = b.custom_id
            if b.emoji:
                button["emoji"] = emoji_json(b.emoji)
            buttons.append(button)
        out.append({"type": 1, "components": buttons})
    return out


def message_json(params: SendParams, nonce: str) -> dict[str, Any]:
    body: dict[str, Any] = {"nonce": nonce, "enforce_nonce": True}
    if params.content:
        body["content"] = params.content
    if params.embeds:
        body["embeds"] = [embed_json(e) for e in params.embeds]
    if params.components:
        body["components"] = components_json(params.components)
    return body


def reaction_of(emoji: str) -> str:
    """`<:name:id>` (as people paste it) → `name:id` (as the reaction route wants it)."""
    custom = _CUSTOM_EMOJI.match(emoji)
    return f"{custom[2]}:{custom[3]}" if custom else emoji


def timeout_until(duration_s: int, now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) + timedelta(seconds=duration_s)).isoformat()


# ------------------------------------------------------------------ refusals in words
def refusal(
    action: str, status: int, code: int, params: BaseModel | None = None, text: str = ""
) -> ActResult:
    """Discord's refusal as the run reports it (the code and what it means; Discord's own
    words for the rest, e.g. an embed it finds invalid)."""
    if code == 50013:
        words = f"the bot lacks the permission to {_DOING.get(action, action)} in this server"
        if action in _RANKED:
            words += " (or the role/member is above the bot's highest role)"
        return ActResult(ok=False, code=code, message=words)
    if code in _UNKNOWN:
        what, field = _UNKNOWN[code]
        value = getattr(params, field, None) if field else None
        words = f"unknown {what}" + (f" {value}" if value else "")
        return ActResult(ok=False, code=code, message=words)
    if code == 50001:
        words = "the bot cannot see this channel (Missing Access)"
    elif code == 50007:
        words = "Discord does not let the bot message this user (DMs closed or no shared server)"
    elif status == 401:
        words = "Discord rejected the bot token: replace it"
    elif status == 403:
        words = "Discord does not allow the bot to do this"
    elif status == 404:
        words = "Discord does not know this channel, message or member"
    elif text:
        words = f"Discord refused the request: {text[:300]}"
    else:
        words = f"Discord refused the request (HTTP {status})"
    return ActResult(ok=False, code=code or None, message=words)


# ------------------------------------------------------------------ doing it
async def perform(http: discord.http.HTTPClient, act: DiscordAct, params: Contract) -> ActResult:
    """One action with discord.py's HTTP client. Discord's 4xx refusals are results; 5xx,
    network failures and exhausted rate limits raise (the caller maps them)."""
    try:
        output = await _do(http, act, params)
    except discord.HTTPException as exc:
        if exc.status >= 500:
            raise
        return refusal(act.action, exc.status, exc.code, params, exc.text)
    return ActResult(ok=True, output=output)


async def _do(http: discord.http.HTTPClient, act: DiscordAct, params: Contract) -> dict[str, Any]:
    guild = int(act.guild_id) if act.guild_id else 0
    if isinstance(params, SendParams):
        channel_id = params.channel_id
        if params.user_id:
            dm: Any = await http.start_private_message(int(params.user_id))
            channel_id = str(dm["id"])
        assert channel_id is not None
        body = message_json(params, nonce_of(act))
        sent: Any = await http.send_message(
            int(channel_id), params=MultipartParameters(payload=body, multipart=None, files=None)
        )
        return {"message_id": str(sent["id"]), "channel_id": channel_id}
    if isinstance(params, RoleParams):
        change = http.add_role if act.action == "add_role" else http.remove_role
        await change(guild, int(params.user_id), int(params.role_id), reason=params.reason)
        return {"user_id": params.user_id, "role_id": params.role_id}
    if isinstance(params, ReactionParams):
        emoji = reaction_of(params.emoji)
        await http.add_reaction(int(params.channel_id), int(params.message_id), emoji)
        return {"channel_id": params.channel_id, "message_id": params.message_id}
    if isinstance(params, MessageParams):
        await http.delete_message(int(params.channel_id), int(params.message_id))
        return {"channel_id": params.channel_id, "message_id": params.message_id}
    if isinstance(params, TimeoutParams):
        until = timeout_until(params.duration_s)
        await http.edit_member(
            guild, int(params.user_id), reason=params.reason, communication_disabled_until=until
        )
        return {"user_id": params.user_id, "until": until}
    if isinstance(params, KickParams):
        await http.kick(int(params.user_id), guild, reason=params.reason)
        return {"user_id": params.user_id}
    raise RpcError(ErrorCode.VALIDATION, f"{act.action} is not an action bot-service does")


async def perform_with_token(token: str, act: DiscordAct, params: Contract) -> ActResult:
    """No replica runs the shard: a short-lived discord.py client logs in with the token
    (REST only, no gateway) so the same code and rate limiter do the work."""
    client = discord.Client(intents=discord.Intents.none())
    try:
        try:
            await client.login(token)
        except discord.LoginFailure:
            return refusal(act.action, 401, 0, params)
        return await perform(client.http, act, params)
    finally:
        await client.close()


# ------------------------------------------------------------------ once per key
class KeyStore(Protocol):
    """The KV operations the keys need (services.bus.kv.Store has them)."""

    async def get(self, key: str) -> tuple[bytes, int] | None: ...

    async def create(self, key: str, value: bytes, *, ttl_s: float | None = None) -> int | None: ...

    async def update(self, key: str, value: bytes, revision: int) -> int | None: ...

    async def put(self, key: str, value: bytes) -> int: ...

    async def delete(self, key: str, *, revision: int | None = None) -> bool: ...


@dataclass
class Claim:
    """Either this attempt may act (`revision` of its pending key) or the key is done."""

    revision: int | None = None
    done: ActResult | None = None


def kv_key(act: DiscordAct) -> str:
    # KV keys allow few characters (`<run id>:<step path>` has colons): hash the caller's key.
    digest = hashlib.sha256(act.idempotency_key.encode()).hexdigest()[:40]
    return f"{act.bot_id}.{digest}"


class ActionKeys:
    def __init__(self, store: KeyStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def _pending(self) -> bytes:
        return orjson.dumps({"pending_since": self.clock()})

    async def claim(self, key: str) -> Claim:
        for _ in range(3):
            revision = await self.store.create(key, self._pending())
            if revision is not None:
                return Claim(revision=revision)
            got = await self.store.get(key)
            if got is None:
                continue  # released or expired between the two calls
            value, revision = got
            record = orjson.loads(value)
            if "result" in record:
                done = ActResult.model_validate(record["result"])
                return Claim(done=done.model_copy(update={"repeated": True}))
            if self.clock() - float(record.get("pending_since", 0)) < PENDING_STALE_S:
                raise RpcError(ErrorCode.UNAVAILABLE, "this action is still in progress; retry")
            # The first attempt died mid-way: take the key over and act again.
            taken = await self.store.update(key, self._pending(), revision)
            if taken is not None:
                return Claim(revision=taken)
        raise RpcError(ErrorCode.UNAVAILABLE, "this action is still in progress; retry")

    async def done(self, key: str, result: ActResult) -> None:
        await self.store.put(key, orjson.dumps({"result": result.model_dump(mode="json")}))

    async def release(self, key: str, revision: int) -> None:
        """The attempt failed without a result (Discord down, the shard moving): a retry
        may act."""
        await self.store.delete(key, revision=revision)


Route = Callable[[DiscordAct, int], Awaitable[ActResult]]


class Actions:
    """`rpc.bot.runtime.act`: check the params, claim the key, act where the shard runs."""

    def __init__(self) -> None:
        self.keys: ActionKeys | None = None

    async def act(self, act: DiscordAct, shard_count: int, route: Route) -> ActResult:
        if act.action in ("reply", "defer"):
            return ActResult(
                ok=False,
                message=f"{act.action} answers an interaction: not supported by automations yet",
            )
        act = with_guild(act)
        parse_params(act)
        if self.keys is None:
            raise RpcError(ErrorCode.UNAVAILABLE, "bot-service is starting; retry")
        key = kv_key(act)
        claim = await self.keys.claim(key)
        if claim.done is not None:
            return claim.done
        assert claim.revision is not None
        try:
            result = await route(act, shard_of(act.guild_id, shard_count))
        except BaseException:
            await self.keys.release(key, claim.revision)
            raise
        await self.keys.done(key, result)
        return result


def shard_of(guild_id: str | None, shard_count: int) -> int:
    """Discord's rule: a guild's events come on shard (guild_id >> 22) % shard_count."""
    if not guild_id:
        return 0
    return (int(guild_id) >> 22) % max(shard_count, 1)
