"""Rules of the bots domain: validation, token sealing, desired state. No FastAPI, no NATS.

Functions take the caller's database session (row-level security already applied) and
only flush; the edge commits. Token checks go through a `TokenChecker` (Discord REST).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from bot_service import repository, tokens
from bot_service.discord_rest import (
    BotIdentity,
    DiscordRateLimitedError,
    DiscordUnavailableError,
    TokenRejectedError,
    plausible_token,
)
from bot_service.models import Bot
from proto.bots import (
    INTENTS,
    PRIVILEGED_INTENTS,
    BotPresence,
    BotStatusBrief,
    BotView,
    CreateBot,
    IntentInfo,
    UpdateBot,
)
from proto.errors import ErrorCode, FieldError
from services.errors import RpcError, not_found
from services.vault import Vault

ALL_INTENTS = 0
for _bit in INTENTS.values():
    ALL_INTENTS |= _bit
_NAME_OF = {bit: name for name, bit in INTENTS.items()}

# Application flags saying a privileged intent is enabled in the developer portal
# (full or "limited", for bots in fewer than 100 servers).
PORTAL_FLAGS: dict[str, int] = {
    "GUILD_PRESENCES": (1 << 12) | (1 << 13),
    "GUILD_MEMBERS": (1 << 14) | (1 << 15),
    "MESSAGE_CONTENT": (1 << 18) | (1 << 19),
}


class TokenChecker(Protocol):
    async def identify(self, token: str) -> BotIdentity: ...


# ------------------------------------------------------------------ validation


def normalize_intents(value: int | Sequence[str], loc: str = "intents") -> int:
    """The intent bit field; unknown names or bits are a 422 naming them."""
    if isinstance(value, int):
        unknown = value & ~ALL_INTENTS
        if unknown:
            bits = [i for i in range(unknown.bit_length()) if unknown >> i & 1]
            raise RpcError(
                ErrorCode.VALIDATION,
                f"unknown gateway intent bit(s): {', '.join(str(b) for b in bits)}",
                fields=[FieldError(loc=[loc], message="unknown intent bits")],
            )
        return value
    result = 0
    bad: list[str] = []
    for raw in value:
        name = raw.strip().upper()
        if name not in INTENTS:
            bad.append(raw)
        else:
            result |= INTENTS[name]
    if bad:
        raise RpcError(
            ErrorCode.VALIDATION,
            f"unknown gateway intent(s): {', '.join(bad)}",
            fields=[FieldError(loc=[loc], message=f"known intents: {', '.join(INTENTS)}")],
        )
    return result


def normalize_tags(tags: Sequence[str]) -> list[str]:
    """Tags without duplicates (case-insensitive), in the order given."""
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        key = tag.casefold()
        if key not in seen:
            seen.add(key)
            out.append(tag)
    return out


def intent_report(intents: int, app_flags: int) -> tuple[list[IntentInfo], list[str], list[str]]:
    """(each intent set, the privileged ones, warnings for the user)."""
    infos: list[IntentInfo] = []
    privileged: list[str] = []
    warnings: list[str] = []
    for name, bit in INTENTS.items():
        if not intents & bit:
            continue
        is_priv = name in PRIVILEGED_INTENTS
        enabled = bool(app_flags & PORTAL_FLAGS[name]) if is_priv else None
        infos.append(
            IntentInfo(name=name, value=bit, privileged=is_priv, enabled_in_portal=enabled)
        )
        if is_priv:
            privileged.append(name)
            if not enabled:
                warnings.append(
                    f"{name} is a privileged intent that is not enabled for this application: "
                    "enable it on the Bot page of the Discord developer portal, or the bot "
                    "will be refused (close code 4014)"
                )
    return infos, privileged, warnings


DISCORD_CDN = "https://cdn.discordapp.com"


def cdn_base(discord_base_url: str) -> str:
    """Discord's CDN, or the sandbox's (it serves `/avatars/...` itself)."""
    base = discord_base_url.rstrip("/")
    if base in ("https://discord.com", "https://discordapp.com"):
        return DISCORD_CDN
    return base


def avatar_url(cdn: str, user_id: str, avatar_hash: str | None) -> str | None:
    if not avatar_hash:
        return None
    ext = "gif" if avatar_hash.startswith("a_") else "png"
    return f"{cdn}/avatars/{user_id}/{avatar_hash}.{ext}?size=128"


def view(bot: Bot, cdn: str = DISCORD_CDN, status: BotStatusBrief | None = None) -> BotView:
    infos, privileged, warnings = intent_report(bot.intents, bot.application_flags)
    return BotView.from_row(
        bot,
        intent_names=infos,
        privileged_intents=privileged,
        warnings=warnings,
        presence=BotPresence.model_validate(bot.presence),
        tags=list(bot.tags),
        desired_state="running" if bot.running else "stopped",
        token_hint=tokens.hint(bot.token_last4),
        avatar_url=avatar_url(cdn, bot.discord_user_id, bot.avatar_hash),
        status=status,
    )


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ the service


@dataclass
class Change:
    """What a write did, for the edge to mirror and announce after commit."""

    bot: Bot
    kind: str  # event kind: created, updated, started, stopped, restarted, token_replaced
    fields: list[str]
    desired_changed: bool


# Fields whose change alters what the fleet runs.
DESIRED_FIELDS = frozenset({"intents", "presence", "shard_count", "running", "generation"})


class BotService:
    def __init__(self, vault: Vault, checker: TokenChecker, *, max_bots_per_user: int) -> None:
        self.vault = vault
        self.checker = checker
        self.max_bots_per_user = max_bots_per_user

    async def check_token(self, token: str) -> BotIdentity:
        """Ask Discord who the token is; errors become clear 4xx/5xx envelopes."""
        reason = plausible_token(token)
        if reason is not None:
            raise RpcError(
                ErrorCode.VALIDATION,
                f"invalid bot token: {reason}",
                fields=[FieldError(loc=["token"], message=reason)],
            )
        try:
            return await self.checker.identify(token)
        except TokenRejectedError as exc:
            raise RpcError(
                ErrorCode.VALIDATION,
                f"invalid bot token: {exc}",
                fields=[FieldError(loc=["token"], message=str(exc))],
            ) from None
        except DiscordRateLimitedError as exc:
            raise RpcError(
                ErrorCode.RATE_LIMITED, str(exc), details={"retry_after": exc.retry_after_s}
            ) from None
        except DiscordUnavailableError as exc:
            raise RpcError(ErrorCode.UNAVAILABLE, str(exc)) from None

    async def list_bots(self, session: AsyncSession, tag: str | None = None) -> Sequence[Bot]:
        """The caller's bots (row-level security scopes them), oldest first."""
        return await repository.list_for_owner(session, tag)

    async def get(self, session: AsyncSession, bot_id: UUID, *, lock: bool = False) -> Bot:
        bot = await repository.get(session, bot_id, for_update=lock)
        if bot is None:
            raise not_found("bot")
        return bot

    async def create(
        self, session: AsyncSession, owner_id: UUID, req: CreateBot, identity: BotIdentity
    ) -> Change:
        if await repository.count_for_owner(session) >= self.max_bots_per_user:
            raise RpcError(
                ErrorCode.CONFLICT,
                f"you already have {self.max_bots_per_user} bots, the most one account may add",
            )
        token = req.token.get_secret_value()
        bot_id = uuid.uuid4()
        now = _now()
        bot = Bot(
            id=bot_id,
            owner_id=owner_id,
            name=req.name or identity.username,
            description=req.description,
            intents=normalize_intents(req.intents),
            presence=req.presence.model_dump(mode="json"),
            shard_count=req.shard_count,
            auto_start=req.auto_start,
            tags=normalize_tags(req.tags),
            running=req.auto_start,
            generation=0,
            application_id=identity.application_id,
            created_at=now,
            updated_at=now,
            **self._token_columns(bot_id, token, identity),
        )
        try:
            await repository.add(session, bot)
        except repository.DuplicateApplicationError:
            raise _duplicate(identity) from None
        return Change(bot, "created", [], desired_changed=True)

    async def update(self, session: AsyncSession, req: UpdateBot) -> Change:
        bot = await self.get(session, req.bot_id, lock=True)
        changed: list[str] = []
        for field in sorted(UpdateBot.model_fields):
            value = getattr(req, field)
            if field == "bot_id" or value is None:
                continue
            if field == "shard_count" and value == "auto":
                value = None
            if field == "intents":
                value = normalize_intents(value)
            elif field == "presence":
                value = value.model_dump(mode="json")
            elif field == "tags":
                value = normalize_tags(value)
            if getattr(bot, field) != value:
                setattr(bot, field, value)
                changed.append(field)
        if changed:
            bot.updated_at = _now()
            await repository.flush(session)
        return Change(
            bot, "updated", changed, desired_changed=bool(DESIRED_FIELDS.intersection(changed))
        )

    async def replace_token(
        self, session: AsyncSession, bot_id: UUID, token: str, identity: BotIdentity
    ) -> Change:
        bot = await self.get(session, bot_id, lock=True)
        if identity.application_id != bot.application_id:
            raise RpcError(
                ErrorCode.VALIDATION,
                "this token belongs to another Discord application "
                f"({identity.username}, {identity.application_id}); add it as a new bot instead",
                fields=[FieldError(loc=["token"], message="token of another application")],
            )
        if bot.avatar_hash != identity.avatar_hash:
            bot.avatar_sha256 = None  # changed elsewhere: no longer the image we sent
        bot.sqlmodel_update(self._token_columns(bot.id, token, identity))
        bot.generation += 1  # running units reconnect with the new token
        bot.updated_at = _now()
        await repository.flush(session)
        return Change(bot, "token_replaced", ["token"], desired_changed=True)

    def _token_columns(self, bot_id: UUID, token: str, identity: BotIdentity) -> dict[str, Any]:
        """A checked token, sealed, and what Discord says of the bot user it belongs to:
        adding a bot and replacing its token store the same columns."""
        return {
            "token_enc": tokens.seal_token(self.vault, bot_id, token),
            "token_last4": tokens.last4(token),
            "discord_user_id": identity.user_id,
            "username": identity.username,
            "avatar_hash": identity.avatar_hash,
            "application_flags": identity.application_flags,
        }

    async def set_running(
        self, session: AsyncSession, bot_id: UUID, *, running: bool, restart: bool = False
    ) -> Change:
        bot = await self.get(session, bot_id, lock=True)
        changed: list[str] = []
        if bot.running != running:
            bot.running = running
            changed.append("running")
        if restart:
            bot.generation += 1
            changed.append("generation")
        if changed:
            bot.updated_at = _now()
            await repository.flush(session)
        kind = "restarted" if restart else ("started" if running else "stopped")
        return Change(bot, kind, changed, desired_changed=bool(changed))

    async def set_avatar(
        self,
        session: AsyncSession,
        bot_id: UUID,
        avatar_hash: str | None,
        image_sha256: str | None = None,
    ) -> bool:
        """Record the avatar Discord now shows (after `rpc.bot.avatar.apply`) and the
        SHA-256 of the image bytes that made it."""
        bot = await repository.get(session, bot_id, for_update=True)
        if bot is None or (bot.avatar_hash, bot.avatar_sha256) == (avatar_hash, image_sha256):
            return False
        bot.avatar_hash = avatar_hash
        bot.avatar_sha256 = image_sha256
        bot.updated_at = _now()
        await repository.flush(session)
        return True

    async def avatar_from(
        self, session: AsyncSession, bot_id: UUID, image_sha256: str
    ) -> str | None:
        """The avatar hash Discord shows for the bot when it was made from exactly these
        image bytes (re-applying them would change nothing), else None."""
        bot = await repository.get(session, bot_id)
        if bot is None or not bot.avatar_hash or bot.avatar_sha256 != image_sha256:
            return None
        return bot.avatar_hash

    async def remove(self, session: AsyncSession, bot_id: UUID) -> bool:
        return await repository.remove(session, bot_id)


def _duplicate(identity: BotIdentity) -> RpcError:
    return RpcError(
        ErrorCode.CONFLICT,
        f"the Discord application {identity.application_id} ({identity.username}) has already "
        "been added to botcenter; a bot can be added only once",
        details={"application_id": identity.application_id},
    )
