"""Rules of the bots domain: validation, token sealing, desired state, who may do what
(#17: a bot belongs to a workspace; the permission per operation is docs/design/teams.md
§3.4's table), and the audit record of each change. No FastAPI, no NATS.

Functions take the caller's database session (row-level security already applied, so a
bot of a workspace the caller is not in is NOT_FOUND before any permission is looked at)
and only flush; the edge commits. The audit record goes into the outbox in the same
transaction, so it is published exactly when the change commits. Token checks go through
a `TokenChecker` (Discord REST).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any, Final, Protocol
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
from proto.access import Access, Permission
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
from services.access import require
from services.audit import audit_subject, diff, new_record
from services.bus.events import AUDIT_STREAM
from services.errors import RpcError, not_found
from services.outbox import Outbox
from services.vault import Vault

SERVICE: Final = "bot"

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


@dataclass(frozen=True)
class Caller:
    """Who asks (their access) and the message's headers (client, request id), which the
    audit record of a change names."""

    access: Access
    headers: Mapping[str, str] = dc_field(default_factory=dict)


@dataclass
class Change:
    """What a write did, for the edge to mirror and announce after commit."""

    bot: Bot
    kind: str  # event kind: created, updated, started, stopped, restarted, token_replaced
    fields: list[str]
    desired_changed: bool


# The audit action of each kind of change.
ACTION_OF: Final = {
    "created": "bot.create",
    "updated": "bot.update",
    "started": "bot.start",
    "stopped": "bot.stop",
    "restarted": "bot.restart",
    "token_replaced": "bot.token_replace",
    "deleted": "bot.delete",
    "avatar_applied": "bot.avatar_apply",
}
# What a record shows of a bot when it is added or removed (never the token).
_RECORDED = ("name", "description", "intents", "shard_count", "auto_start", "tags", "running")


def _recorded(bot: Bot) -> dict[str, Any]:
    return {name: getattr(bot, name) for name in _RECORDED}


# A token replacement's `changes`: that it changed, never a value.
TOKEN_CHANGE: Final = {"token": {"changed": True}}

# Fields whose change alters what the fleet runs.
DESIRED_FIELDS = frozenset({"intents", "presence", "shard_count", "running", "generation"})


@dataclass(eq=False)
class BotService:
    vault: Vault
    checker: TokenChecker
    _: KW_ONLY
    max_bots_per_user: int
    outbox: Outbox

    async def audit(
        self,
        session: AsyncSession,
        caller: Caller,
        kind: str,
        bot: Bot,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        """The change's audit record, in its transaction (committed or rolled back with it)."""
        record = new_record(
            caller.access,
            caller.headers,
            workspace_id=bot.workspace_id,
            action=ACTION_OF[kind],
            target_type="bot",
            target_id=bot.id,
            changes=changes,
        )
        # The record's id is the message's (Nats-Msg-Id), as the bc-audit reply names it.
        await self.outbox.add(
            session,
            audit_subject(bot.workspace_id, SERVICE),
            record,
            stream=AUDIT_STREAM,
            row_id=record.id,
        )

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

    async def list_bots(
        self,
        session: AsyncSession,
        access: Access,
        tag: str | None = None,
        workspace_id: UUID | None = None,
    ) -> Sequence[Bot]:
        """The bots the caller may view (of one workspace, when given), oldest first;
        a workspace the caller is not a member of is NOT_FOUND."""
        workspaces = access.permitted("bots.view")
        if workspace_id is not None:
            if not access.sees(workspace_id):
                raise not_found("workspace")
            workspaces = [w for w in workspaces if w == workspace_id]
        if not workspaces:
            return []
        return await repository.list_in(session, workspaces, tag)

    async def workspace_bots(self, session: AsyncSession, workspace_id: UUID) -> Sequence[Bot]:
        """Every bot of a workspace (system work: its purge)."""
        return await repository.list_in(session, [workspace_id])

    async def unknown_ids(
        self, session: AsyncSession, workspace_id: UUID, bot_ids: Sequence[UUID]
    ) -> list[UUID]:
        """Which of `bot_ids` are not bots of the workspace (a membership's or an
        invitation's bot limit is checked with it)."""
        return await repository.unknown_ids(session, workspace_id, bot_ids)

    async def get(self, session: AsyncSession, bot_id: UUID, *, lock: bool = False) -> Bot:
        bot = await repository.get(session, bot_id, for_update=lock)
        if bot is None:
            raise not_found("bot")
        return bot

    async def get_for(
        self,
        session: AsyncSession,
        access: Access,
        bot_id: UUID,
        permission: Permission,
        *,
        lock: bool = False,
    ) -> Bot:
        """The bot, when the caller sees it (else NOT_FOUND) and holds `permission` on it
        (else FORBIDDEN naming the permission)."""
        bot = await self.get(session, bot_id, lock=lock)
        require(access, permission, bot.workspace_id, bot.id)
        return bot

    def target_workspace(self, access: Access, workspace_id: UUID | None) -> tuple[UUID, UUID]:
        """(workspace, user) of a new bot: where it goes (default: the caller's personal
        workspace) and who adds it, checked before anything is asked of Discord: NOT_FOUND
        unless a member, FORBIDDEN without both `bots.edit` and `bots.token`, or with a
        membership limited to some bots (a new bot would be outside the limit)."""
        user = access.user_id
        if user is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "adding a bot needs a signed-in user")
        if workspace_id is None:
            workspace_id = user
        grant = access.grant(workspace_id)
        if grant is None:
            raise not_found("workspace")
        require(access, "bots.edit", workspace_id)
        require(access, "bots.token", workspace_id)
        if grant.bot_ids:
            raise RpcError(
                ErrorCode.FORBIDDEN,
                "your membership of this workspace is limited to some bots: "
                "you cannot add bots to it",
            )
        return workspace_id, user

    async def create(
        self, session: AsyncSession, caller: Caller, req: CreateBot, identity: BotIdentity
    ) -> Change:
        workspace_id, creator = self.target_workspace(caller.access, req.workspace_id)
        if await repository.count_in(session, workspace_id) >= self.max_bots_per_user:
            personal = workspace_id == creator
            whose = "you already have" if personal else "this workspace already has"
            raise RpcError(
                ErrorCode.CONFLICT,
                f"{whose} {self.max_bots_per_user} bots, the most one workspace may add",
            )
        token = req.token.get_secret_value()
        bot_id = uuid.uuid4()
        now = _now()
        bot = Bot(
            id=bot_id,
            workspace_id=workspace_id,
            created_by=creator,
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
        await self.audit(session, caller, "created", bot, diff(None, _recorded(bot)))
        return Change(bot, "created", [], desired_changed=True)

    async def update(self, session: AsyncSession, caller: Caller, req: UpdateBot) -> Change:
        bot = await self.get_for(session, caller.access, req.bot_id, "bots.edit", lock=True)
        before = {name: getattr(bot, name) for name in UpdateBot.model_fields if name != "bot_id"}
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
            after = {name: getattr(bot, name) for name in changed}
            await self.audit(
                session, caller, "updated", bot, diff({n: before[n] for n in changed}, after)
            )
        return Change(
            bot, "updated", changed, desired_changed=bool(DESIRED_FIELDS.intersection(changed))
        )

    async def replace_token(
        self,
        session: AsyncSession,
        caller: Caller,
        bot_id: UUID,
        token: str,
        identity: BotIdentity,
    ) -> Change:
        bot = await self.get_for(session, caller.access, bot_id, "bots.token", lock=True)
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
        await self.audit(session, caller, "token_replaced", bot, TOKEN_CHANGE)
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
        self,
        session: AsyncSession,
        caller: Caller,
        bot_id: UUID,
        *,
        running: bool,
        restart: bool = False,
        permission: Permission = "bots.control",
        audited: bool = True,
    ) -> Change:
        """Start, stop or restart (needs `bots.control`). The stop that begins a delete
        needs `bots.delete` instead and is not recorded (`audited=False`): the delete's
        own record says what happened."""
        bot = await self.get_for(session, caller.access, bot_id, permission, lock=True)
        was_running = bot.running
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
        if audited:
            # A start or stop is recorded even when the bot already was so: the person did
            # press the button (and the record's empty `changes` says nothing changed).
            changes = diff({"running": was_running}, {"running": bot.running})
            await self.audit(session, caller, kind, bot, changes)
        return Change(bot, kind, changed, desired_changed=bool(changed))

    async def set_avatar(
        self,
        session: AsyncSession,
        caller: Caller,
        bot_id: UUID,
        avatar_hash: str | None,
        image_sha256: str | None = None,
    ) -> bool:
        """Record the avatar Discord now shows (after `rpc.bot.avatar.apply`, whose caller
        the fleet checked for `bots.edit`) and the SHA-256 of the image bytes that made it."""
        bot = await repository.get(session, bot_id, for_update=True)
        if bot is None or (bot.avatar_hash, bot.avatar_sha256) == (avatar_hash, image_sha256):
            return False
        old = bot.avatar_hash
        bot.avatar_hash = avatar_hash
        bot.avatar_sha256 = image_sha256
        bot.updated_at = _now()
        await repository.flush(session)
        await self.audit(
            session, caller, "avatar_applied", bot, diff({"avatar": old}, {"avatar": avatar_hash})
        )
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

    async def remove(self, session: AsyncSession, caller: Caller, bot: Bot) -> bool:
        """Delete the row (the caller's `bots.delete` was checked when the delete began)
        with its record; False when it was already gone."""
        if not await repository.remove(session, bot.id):
            return False
        await self.audit(session, caller, "deleted", bot, diff(_recorded(bot), None))
        return True


def _duplicate(identity: BotIdentity) -> RpcError:
    return RpcError(
        ErrorCode.CONFLICT,
        f"the Discord application {identity.application_id} ({identity.username}) has already "
        "been added to botcenter; a bot can be added only once",
        details={"application_id": identity.application_id},
    )
