"""RPC handlers of bot-service's API half: validate -> service (in one transaction, in the
caller's access scope) -> after commit, mirror the desired state to KV and announce the
change -> reply."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from bot_service.desired import DesiredMirror
from bot_service.fleetview import FleetView
from bot_service.livestatus import LiveStatus
from bot_service.service import BotService, Caller, Change, view
from bot_service.tryit import SandboxTry
from proto.access import Access
from proto.base import Empty
from proto.bots import (
    CHECK_BOT_IDS,
    CREATE_BOT,
    DELETE_BOT,
    GET_BOT,
    LIST_BOTS,
    READ_BOT,
    REPLACE_TOKEN,
    RESTART_BOT,
    SANDBOX_INFO,
    START_BOT,
    STOP_BOT,
    TRY_COMMAND,
    UPDATE_BOT,
    AvatarApplied,
    BotChanged,
    BotDeleted,
    BotIdsChecked,
    BotPage,
    BotRef,
    BotSummary,
    BotView,
    CheckBotIds,
    CreateBot,
    ListBots,
    ReplaceToken,
    SandboxInfo,
    TryInvoke,
    TryResult,
    UpdateBot,
)
from proto.errors import ErrorCode
from proto.system import (
    PurgeResult,
    PurgeUser,
    PurgeWorkspace,
    purge_spec,
    workspace_purge_spec,
)
from services.access import personal_access
from services.bus.events import EventPublisher
from services.bus.rpc import RpcContext, answers
from services.db.engine import Database
from services.errors import RpcError

log = logging.getLogger(__name__)
T = TypeVar("T")
PURGE_STOP_WAIT_S = 2.0

_MESSAGES = {
    "created": "bot {name} added",
    "updated": "bot {name} settings changed: {fields}",
    "started": "bot {name} set to run",
    "stopped": "bot {name} set to stop",
    "restarted": "bot {name} restart requested",
    "token_replaced": "bot {name} token replaced",
    "deleted": "bot {name} deleted",
}


@dataclass
class BotHandlers:
    db: Database
    bots: BotService
    mirror: DesiredMirror
    fleet: FleetView
    events: EventPublisher
    delete_stop_timeout_s: float
    live: LiveStatus
    sandbox: SandboxTry
    cdn: str

    async def _tx(self, access: Access, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One transaction in the caller's scope, committed when `fn` returns (before any
        KV write)."""
        async with self.db.access_scope(access) as session:
            return await fn(session)

    @staticmethod
    def _caller(ctx: RpcContext) -> Caller:
        return Caller(ctx.require_access(), ctx.headers)

    async def _announce(
        self, workspace_id: UUID, bot_id: UUID, name: str, kind: str, fields: list[str]
    ) -> None:
        # Events still name the subject's second token `owner_id` (proto/events.py); it
        # is the workspace's id, which for a personal workspace is its user's.
        event = BotChanged(
            owner_id=workspace_id,
            bot_id=bot_id,
            name=name,
            fields=fields,
            message=_MESSAGES[kind].format(name=repr(name), fields=", ".join(fields)),
        )
        try:
            await self.events.publish("bot", kind, event)
        except Exception:
            # The change is committed and mirrored; a lost notification is not worth a 500.
            log.warning("could not publish bot %s event", kind, exc_info=True)

    async def _after(self, change: Change) -> BotView:
        bot = change.bot
        if change.desired_changed:
            await self.mirror.sync(bot.id)
        if change.fields or change.kind in ("created", "token_replaced", "restarted"):
            await self._announce(bot.workspace_id, bot.id, bot.name, change.kind, change.fields)
        return view(bot, self.cdn)

    # ------------------------------------------------------------------ CRUD

    @answers(CREATE_BOT)
    async def create(self, req: CreateBot, ctx: RpcContext) -> BotView:
        caller = self._caller(ctx)
        # 404/403 before asking Discord anything.
        self.bots.target_workspace(caller.access, req.workspace_id)
        identity = await self.bots.check_token(req.token.get_secret_value())
        change = await self._tx(caller.access, lambda s: self.bots.create(s, caller, req, identity))
        return await self._after(change)

    @answers(LIST_BOTS)
    async def list_bots(self, req: ListBots, ctx: RpcContext) -> BotPage:
        access = ctx.require_access()

        async def run(s: AsyncSession) -> list[BotView]:
            found = await self.bots.list_bots(s, access, req.tag, req.workspace_id)
            return [view(b, self.cdn) for b in found]

        bots = await self._tx(access, run)
        # Live status from the fleet's KV, after the transaction (no connection held).
        statuses = await self.live.many(b.id for b in bots)
        return BotPage(bots=[b.model_copy(update={"status": statuses[b.id]}) for b in bots])

    @answers(READ_BOT)
    async def read(self, req: BotRef, ctx: RpcContext) -> BotView:
        access = ctx.require_access()

        async def run(s: AsyncSession) -> BotView:
            return view(await self.bots.get_for(s, access, req.bot_id, "bots.view"), self.cdn)

        return await self._tx(access, run)

    @answers(GET_BOT)
    async def summary(self, req: BotRef, ctx: RpcContext) -> BotSummary:
        access = ctx.require_access()

        async def run(s: AsyncSession) -> BotSummary:
            # The contract's fields are the part of the row other services may see; each
            # checks its own permission on the bot's workspace (visible = a member).
            bot = await self.bots.get(s, req.bot_id)
            return BotSummary.model_validate(bot, from_attributes=True)

        return await self._tx(access, run)

    @answers(UPDATE_BOT)
    async def update(self, req: UpdateBot, ctx: RpcContext) -> BotView:
        caller = self._caller(ctx)
        change = await self._tx(caller.access, lambda s: self.bots.update(s, caller, req))
        return await self._after(change)

    @answers(REPLACE_TOKEN)
    async def replace_token(self, req: ReplaceToken, ctx: RpcContext) -> BotView:
        caller = self._caller(ctx)
        # 404/403 before asking Discord anything about a bot the caller may not re-token.
        await self._tx(
            caller.access, lambda s: self.bots.get_for(s, caller.access, req.bot_id, "bots.token")
        )
        token = req.token.get_secret_value()
        identity = await self.bots.check_token(token)
        change = await self._tx(
            caller.access, lambda s: self.bots.replace_token(s, caller, req.bot_id, token, identity)
        )
        return await self._after(change)

    # ------------------------------------------------------------------ desired state

    async def _set_running(
        self, ctx: RpcContext, bot_id: UUID, *, running: bool, restart: bool = False
    ) -> BotView:
        caller = self._caller(ctx)
        change = await self._tx(
            caller.access,
            lambda s: self.bots.set_running(s, caller, bot_id, running=running, restart=restart),
        )
        return await self._after(change)

    @answers(START_BOT)
    async def start(self, req: BotRef, ctx: RpcContext) -> BotView:
        return await self._set_running(ctx, req.bot_id, running=True)

    @answers(STOP_BOT)
    async def stop(self, req: BotRef, ctx: RpcContext) -> BotView:
        return await self._set_running(ctx, req.bot_id, running=False)

    @answers(RESTART_BOT)
    async def restart(self, req: BotRef, ctx: RpcContext) -> BotView:
        return await self._set_running(ctx, req.bot_id, running=True, restart=True)

    # ------------------------------------------------------------------ avatar

    async def avatar_applied(
        self, applied: AvatarApplied, image_sha256: str, ctx: RpcContext
    ) -> None:
        """Called by the fleet after `rpc.bot.avatar.apply` succeeded on Discord."""
        session = await ctx.session()
        await self.bots.set_avatar(
            session, self._caller(ctx), applied.bot_id, applied.avatar_hash, image_sha256
        )

    async def avatar_known(self, bot_id: UUID, image_sha256: str, ctx: RpcContext) -> str | None:
        """Asked by the fleet before it calls Discord: the hash Discord already shows for
        these image bytes (the apply is then a no-op), or None."""
        session = await ctx.session()
        return await self.bots.avatar_from(session, bot_id, image_sha256)

    # ------------------------------------------------------------------ try it

    @answers(SANDBOX_INFO)
    async def sandbox_info(self, req: Empty, ctx: RpcContext) -> SandboxInfo:
        return await self.sandbox.info()

    @answers(TRY_COMMAND)
    async def try_command(self, req: TryInvoke, ctx: RpcContext) -> TryResult:
        access = ctx.require_access()
        # Trying a command is testing it (teams.md §3.4: preview/test need commands.edit).
        bot = await self._tx(
            access, lambda s: self.bots.get_for(s, access, req.bot_id, "commands.edit")
        )
        application_id, bot_user_id = bot.application_id, bot.discord_user_id
        if not await self.sandbox.enabled():
            raise RpcError(ErrorCode.NOT_FOUND, self.sandbox.info_disabled_message)
        status = await self.live.full(req.bot_id)
        if status is None or status.state != "online":
            state = status.state if status is not None else "offline"
            raise RpcError(
                ErrorCode.CONFLICT,
                f"the bot is {state}, not online: start it and wait until it is online",
                details={"state": state},
            )
        return await self.sandbox.invoke(application_id, bot_user_id, req)

    # ------------------------------------------------------------------ deletion

    async def _stop_then_remove(
        self, caller: Caller, bot_ids: list[UUID], wait_s: float
    ) -> tuple[int, bool]:
        """Stop the bots (desired state), wait for the fleet, then delete their rows, each
        with its `bot.delete` record. The caller's `bots.delete` is checked first: the
        stop is part of the delete (and so needs no `bots.control` of its own)."""

        async def stop_all(s: AsyncSession) -> None:
            for bot_id in bot_ids:
                await self.bots.set_running(
                    s, caller, bot_id, running=False, permission="bots.delete", audited=False
                )

        await self._tx(caller.access, stop_all)
        await self.mirror.sync_many(bot_ids)
        stopped = await self.fleet.wait_stopped(bot_ids, wait_s)
        if not stopped:
            log.warning("deleting %d bot(s) that still show a live shard", len(bot_ids))

        async def remove_all(s: AsyncSession) -> int:
            removed = 0
            for bot_id in bot_ids:
                bot = await self.bots.get_for(s, caller.access, bot_id, "bots.delete", lock=True)
                removed += await self.bots.remove(s, caller, bot)
            return removed

        try:
            removed = await self._tx(caller.access, remove_all)
        finally:
            # The rows are gone (or the delete failed and the stop stays): the keys follow
            # the rows, which stops anything still running.
            await self.mirror.sync_many(bot_ids)
        return removed, stopped

    @answers(DELETE_BOT)
    async def delete(self, req: BotRef, ctx: RpcContext) -> BotDeleted:
        caller = self._caller(ctx)
        bot = await self._tx(
            caller.access, lambda s: self.bots.get_for(s, caller.access, req.bot_id, "bots.delete")
        )
        name = bot.name
        _, stopped = await self._stop_then_remove(caller, [bot.id], self.delete_stop_timeout_s)
        await self._announce(bot.workspace_id, bot.id, name, "deleted", [])
        return BotDeleted(bot_id=bot.id, stopped=stopped)

    async def _purge(self, caller: Caller, workspace_id: UUID) -> PurgeResult:
        async def ids(s: AsyncSession) -> list[UUID]:
            return [b.id for b in await self.bots.workspace_bots(s, workspace_id)]

        bot_ids = await self._tx(caller.access, ids)
        if not bot_ids:
            return PurgeResult(service="bot", removed=0)
        # auth-service waits a few seconds per service (and retries): wait less here;
        # deleting the desired-state keys stops whatever is still running anyway.
        wait_s = min(self.delete_stop_timeout_s, PURGE_STOP_WAIT_S)
        removed, _ = await self._stop_then_remove(caller, bot_ids, wait_s)
        return PurgeResult(service="bot", removed=removed)

    @answers(purge_spec("bot"))
    async def purge_user(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        """auth-service deletes an account: every bot of that user's personal workspace
        goes (idempotent)."""
        return await self._purge(Caller(personal_access(req.user_id), ctx.headers), req.user_id)

    @answers(workspace_purge_spec("bot"))
    async def purge_workspace(self, req: PurgeWorkspace, ctx: RpcContext) -> PurgeResult:
        """auth-service deletes a team workspace: its bots are stopped, then removed, each
        with its record (idempotent: a second call finds none)."""
        caller = Caller(Access.system_for("bot", req.workspace_id), ctx.headers)
        return await self._purge(caller, req.workspace_id)

    @answers(CHECK_BOT_IDS)
    async def check_ids(self, req: CheckBotIds, ctx: RpcContext) -> BotIdsChecked:
        """Which ids are not bots of the workspace; the caller must be one of its members
        (auth-service calls it for a member manager; a non-member learns nothing: 404)."""
        if not ctx.require_access().sees(req.workspace_id):
            raise RpcError(ErrorCode.NOT_FOUND, "workspace not found")
        # Read as the workspace (not as a member limited to some bots, who would see the
        # other bots as unknown).
        workspace = Access.system_for("bot", req.workspace_id)

        async def run(s: AsyncSession) -> list[UUID]:
            return await self.bots.unknown_ids(s, req.workspace_id, req.bot_ids)

        return BotIdsChecked(unknown=await self._tx(workspace, run))

