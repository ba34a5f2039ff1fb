"""Thin RPC handlers: find the caller and the bot, call the service, commit, announce."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from command_service.automations import AutomationService
from command_service.bot_setup import BotSetup, Command
from command_service.execution.cache import Loader, SetupCache
from command_service.execution.executor import ADMINISTRATOR, Executor
from command_service.service import Actor, BotScope, ConfigService, ItemService, PatchT
from proto import automations as a
from proto import commands as c
from proto.access import Access
from proto.base import Contract, Empty
from proto.bots import GET_BOT, BotRef, BotSummary
from proto.errors import ErrorCode
from proto.fleet import LIVE_CONTEXT, ContextRequest, LiveContext
from proto.storage import READ_CONFIG, ConfigRef
from proto.system import PurgeResult, PurgeUser, PurgeWorkspace
from services.bus.rpc import RpcContext, answers
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


def actor_of(ctx: RpcContext) -> Actor:
    """The caller (UNAUTHENTICATED without one) and, for the audit record, the client the
    gateway saw (`bc-client`) and the request id."""
    return Actor.of(ctx.require_access(), ctx.headers)


T = TypeVar("T")
# What a handler does in a bot's transaction, as the caller, once the bot is found.
BotWork = Callable[[AsyncSession, Actor, BotScope], Awaitable[T]]
RefT = TypeVar("RefT", bound=Contract)
UpdateT = TypeVar("UpdateT", bound=Contract)
ListT = TypeVar("ListT", bound=Contract)


class _Creating(Protocol):
    @property
    def workspace_id(self) -> UUID | None: ...


class _InWorkspace(Protocol):
    @property
    def workspace_id(self) -> UUID: ...


CreateT = TypeVar("CreateT", bound=_Creating)
OutT = TypeVar("OutT", bound=_InWorkspace)


class ItemHandlers(Generic[RefT, UpdateT, ListT, CreateT, PatchT, OutT]):
    """The list/create/get/update/delete RPCs of prompts, or of connections: the requests
    differ only in the name of the id field, which `item_id` and `change` read."""

    def __init__(
        self,
        handlers: Handlers,
        # The stored row type is the service's business: handlers never see a row.
        items: ItemService[Any, Any, PatchT, OutT],
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

    async def list(self, req: c.WorkspaceFilter, ctx: RpcContext) -> ListT:
        actor = actor_of(ctx)
        async with self.h.tx(actor) as s:
            return self.listing(await self.items.list_all(s, actor, req.workspace_id))

    async def create(self, req: CreateT, ctx: RpcContext) -> OutT:
        actor = actor_of(ctx)
        async with self.h.tx(actor) as s:
            return await self.items.create(s, actor, req, req.workspace_id)

    async def get(self, req: RefT, ctx: RpcContext) -> OutT:
        async with self.h.tx(actor_of(ctx)) as s:
            return await self.items.get(s, self.item_id(req))

    async def update(self, req: UpdateT, ctx: RpcContext) -> OutT:
        """Committed first; then every bot whose commands use the item is announced."""
        actor = actor_of(ctx)
        item_id, patch = self.change(req)
        async with self.h.tx(actor) as s:
            out = await self.items.update(s, actor, item_id, patch)
        async with self.h.tx(actor) as s:
            bots = await self.items.bots_using(s, item_id)
        await self.h.announce(out.workspace_id, bots)
        return out

    async def delete(self, req: RefT, ctx: RpcContext) -> Empty:
        actor = actor_of(ctx)
        async with self.h.tx(actor) as s:
            await self.items.delete(s, actor, self.item_id(req))
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
            c.PromptRef, c.UpdatePrompt, c.PromptList, c.CreatePrompt, c.PromptPatch, c.PromptOut
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
            c.CreateConnection,
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
    async def tx(self, actor: Actor) -> AsyncIterator[AsyncSession]:
        """A transaction in the caller's scope: rows of their workspaces only."""
        async with _database(self.rt).access_scope(actor.access) as s:
            yield s

    @asynccontextmanager
    async def system_tx(self, workspace_id: UUID) -> AsyncIterator[AsyncSession]:
        """A transaction of command-service's own for one workspace (deletions)."""
        async with _database(self.rt).access_scope(Access.system_for("command", workspace_id)) as s:
            yield s

    async def find_bot(self, actor: Actor, bot_id: UUID) -> tuple[BotScope, BotSummary]:
        """The bot and its workspace; 404 unless the caller can see it (asked to
        bot-service with the caller's own headers, then the caller's bot limit)."""
        try:
            bot = await self.rt.client.call(GET_BOT, BotRef(bot_id=bot_id), timeout_s=5)
        except RpcError as err:
            if err.code is ErrorCode.NOT_FOUND:
                raise not_found("bot") from None
            raise
        workspace = bot.workspace_id
        if not actor.access.sees(workspace, bot_id):
            raise not_found("bot")
        return BotScope(bot_id=bot_id, workspace_id=workspace), bot

    async def bot_of(self, ctx: RpcContext, bot_id: UUID) -> tuple[Actor, BotScope]:
        actor = actor_of(ctx)
        bot, _ = await self.find_bot(actor, bot_id)
        return actor, bot

    async def live_context(
        self, bot_id: UUID, spec: c.CommandIn, sample: c.CommandSample
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
            return await self.rt.client.call(LIVE_CONTEXT, req, timeout_s=3)
        except RpcError:
            return None

    async def announce(self, workspace_id: UUID, bot_ids: list[UUID] | set[UUID]) -> None:
        """After a commit: refresh this replica's cache and tell everyone (bot-service syncs)."""
        self.cache.invalidate_workspace(workspace_id)
        for bot_id in sorted(bot_ids):
            self.cache.invalidate_bot(bot_id)
            setup = await self.cache.get(bot_id)
            event = c.CommandsChanged(
                owner_id=workspace_id,
                bot_id=bot_id,
                hash=setup.manifest.hash,
                message="commands changed",
            )
            self.published.append(str(event.id))
            await self.rt.events.publish("command", "changed", event)

    def on_changed_event(self, subject: str, event_id: str | None) -> None:
        """`evt.command.<workspace>.<bot>.changed` from any replica: drop what it touches."""
        if event_id is not None and event_id in self.published:
            return
        parts = subject.split(".")
        if len(parts) != 5:
            return
        try:
            workspace = UUID(parts[2])
            self.cache.invalidate_workspace(workspace)
            if parts[3] != "-":
                self.cache.invalidate_bot(UUID(parts[3]))
        except ValueError:
            return

    async def on_bot_deleted(self, subject: str) -> None:
        """`evt.bot.<workspace>.<bot>.deleted`: the bot's commands and settings go too."""
        parts = subject.split(".")
        try:
            workspace, bot_id = UUID(parts[2]), UUID(parts[3])
        except (ValueError, IndexError):
            return
        async with self.system_tx(workspace) as s:
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

    async def _on_bot(self, ctx: RpcContext, bot_id: UUID, work: BotWork[T]) -> tuple[T, BotScope]:
        actor, bot = await self.bot_of(ctx, bot_id)
        async with self.tx(actor) as s:
            return await work(s, actor, bot), bot

    async def read_bot(self, ctx: RpcContext, bot_id: UUID, read: BotWork[T]) -> T:
        """A read of a bot the caller can see (the service checks the permission)."""
        out, _ = await self._on_bot(ctx, bot_id, read)
        return out

    async def change_bot(self, ctx: RpcContext, bot_id: UUID, change: BotWork[T]) -> T:
        """A change to a bot's commands: committed first, then announced."""
        out, bot = await self._on_bot(ctx, bot_id, change)
        await self.announce(bot.workspace_id, {bot_id})
        return out

    async def list(self, req: c.BotCommandRef, ctx: RpcContext) -> c.CommandList:
        return c.CommandList(items=await self.read_bot(ctx, req.bot_id, self.config.list_commands))

    async def create(self, req: c.CreateCommand, ctx: RpcContext) -> c.CommandOut:
        return await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, actor, bot: self.config.create_command(s, actor, bot, req.command),
        )

    async def get(self, req: c.CommandRef, ctx: RpcContext) -> c.CommandOut:
        return await self.read_bot(
            ctx,
            req.bot_id,
            lambda s, actor, bot: self.config.get_command(s, actor, bot, req.command_id),
        )

    async def update(self, req: c.UpdateCommand, ctx: RpcContext) -> c.CommandOut:
        return await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, actor, bot: self.config.update_command(
                s, actor, bot, req.command_id, req.patch
            ),
        )

    async def delete(self, req: c.CommandRef, ctx: RpcContext) -> Empty:
        await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, actor, bot: self.config.delete_command(s, actor, bot, req.command_id),
        )
        return Empty()

    async def test(self, req: c.TestCommand, ctx: RpcContext) -> c.CommandReply:
        actor = actor_of(ctx)
        scope, bot = await self.find_bot(actor, req.bot_id)
        self.config.check_test(actor, scope)
        setup = await self.cache.get(req.bot_id)
        cmd = next((x for x in setup.commands if x.id == req.command_id), None)
        if cmd is None:
            raise not_found("command")
        live = await self.live_context(req.bot_id, cmd.spec, req)
        inv = _tester_invocation(cmd.spec, req, bot, live)
        async with asyncio.timeout(self.execute_timeout_s):
            reply, _ = await self.executor.run(setup, cmd, inv, dry_run=True)
        return reply

    async def preview(self, req: c.PreviewCommand, ctx: RpcContext) -> c.CommandReply:
        """Dry-run an unsaved command: validated like a create, nothing stored or announced."""
        actor = actor_of(ctx)
        scope, bot = await self.find_bot(actor, req.bot_id)
        async with self.tx(actor) as s:
            conns, prompts = await self.config.check_preview(
                s, actor, scope, req.command, req.command_id
            )
        saved = await self.cache.get(req.bot_id)
        cmd = Command(req.command_id or uuid4(), req.command)
        live = await self.live_context(req.bot_id, cmd.spec, req.sample)
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
        return await self.read_bot(ctx, req.bot_id, self.config.get_settings)

    async def settings_put(self, req: c.BotCommandSettings, ctx: RpcContext) -> c.CommandSettings:
        return await self.change_bot(
            ctx,
            req.bot_id,
            lambda s, actor, bot: self.config.put_settings(s, actor, bot, req.settings),
        )

    async def sync_status(self, req: c.BotCommandRef, ctx: RpcContext) -> c.SyncStatus:
        return await self.read_bot(ctx, req.bot_id, self.config.sync_status)

    async def sync_report(self, req: c.SyncReport, ctx: RpcContext) -> Empty:
        """From the fleet, as the bot's owner or for its workspace: no audit record (the
        sync is not a change anyone asked for)."""
        actor, bot = await self.bot_of(ctx, req.bot_id)
        async with self.tx(actor) as s:
            await self.config.record_sync(s, bot, req.hash, req.ok, req.error)
        return Empty()

    async def export(self, req: c.ExportRequest, ctx: RpcContext) -> c.BotImport:
        return await self.read_bot(ctx, req.bot_id, self.config.export)

    async def import_(self, req: c.ImportBot, ctx: RpcContext) -> c.ImportResult:
        actor, bot = await self.bot_of(ctx, req.bot_id)
        self.config.check_import(actor, bot)
        # storage-service refuses (422) a file of another workspace than the bot's.
        ref = ConfigRef(file_id=req.file_id, workspace_id=bot.workspace_id)
        doc = await self.rt.client.call(READ_CONFIG, ref, timeout_s=10)
        try:
            async with self.tx(actor) as s:
                result, changed = await self.config.apply_import(s, actor, bot, doc.document)
                if req.dry_run:
                    raise _DryRun(result)
        except _DryRun as dry:
            dry.result.dry_run = True
            return dry.result
        if changed:
            await self.announce(bot.workspace_id, {req.bot_id})
        return result

    async def connection_test(
        self, req: c.ConnectionRef, ctx: RpcContext
    ) -> c.ConnectionTestResult:
        actor = actor_of(ctx)
        async with self.tx(actor) as s:
            conn = await self.config.connections.opened(s, actor, req.connection_id)
        return await self.executor.test_connection(conn)

    # ---- account and workspace deletion (auth-service asks; both idempotent)

    async def purge(self, req: PurgeUser, ctx: RpcContext) -> PurgeResult:
        """An account's data is its personal workspace's, whose id is the user's."""
        return await self._purge(req.user_id)

    async def purge_workspace(self, req: PurgeWorkspace, ctx: RpcContext) -> PurgeResult:
        return await self._purge(req.workspace_id)

    async def _purge(self, workspace_id: UUID) -> PurgeResult:
        async with self.system_tx(workspace_id) as s:
            removed = await self.config.purge_workspace(s, workspace_id)
        self.cache.invalidate_workspace(workspace_id)
        return PurgeResult(service="command", removed=removed)


class _OfBot(Protocol):
    @property
    def bot_id(self) -> UUID: ...


BotReqT = TypeVar("BotReqT", bound=_OfBot)


class AutomationHandlers:
    """Automations, their runs and variables (#18): each request finds the caller's bot
    through `Handlers` (404 for a bot of another workspace) and commits what the service
    layer decides."""

    def __init__(self, handlers: Handlers, automations: AutomationService) -> None:
        self.h = handlers
        self.automations = automations

    async def _serve(
        self,
        ctx: RpcContext,
        req: BotReqT,
        serve: Callable[[AsyncSession, Actor, BotScope, BotReqT], Awaitable[T]],
    ) -> T:
        return await self.h.read_bot(
            ctx, req.bot_id, lambda s, actor, bot: serve(s, actor, bot, req)
        )

    async def _change(
        self,
        ctx: RpcContext,
        req: BotReqT,
        serve: Callable[[AsyncSession, Actor, BotScope, BotReqT], Awaitable[T]],
    ) -> T:
        """A change to a bot's automations: committed, then announced with the bot's new
        trigger manifest hash (bot-service refreshes what it forwards)."""
        actor, bot = await self.h.bot_of(ctx, req.bot_id)
        async with self.h.tx(actor) as s:
            out = await serve(s, actor, bot, req)
        async with self.h.tx(actor) as s:
            manifest = await self.automations.manifest(s, bot)
        event = a.TriggersChanged(
            workspace_id=bot.workspace_id,
            bot_id=bot.bot_id,
            hash=manifest.hash,
            message="automations changed",
        )
        await self.h.rt.events.publish("command", "triggers_changed", event)
        return out

    @answers(a.AUTOMATION_LIST)
    async def list(self, req: a.BotAutomationRef, ctx: RpcContext) -> a.AutomationList:
        return await self._serve(ctx, req, self.automations.list)

    @answers(a.AUTOMATION_GET)
    async def get(self, req: a.AutomationRef, ctx: RpcContext) -> a.AutomationOut:
        return await self._serve(ctx, req, self.automations.get)

    @answers(a.AUTOMATION_CREATE)
    async def create(self, req: a.CreateAutomation, ctx: RpcContext) -> a.AutomationOut:
        return await self._change(ctx, req, self.automations.create)

    @answers(a.AUTOMATION_UPDATE)
    async def update(self, req: a.UpdateAutomation, ctx: RpcContext) -> a.AutomationOut:
        return await self._change(ctx, req, self.automations.update)

    @answers(a.AUTOMATION_DELETE)
    async def delete(self, req: a.AutomationRef, ctx: RpcContext) -> Empty:
        return await self._change(ctx, req, self.automations.delete)

    @answers(a.AUTOMATION_RUNS)
    async def runs(self, req: a.RunsQuery, ctx: RpcContext) -> a.RunPage:
        return await self._serve(ctx, req, self.automations.runs)

    @answers(a.VARIABLE_LIST)
    async def variables(self, req: a.VariablesQuery, ctx: RpcContext) -> a.VariableList:
        return await self._serve(ctx, req, self.automations.variables)

    @answers(a.VARIABLE_PUT)
    async def put_variable(self, req: a.PutVariable, ctx: RpcContext) -> a.VariableOut:
        return await self._serve(ctx, req, self.automations.put_variable)

    @answers(a.VARIABLE_DELETE)
    async def delete_variable(self, req: a.VariableRef, ctx: RpcContext) -> Empty:
        return await self._serve(ctx, req, self.automations.delete_variable)


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
