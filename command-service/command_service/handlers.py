"""Thin RPC handlers: check the caller and the bot, call the service, commit, announce."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from command_service.bot_setup import BotSetup, Command
from command_service.execution.cache import Loader, SetupCache
from command_service.execution.executor import ADMINISTRATOR, Executor
from command_service.service import ConfigService, ItemService, OutT, PatchT, SpecT
from proto import commands as c
from proto.base import Contract, Empty
from proto.bots import GET_BOT, BotRef, BotSummary
from proto.errors import ErrorCode
from proto.fleet import LIVE_CONTEXT, ContextRequest, LiveContext
from proto.storage import READ_CONFIG, ConfigRef
from proto.system import PurgeResult, PurgeUser
from services.bus.rpc import RpcContext
from services.db import Database
from services.errors import RpcError, not_found
from services.runtime import ServiceRuntime

log = logging.getLogger(__name__)

# What a dry run (preview, Try it without the sandbox) says its server and channel are.
SAMPLE_GUILD = "Sample Server"
SAMPLE_CHANNEL = "general"
SAMPLE_MEMBERS = 42

_INVOCATION = {
    "slash": "slash",
    "prefix": "prefix",
    "user": "user_context",
    "message": "message_context",
}


def _sample_guild(spec: c.CommandIn, sample: c.CommandSample) -> str | None:
    return sample.guild_id or (spec.guild_ids[0] if spec.guild_ids else None)


def _tester_invocation(
    spec: c.CommandIn,
    sample: c.CommandSample,
    bot: BotSummary | None = None,
    live: LiveContext | None = None,
) -> c.Invocation:
    """A dry run's invocation: a tester who holds the required roles and permissions, in a
    server and channel of the running bot (its live cache), else in a sample server and
    channel, answered by the bot itself (its Discord name and id)."""
    live = live or LiveContext(bot_id=uuid4())
    guild = live.guild or c.GuildInfo(
        id=_sample_guild(spec, sample) or "0", name=SAMPLE_GUILD, member_count=SAMPLE_MEMBERS
    )
    channel = live.channel or c.ChannelInfo(id=sample.channel_id or "0", name=SAMPLE_CHANNEL)
    me = live.bot or c.BotInfo(
        id=(bot.discord_user_id or "0") if bot else "0",
        name=(bot.username or bot.name) if bot else "",
    )
    guild_id, channel_id = guild.id, channel.id
    return c.Invocation(
        kind=_INVOCATION[spec.kind],
        name=spec.name,
        options=sample.options,
        user=c.Invoker(
            id="0",
            username="tester",
            display_name="Tester",
            roles=list(spec.required_role_ids),
            role_names=["" for _ in spec.required_role_ids],
            permissions=str(ADMINISTRATOR),
        ),
        guild_id=guild_id,
        channel_id=channel_id,
        target_id=sample.target_id,
        content=sample.content,
        locale="en-US",
        guild=guild,
        channel=channel,
        bot=me,
    )


class _DryRun(Exception):
    def __init__(self, result: c.ImportResult) -> None:
        self.result = result


T = TypeVar("T")
RefT = TypeVar("RefT", bound=Contract)
UpdateT = TypeVar("UpdateT", bound=Contract)
ListT = TypeVar("ListT", bound=Contract)


class ItemHandlers(Generic[RefT, UpdateT, ListT, SpecT, PatchT, OutT]):
    """The list/create/get/update/delete RPCs of prompts, or of connections: the requests
    differ only in the name of the id field, which `item_id` and `change` read."""

    def __init__(
        self,
        handlers: Handlers,
        # The stored row type is the service's business: handlers never see a row.
        items: ItemService[Any, SpecT, PatchT, OutT],
        *,
        item_id: Callable[[RefT], UUID],
        change: Callable[[UpdateT], tuple[UUID, PatchT]],
        listing: Callable[[list[OutT]], ListT],
    ) -> None:
        self.h = handlers
        self.items = items
        self.item_id = item_id
        self.change = change
        self.listing = listing

    async def list(self, req: Empty, ctx: RpcContext) -> ListT:
        async with self.h.tx(ctx.require_user()) as s:
            return self.listing(await self.items.list_all(s))

    async def create(self, req: SpecT, ctx: RpcContext) -> OutT:
        user = ctx.require_user()
        async with self.h.tx(user) as s:
            return await self.items.create(s, user, req)

    async def get(self, req: RefT, ctx: RpcContext) -> OutT:
        async with self.h.tx(ctx.require_user()) as s:
            return await self.items.get(s, self.item_id(req))

    async def update(self, req: UpdateT, ctx: RpcContext) -> OutT:
        """Committed first; then every bot whose commands use the item is announced."""
        user = ctx.require_user()
        item_id, patch = self.change(req)
        async with self.h.tx(user) as s:
            out = await self.items.update(s, item_id, patch)
        async with self.h.tx(user) as s:
            bots = await self.items.bots_using(s, item_id)
        await self.h.announce(user, bots)
        return out

    async def delete(self, req: RefT, ctx: RpcContext) -> Empty:
        async with self.h.tx(ctx.require_user()) as s:
            await self.items.delete(s, self.item_id(req))
        return Empty()


class Handlers:
    def __init__(
        self,
        runtime: ServiceRuntime,
        config: ConfigService,
        executor: Executor,
        cache: SetupCache,
        execute_timeout_s: float,
    ) -> None:
        self.rt = runtime
        self.config = config
        self.executor = executor
        self.cache = cache
        self.execute_timeout_s = execute_timeout_s
        self.published: deque[str] = deque(maxlen=256)
        self.prompts = ItemHandlers[
            c.PromptRef, c.UpdatePrompt, c.PromptList, c.PromptIn, c.PromptPatch, c.PromptOut
        ](
            self,
            config.prompts,
            item_id=lambda ref: ref.prompt_id,
            change=lambda req: (req.prompt_id, req.patch),
            listing=lambda items: c.PromptList(items=items),
        )
        self.connections = ItemHandlers[
            c.ConnectionRef,
            c.UpdateConnection,
            c.ConnectionList,
            c.ConnectionIn,
            c.ConnectionPatch,
            c.ConnectionOut,
        ](
            self,
            config.connections,
            item_id=lambda ref: ref.connection_id,
            change=lambda req: (req.connection_id, req.patch),
            listing=lambda items: c.ConnectionList(items=items),
        )

    # ---- plumbing

    @asynccontextmanager
    async def tx(self, user: UUID) -> AsyncIterator[AsyncSession]:
        async with _database(self.rt).user_scope(user) as s:
            yield s

    async def own_bot(self, bot_id: UUID, user: UUID) -> BotSummary:
        """The bot; 404 unless it belongs to the caller (asked to bot-service)."""
        try:
            return await self.rt.client.call(
                GET_BOT, BotRef(bot_id=bot_id), user_id=user, timeout_s=5
            )
        except RpcError as err:
            if err.code is ErrorCode.NOT_FOUND:
                raise not_found("bot") from None
            raise

    async def live_context(
        self, bot_id: UUID, user: UUID, spec: c.CommandIn, sample: c.CommandSample
    ) -> LiveContext | None:
        """Where a dry run pretends to be, from the running bot's cache; None when the bot
        is not running (the dry run then uses sample names)."""
        def snowflake(value: str | None) -> str | None:
            return value if value and value.isdigit() and len(value) <= 20 else None

        req = ContextRequest(
            bot_id=bot_id,
            guild_id=snowflake(_sample_guild(spec, sample)),
            channel_id=snowflake(sample.channel_id),
        )
        try:
            return await self.rt.client.call(LIVE_CONTEXT, req, user_id=user, timeout_s=3)
        except RpcError:
            return None

    async def caller_owning(self, ctx: RpcContext, bot_id: UUID) -> UUID:
        """The calling user, once the bot is known to be theirs."""
        user = ctx.require_user()
        await self.own_bot(bot_id, user)
        return user

    async def announce(self, owner: UUID, bot_ids: list[UUID] | set[UUID]) -> None:
        """After a commit: refresh this replica's cache and tell everyone (bot-service syncs)."""
        self.cache.invalidate_owner(owner)
        for bot_id in sorted(bot_ids):
            self.cache.invalidate_bot(bot_id)
            setup = await self.cache.get(bot_id)
            event = c.CommandsChanged(
                owner_id=owner, bot_id=bot_id, hash=setup.manifest.hash, message="commands changed"
            )
            self.published.append(str(event.id))
            await self.rt.events.publish("command", "changed", event)

    def on_changed_event(self, subject: str, event_id: str | None) -> None:
        """`evt.command.<owner>.<bot>.changed` from any replica: drop what it touches."""
        if event_id is not None and event_id in self.published:
            return
        parts = subject.split(".")
        if len(parts) != 5:
            return
        try:
            owner = UUID(parts[2])
            self.cache.invalidate_owner(owner)
            if parts[3] != "-":
                self.cache.invalidate_bot(UUID(parts[3]))
        except ValueError:
            return

    async def on_bot_deleted(self, subject: str) -> None:
        """`evt.bot.<owner>.<bot>.deleted`: the bot's commands and settings go too."""
        parts = subject.split(".")
        try:
            owner, bot_id = UUID(parts[2]), UUID(parts[3])
        except (ValueError, IndexError):
            return
        async with self.tx(owner) as s:
            await self.config.purge_bot(s, bot_id)
        self.cache.invalidate_bot(bot_id)

    # ---- hot path

    async def execute(self, req: c.ExecuteCommand, ctx: RpcContext) -> c.CommandReply:
        try:
            async with asyncio.timeout(self.execute_timeout_s):
                reply, event = await self.executor.execute(req)
        except TimeoutError:
            return c.CommandReply(
                outcome="error",
                content="Sorry, this command took too long.",
                ephemeral=True,
                error="the command took longer than the execution limit",
            )
        if event is not None:
            self.rt.spawn(self._publish_executed(event), name="command-executed")
        return reply

    async def _publish_executed(self, event: c.CommandExecuted) -> None:
        try:
            await self.rt.events.publish("command", "executed", event)
        except Exception:
            log.warning("could not publish an executed event", exc_info=True)

    async def manifest(self, req: c.ManifestRequest, ctx: RpcContext) -> c.CommandManifest:
        return (await self.cache.get(req.bot_id)).manifest

    # ---- commands

    async def read_bot(
        self, ctx: RpcContext, bot_id: UUID, read: Callable[[AsyncSession], Awaitable[T]]
    ) -> T:
        """A read of one of the caller's bots."""
        async with self.tx(await self.caller_owning(ctx, bot_id)) as s:
            return await read(s)

    async def change_bot(
        self, ctx: RpcContext, bot_id: UUID, change: Callable[[AsyncSession, UUID], Awaitable[T]]
    ) -> T:
        """A change to one of the caller's bots (given the session and the caller): committed
        first, then announced."""
        user = await self.caller_owning(ctx, bot_id)
        async with self.tx(user) as s:
            out = await change(s, user)
        await self.announce(user, {bot_id})
        return out

    async def list(self, req: c.BotCommandRef, ctx: RpcContext) -> c.CommandList:
        items = await self.read_bot(
            ctx, req.bot_id, lambda s: self.config.list_commands(s, req.bot_id)
        )
        return c.CommandList(items=items)

    async def create(self, req: c.CreateCommand, ctx: RpcContext) -> c.CommandOut:
        return await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, user: self.config.create_command(s, user, req.bot_id, req.command),
        )

    async def get(self, req: c.CommandRef, ctx: RpcContext) -> c.CommandOut:
        return await self.read_bot(
            ctx, req.bot_id, lambda s: self.config.get_command(s, req.bot_id, req.command_id)
        )

    async def update(self, req: c.UpdateCommand, ctx: RpcContext) -> c.CommandOut:
        return await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, _: self.config.update_command(s, req.bot_id, req.command_id, req.patch),
        )

    async def delete(self, req: c.CommandRef, ctx: RpcContext) -> Empty:
        await self.change_bot(
            ctx, req.bot_id, lambda s, _: self.config.delete_command(s, req.bot_id, req.command_id)
        )
        return Empty()

    async def test(self, req: c.TestCommand, ctx: RpcContext) -> c.CommandReply:
        user = ctx.require_user()
        bot = await self.own_bot(req.bot_id, user)
        setup = await self.cache.get(req.bot_id)
        cmd = next((x for x in setup.commands if x.id == req.command_id), None)
        if cmd is None:
            raise not_found("command")
        live = await self.live_context(req.bot_id, user, cmd.spec, req)
        inv = _tester_invocation(cmd.spec, req, bot, live)
        async with asyncio.timeout(self.execute_timeout_s):
            reply, _ = await self.executor.run(setup, cmd, inv, dry_run=True)
        return reply

    async def preview(self, req: c.PreviewCommand, ctx: RpcContext) -> c.CommandReply:
        """Dry-run an unsaved command: validated like a create, nothing stored or announced."""
        user = ctx.require_user()
        bot = await self.own_bot(req.bot_id, user)
        async with self.tx(user) as s:
            conns, prompts = await self.config.check_preview(
                s, req.bot_id, req.command, req.command_id
            )
        saved = await self.cache.get(req.bot_id)
        cmd = Command(req.command_id or uuid4(), req.command)
        live = await self.live_context(req.bot_id, user, cmd.spec, req.sample)
        inv = _tester_invocation(cmd.spec, req.sample, bot, live)
        async with asyncio.timeout(self.execute_timeout_s):
            reply = await self.executor.preview(saved, cmd, inv, conns, prompts)
        reply.warnings = self.config.template_warnings(req.command, prompts)
        return reply

    async def variables(self, req: Empty, ctx: RpcContext) -> c.TemplateVariables:
        """The one list of template variables: the editor shows it, preview and save check
        templates against it."""
        return c.TemplateVariables(items=list(c.TEMPLATE_VARIABLES))

    async def settings_get(self, req: c.BotCommandRef, ctx: RpcContext) -> c.CommandSettings:
        return await self.read_bot(
            ctx, req.bot_id, lambda s: self.config.get_settings(s, req.bot_id)
        )

    async def settings_put(self, req: c.BotCommandSettings, ctx: RpcContext) -> c.CommandSettings:
        return await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, user: self.config.put_settings(s, user, req.bot_id, req.settings),
        )

    async def sync_status(self, req: c.BotCommandRef, ctx: RpcContext) -> c.SyncStatus:
        return await self.read_bot(
            ctx, req.bot_id, lambda s: self.config.sync_status(s, req.bot_id)
        )

    async def sync_report(self, req: c.SyncReport, ctx: RpcContext) -> Empty:
        owner = ctx.require_user()
        async with self.tx(owner) as s:
            await self.config.record_sync(s, owner, req.bot_id, req.hash, req.ok, req.error)
        return Empty()

    async def export(self, req: c.ExportRequest, ctx: RpcContext) -> c.BotImport:
        return await self.read_bot(ctx, req.bot_id, lambda s: self.config.export(s, req.bot_id))

    async def import_(self, req: c.ImportBot, ctx: RpcContext) -> c.ImportResult:
        user = await self.caller_owning(ctx, req.bot_id)
        doc = await self.rt.client.call(
            READ_CONFIG, ConfigRef(file_id=req.file_id), user_id=user, timeout_s=10
        )
        try:
            async with self.tx(user) as s:
                result, changed = await self.config.apply_import(s, user, req.bot_id, doc.document)
                if req.dry_run:
                    raise _DryRun(result)
        except _DryRun as dry:
            dry.result.dry_run = True
            return dry.result
        if changed:
            await self.announce(user, {req.bot_id})
        return result

    async def connection_test(
        self, req: c.ConnectionRef, ctx: RpcContext
    ) -> c.ConnectionTestResult:
        async with self.tx(ctx.require_user()) as s:
            conn = await self.config.connections.opened(s, req.connection_id)
        return await self.executor.test_connection(conn)

    # ---- account deletion

    async def purge(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        async with self.tx(req.user_id) as s:
            removed = await self.config.purge_owner(s, req.user_id)
        self.cache.invalidate_owner(req.user_id)
        return PurgeResult(service="command", removed=removed)


def _database(runtime: ServiceRuntime) -> Database:
    if runtime.db is None:
        raise RuntimeError("command-service needs a database")
    return runtime.db


def setup_loader(runtime: ServiceRuntime, config: ConfigService) -> Loader:
    """How the execution cache reads a bot's setup: as the system role, since an
    invocation comes from Discord (through bot-service) with no user."""

    async def load(bot_id: UUID) -> BotSetup:
        async with _database(runtime).system_scope() as s:
            return await config.load_setup(s, bot_id)

    return load
