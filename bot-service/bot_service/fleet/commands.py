"""Commands: interactions and prefix messages go to command-service (`rpc.command.execute`)
and its answer goes back to Discord; application commands are synced (bulk overwrite) by
the replica running shard 0 when the manifest's hash changed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import discord

from bot_service.fleet.cache import invoker_of, place_of
from bot_service.fleet.host import FleetCore
from proto.access import Access
from proto.commands import (
    EXECUTE,
    MANIFEST,
    SYNC_REPORT,
    CommandManifest,
    CommandReply,
    CommandsChanged,
    ExecuteCommand,
    Invocation,
    InvocationKind,
    ManifestRequest,
    SyncReport,
)
from proto.events import LogLevel
from proto.logs import LogRecorded
from services.bus.types import Msg, Subscription
from services.errors import RpcError
from services.sizes import human_duration

if TYPE_CHECKING:
    from bot_service.fleet.host import UnitKey
    from bot_service.fleet.unit import ShardUnit
    from proto.fleet import DesiredBot
    from services.bus.kv import Store


def _for_workspace(desired: DesiredBot) -> Access:
    """How the fleet calls command-service about a bot: as bot-service itself acting for
    the bot's workspace (#17), not as a person."""
    return Access.system_for("bot", desired.workspace_id)


log = logging.getLogger(__name__)

UNAVAILABLE_TEXT = "This command is not available right now. Please try again later."
MANIFEST_RETRY_S = 30.0


def _options(raw: list[dict[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for opt in raw or []:
        if "options" in opt and opt.get("type") in (1, 2):
            out[opt["name"]] = _options(opt.get("options"))
        else:
            out[opt["name"]] = opt.get("value")
    return out


_KIND_OF_COMMAND_TYPE: dict[int, InvocationKind] = {
    1: "slash",
    2: "user_context",
    3: "message_context",
}


def invocation_of(interaction: discord.Interaction) -> Invocation | None:
    data: dict[str, Any] = dict(interaction.data or {})
    kind: InvocationKind
    if interaction.type is discord.InteractionType.application_command:
        kind = _KIND_OF_COMMAND_TYPE.get(int(data.get("type", 1)), "slash")
        name = str(data.get("name", ""))
    elif interaction.type is discord.InteractionType.component:
        kind = "component"
        name = str(data.get("custom_id", ""))
    else:
        return None
    perms = getattr(interaction, "permissions", None)
    return Invocation(
        kind=kind,
        name=name,
        options=_options(data.get("options")),
        user=invoker_of(interaction.user, str(perms.value) if perms is not None else "0"),
        **place_of(interaction.client.user, interaction.guild, interaction.channel),
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        target_id=str(data["target_id"]) if data.get("target_id") else None,
        locale=str(interaction.locale) if interaction.locale else None,
        interaction_id=str(interaction.id),
    )


def _discord_error(exc: discord.HTTPException) -> tuple[str, bool]:
    """Discord's error as a user can read it, and whether trying again later may help."""
    detail = (exc.text or "").strip() or str(exc.response.reason or "")
    text = f"{exc.status} {detail}".strip()
    if exc.code:
        text += f" (code {exc.code})"
    return text[:1900], exc.status == 429 or exc.status >= 500


def _embeds(reply: CommandReply) -> list[discord.Embed]:
    out = []
    for raw in reply.embeds[:10]:
        with contextlib.suppress(Exception):
            out.append(discord.Embed.from_dict(raw))
    return out


class BridgeHost(FleetCore, Protocol):
    """What the command bridge needs of the fleet."""

    @property
    def desired(self) -> Mapping[UUID, DesiredBot]: ...

    @property
    def units(self) -> Mapping[UnitKey, ShardUnit]: ...

    @property
    def plans_kv(self) -> Store: ...

    def unit_of(self, bot_id: UUID, shard_id: int = 0) -> ShardUnit | None: ...


class CommandBridge:
    def __init__(self, fleet: BridgeHost) -> None:
        self.fleet = fleet
        self.manifests: dict[UUID, CommandManifest] = {}
        self._manifest_at: dict[UUID, float] = {}
        self._sub: Subscription | None = None
        self._syncing: dict[UUID, asyncio.Task[None]] = {}
        self._retries: set[asyncio.Task[None]] = set()
        self._again: set[UUID] = set()
        # The last sync's result per bot: (ok, Discord's error, number of commands).
        self.results: dict[UUID, tuple[bool, str | None, int]] = {}

    async def start(self) -> None:
        self._sub = await self.fleet.runtime.nc.subscribe(
            "evt.command.*.*.changed", cb=self._on_changed
        )

    async def stop(self) -> None:
        for task in list(self._retries):
            task.cancel()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    # ------------------------------------------------------------------ manifests
    async def _on_changed(self, msg: Msg) -> None:
        try:
            event = CommandsChanged.model_validate_json(msg.data)
        except Exception:
            return
        bot_id = event.bot_id
        if bot_id is None or not any(k.bot_id == bot_id for k in self.fleet.units):
            return
        self._manifest_at.pop(bot_id, None)
        unit = self.fleet.unit_of(bot_id, 0)
        if unit is not None and unit.state == "online":
            self._schedule_sync(unit)
        else:
            with contextlib.suppress(Exception):
                await self.manifest(bot_id, refresh=True)

    async def manifest(self, bot_id: UUID, *, refresh: bool = False) -> CommandManifest | None:
        """The bot's command manifest (cached); None when command-service does not answer."""
        cached = self.manifests.get(bot_id)
        if cached is not None and not refresh:
            return cached
        if (
            not refresh
            and time.monotonic() - self._manifest_at.get(bot_id, -1e9) < MANIFEST_RETRY_S
        ):
            return cached
        self._manifest_at[bot_id] = time.monotonic()
        desired = self.fleet.desired.get(bot_id)
        if desired is None:
            return None
        try:
            manifest = await self.fleet.runtime.client.call(
                MANIFEST,
                ManifestRequest(bot_id=bot_id),
                access=_for_workspace(desired),
                timeout_s=5,
            )
        except RpcError as exc:
            log.warning(
                "no command manifest for bot %s (%s): the bot runs without commands",
                bot_id,
                exc.code.value,
            )
            return cached
        self.manifests[bot_id] = manifest
        return manifest

    def bot_online(self, unit: ShardUnit) -> None:
        self._schedule_sync(unit)

    def _schedule_sync(self, unit: ShardUnit) -> None:
        bot_id = unit.key.bot_id
        running = self._syncing.get(bot_id)
        if running is not None and not running.done():
            self._again.add(bot_id)  # a change during a sync: sync once more after it
            return
        self._syncing[bot_id] = asyncio.create_task(self._sync_until_settled(unit))

    async def _sync_until_settled(self, unit: ShardUnit) -> None:
        bot_id = unit.key.bot_id
        while True:
            self._again.discard(bot_id)
            await self._sync(unit)
            if bot_id not in self._again:
                return

    async def sync_now(self, unit: ShardUnit) -> tuple[bool, str | None, int]:
        """Overwrite the bot's application commands now, even when Discord should have them
        ("Sync now"), after a sync already running; its result."""
        bot_id = unit.key.bot_id
        running = self._syncing.get(bot_id)
        if running is not None and not running.done():
            with contextlib.suppress(Exception):
                await running
        self.results.pop(bot_id, None)
        task = asyncio.create_task(self._sync(unit, force=True))
        self._syncing[bot_id] = task
        await task
        if bot_id in self._again:  # the commands changed meanwhile: the usual sync follows
            self._schedule_sync(unit)
        result = self.results.get(bot_id)
        if result is None:
            return False, "the bot's commands could not be read; try again", 0
        return result

    async def _sync(self, unit: ShardUnit, *, force: bool = False) -> None:
        """Bulk-overwrite the bot's application commands when the manifest hash changed (or
        `force`), then report the result (ok or Discord's error) to command-service and the
        bot's logs."""
        bot_id = unit.key.bot_id
        try:
            manifest = await self.manifest(bot_id, refresh=True)
            client = unit.client
            if manifest is None or client is None or client.application_id is None:
                return
            count = len(manifest.global_commands) + sum(
                len(c) for c in manifest.guild_commands.values()
            )
            key = f"{bot_id}.commands"
            got = await self.fleet.plans_kv.get(key)
            applied: dict[str, Any] = json.loads(got[0]) if got else {}
            if applied.get("hash") == manifest.hash and not force:
                self.results[bot_id] = (True, None, count)
                # Discord has it; if command-service never heard, say so again.
                if not applied.get("reported", True) and await self._report(
                    unit, manifest.hash, True, None
                ):
                    applied["reported"] = True
                    await self.fleet.plans_kv.put(key, json.dumps(applied).encode())
                return
            error = await self._overwrite(client, manifest, set(applied.get("guilds", [])))
        except Exception:
            log.warning("command sync of bot %s failed", bot_id, exc_info=True)
            return
        if error is None:
            reported = await self._report(unit, manifest.hash, True, None)
            value = {
                "hash": manifest.hash,
                "guilds": sorted(manifest.guild_commands),
                "reported": reported,
            }
            with contextlib.suppress(Exception):
                await self.fleet.plans_kv.put(key, json.dumps(value).encode())
            log.info("synced application commands of bot %s", bot_id)
            self.results[bot_id] = (True, None, count)
            await self._log(
                unit,
                "info",
                f"Application commands synced to Discord ({count} commands).",
                {"hash": manifest.hash, "ok": True},
            )
            return
        text, transient = error
        self.results[bot_id] = (False, text, 0)
        log.warning("command sync of bot %s refused: %s", bot_id, text)
        # What Discord has is now unknown (a part may have been applied): forget the hash so
        # the next attempt overwrites again, and remember every guild that may hold commands.
        tried = set(applied.get("guilds", [])) | set(manifest.guild_commands)
        with contextlib.suppress(Exception):
            await self.fleet.plans_kv.put(
                key, json.dumps({"hash": None, "guilds": sorted(tried)}).encode()
            )
        await self._report(unit, manifest.hash, False, text)
        await self._log(
            unit,
            "error",
            f"Discord refused the application commands: {text}",
            {"hash": manifest.hash, "ok": False, "error": text},
        )
        if transient:
            self._retry_later(unit)

    async def _overwrite(
        self, client: discord.Client, manifest: CommandManifest, old_guilds: set[str]
    ) -> tuple[str, bool] | None:
        """The bulk overwrites; None when Discord took them all, else (error text, transient)."""
        app_id = client.application_id
        assert app_id is not None
        try:
            await client.http.bulk_upsert_global_commands(app_id, manifest.global_commands)
            for guild_id, cmds in manifest.guild_commands.items():
                try:
                    await client.http.bulk_upsert_guild_commands(app_id, int(guild_id), cmds)
                except discord.HTTPException as exc:
                    text, transient = _discord_error(exc)
                    return f"guild {guild_id}: {text}", transient
            for guild_id in old_guilds - set(manifest.guild_commands):
                with contextlib.suppress(discord.HTTPException):
                    await client.http.bulk_upsert_guild_commands(app_id, int(guild_id), [])
        except discord.RateLimited as exc:
            wait = human_duration(exc.retry_after)
            return f"rate limited by Discord (trying again in {wait})", True
        except discord.HTTPException as exc:
            return _discord_error(exc)
        except (TimeoutError, OSError) as exc:
            return f"Discord could not be reached ({type(exc).__name__})", True
        return None

    def _retry_later(self, unit: ShardUnit) -> None:
        async def later() -> None:
            await asyncio.sleep(self.fleet.settings.command_sync_retry_s)
            current = self.fleet.unit_of(unit.key.bot_id, 0)
            if current is not None and current.state == "online":
                self._schedule_sync(current)

        task = asyncio.create_task(later())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _report(self, unit: ShardUnit, hash_: str, ok: bool, error: str | None) -> bool:
        try:
            await self.fleet.runtime.client.call(
                SYNC_REPORT,
                SyncReport(bot_id=unit.key.bot_id, hash=hash_, ok=ok, error=error),
                access=_for_workspace(unit.desired),
                timeout_s=5,
            )
        except Exception as exc:
            log.warning("could not report the command sync of bot %s: %s", unit.key.bot_id, exc)
            return False
        return True

    async def _log(
        self, unit: ShardUnit, level: LogLevel, message: str, details: dict[str, Any]
    ) -> None:
        event = LogRecorded(
            owner_id=unit.desired.workspace_id,
            bot_id=unit.key.bot_id,
            message=message,
            level=level,
            source="commands.sync",
            details=details,
        )
        try:
            await self.fleet.runtime.events.publish("log", level, event)
        except Exception:
            log.warning("could not publish the sync log of bot %s", unit.key.bot_id)

    # ------------------------------------------------------------------ execution
    async def _execute(self, unit: ShardUnit, invocation: Invocation) -> CommandReply:
        try:
            return await self.fleet.runtime.client.call(
                EXECUTE,
                ExecuteCommand(bot_id=unit.key.bot_id, invocation=invocation),
                access=_for_workspace(unit.desired),
                timeout_s=self.fleet.settings.execute_timeout_s,
            )
        except RpcError as exc:
            log.warning(
                "command %s of bot %s: %s", invocation.name, unit.key.bot_id, exc.code.value
            )
            return CommandReply(
                outcome="error", content=UNAVAILABLE_TEXT, ephemeral=True, error=exc.code.value
            )

    async def on_interaction(self, unit: ShardUnit, interaction: discord.Interaction) -> None:
        invocation = invocation_of(interaction)
        if invocation is None:
            return
        call = asyncio.create_task(self._execute(unit, invocation))
        done, _ = await asyncio.wait({call}, timeout=self.fleet.settings.defer_after_s)
        deferred = False
        if not done:
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.defer(thinking=True)
                deferred = True
        reply = await call
        content = (reply.content or "")[:2000] or None
        embeds = _embeds(reply)
        if content is None and not embeds:
            content = "Done." if reply.outcome == "ok" else UNAVAILABLE_TEXT
        try:
            if deferred:
                await interaction.followup.send(
                    content=content or "", embeds=embeds, ephemeral=reply.ephemeral
                )
            else:
                await interaction.response.send_message(
                    content=content, embeds=embeds, ephemeral=reply.ephemeral
                )
        except discord.HTTPException as exc:
            log.warning(
                "could not answer an interaction of bot %s: %s", unit.key.bot_id, exc.status
            )

    async def on_message(self, unit: ShardUnit, message: discord.Message) -> None:
        if message.author.bot or not message.content:
            return
        manifest = await self.manifest(unit.key.bot_id)
        if manifest is None or not manifest.prefix:
            return
        if not message.content.startswith(manifest.prefix):
            return
        rest = message.content[len(manifest.prefix) :].strip()
        if not rest:
            return
        name = rest.split()[0]
        if manifest.prefix_commands and name not in manifest.prefix_commands:
            return
        me = unit.client.user if unit.client is not None else None
        invocation = Invocation(
            kind="prefix",
            name=name,
            user=invoker_of(message.author),
            guild_id=str(message.guild.id) if message.guild else None,
            channel_id=str(message.channel.id),
            content=message.content,
            **place_of(me, message.guild, message.channel),
        )
        reply = await self._execute(unit, invocation)
        content = (reply.content or "")[:2000] or None
        embeds = _embeds(reply)
        if content is None and not embeds:
            return
        try:
            await message.channel.send(content=content, embeds=embeds)
        except discord.HTTPException as exc:
            log.warning("could not answer a message of bot %s: %s", unit.key.bot_id, exc.status)
