"""Runs a command for an invocation: checks (enabled, permissions, cooldown) before any
work, then the response (template, http, ai) under time limits. Never raises for a
command's own failure: the Discord user gets a short polite message, the owner the cause."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from command_service.bot_setup import BotSetup, Command, Connection
from command_service.execution.cache import SetupCache
from command_service.execution.outbound import Credentials, Outbound, OutboundError
from command_service.execution.templates import Renderer, RenderError
from proto.commands import (
    AiResponse,
    CommandExecuted,
    CommandIn,
    CommandOption,
    CommandReply,
    ConnectionTestResult,
    EmbedTemplate,
    ExecuteCommand,
    HttpResponse,
    Invocation,
    PromptIn,
    TemplateResponse,
)
from services.sizes import human_duration
from services.telemetry.redaction import redact

DISCORD_LIMIT = 2000
TRUNCATED_NOTE = "\n… (cut to Discord's 2,000-character limit)"
FAILED_MESSAGE = "Sorry, this command failed. The bot's owner can see why in the logs."
ADMINISTRATOR = 1 << 3

Publish = Callable[[CommandExecuted], Awaitable[None]]
log = logging.getLogger(__name__)


class CommandFailed(Exception):
    """The command could not answer; the message is for the owner's logs."""


_KEY_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,100}")


def cooldown_keys(cmd: Command, inv: Invocation) -> list[tuple[str, int]]:
    """(key, seconds) of the cooldowns this invocation is subject to: per (command, user)
    and per (command, guild). Keys are valid NATS KV keys (ids that are not get hashed)."""

    def token(value: str) -> str:
        if _KEY_TOKEN.fullmatch(value):
            return value
        return hashlib.sha256(value.encode()).hexdigest()[:32]

    keys: list[tuple[str, int]] = []
    if cmd.spec.cooldown_user_s:
        keys.append((f"{cmd.id}.u.{token(inv.user.id)}", cmd.spec.cooldown_user_s))
    if cmd.spec.cooldown_guild_s and inv.guild_id:
        keys.append((f"{cmd.id}.g.{token(inv.guild_id)}", cmd.spec.cooldown_guild_s))
    return keys


class Cooldowns:
    """This replica's own cooldown clock: used when there is no shared store (tests, a
    single process) and while the shared one cannot be reached."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._until: dict[str, float] = {}
        self._max = max_keys

    def check(self, cmd: Command, inv: Invocation, now: float) -> float:
        """Seconds left on a cooldown, or 0 and the cooldowns start now."""
        keys = cooldown_keys(cmd, inv)
        left = max((self._until.get(k, 0.0) - now for k, _ in keys), default=0.0)
        if left > 0:
            return left
        if len(self._until) > self._max:
            self._until = {k: v for k, v in self._until.items() if v > now}
        for key, seconds in keys:
            self._until[key] = now + seconds
        return 0.0

    async def left(self, cmd: Command, inv: Invocation) -> float:
        return self.check(cmd, inv, time.monotonic())


class CooldownStore(Protocol):
    """A key-value store shared by the replicas, with expiry per key (NATS KV)."""

    async def get(self, key: str) -> tuple[bytes, int] | None: ...

    async def create(self, key: str, value: bytes, *, ttl_s: float | None = None) -> int | None: ...

    async def delete(self, key: str, *, revision: int | None = None) -> bool: ...


class SharedCooldowns:
    """Cooldowns every replica sees: a running cooldown is a key that expires with it, and
    starting one is a create that fails when another replica started it first."""

    def __init__(self, store: CooldownStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.fallback = Cooldowns()
        self.degraded = False

    async def left(self, cmd: Command, inv: Invocation) -> float:
        keys = cooldown_keys(cmd, inv)
        if not keys:
            return 0.0
        try:
            left = await self._left(keys)
        except Exception as exc:
            # The store is unreachable: commands keep working on this replica's own clock.
            if not self.degraded:
                self.degraded = True
                log.warning(
                    "shared cooldowns unavailable (%s); using local ones", type(exc).__name__
                )
            return self.fallback.check(cmd, inv, time.monotonic())
        if self.degraded:
            self.degraded = False
            log.info("shared cooldowns available again")
        return left

    async def _left(self, keys: list[tuple[str, int]]) -> float:
        now = self.clock()
        left = 0.0
        for key, seconds in keys:
            left = max(left, await self._running(key, seconds, now))
        if left > 0:
            return left
        started: list[tuple[str, int]] = []
        for key, seconds in keys:
            revision = await self.store.create(key, b"%.3f" % (now + seconds), ttl_s=seconds)
            if revision is None:
                # Another replica started this one a moment ago: the invocation waits, and
                # the cooldowns it started here are taken back.
                for k, r in started:
                    await self.store.delete(k, revision=r)
                return max(await self._running(key, seconds, now), 1.0)
            started.append((key, revision))
        return 0.0

    async def _running(self, key: str, seconds: int, now: float) -> float:
        found = await self.store.get(key)
        if found is None:
            return 0.0
        try:
            until = float(found[0])
        except ValueError:
            until = now
        # The key's expiry is what counts (replica clocks differ a little): while it
        # exists, the cooldown runs, and never for longer than the command's cooldown.
        return min(max(until - now, 1.0), float(seconds))


@dataclass
class Limits:
    ai_timeout_s: float = 20.0
    max_answer_chars: int = DISCORD_LIMIT


def scrub(text: str, secrets: list[str]) -> str:
    """A run's text for its owner (reply error, event): without the owner's connection
    secrets (any length, wherever they appear) nor anything token-like. Other users'
    secrets registered in this process are not consulted: matching them here would tell
    one user that a text of theirs equals another user's secret, and a secret that is a
    common word would blank that word out of everyone's events."""
    return sendable(redact(text, secrets, registry=False))


def sendable(text: str) -> str:
    """`text` as valid Unicode: a lone surrogate (JSON lets an API answer `"\\ud800"`)
    becomes "?" instead of breaking the reply's serialization."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def truncate(text: str, limit: int = DISCORD_LIMIT) -> str:
    """A text for Discord: valid Unicode, cut to `limit` characters with a note."""
    text = sendable(text)
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATED_NOTE)] + TRUNCATED_NOTE


def allowed(cmd: CommandIn, inv: Invocation) -> bool:
    if not (cmd.required_permissions or cmd.required_role_ids):
        return True
    if inv.guild_id is None:
        return False  # role and permission requirements only make sense in a server
    try:
        have = int(inv.user.permissions or "0")
    except ValueError:
        have = 0
    if cmd.required_permissions:
        need = int(cmd.required_permissions)
        if not have & ADMINISTRATOR and have & need != need:
            return False
    return not cmd.required_role_ids or bool(set(cmd.required_role_ids) & set(inv.user.roles))


def _coerce(option: CommandOption, raw: str) -> Any:
    if option.type == "integer":
        return int(raw)
    if option.type == "number":
        return float(raw)
    if option.type == "boolean":
        lowered = raw.lower()
        if lowered in ("true", "yes", "y", "1", "on"):
            return True
        if lowered in ("false", "no", "n", "0", "off"):
            return False
        raise ValueError(raw)
    if option.type in ("user", "channel", "role"):
        return raw.strip("<@#&!>")
    return raw


def parse_prefix_args(
    cmd: CommandIn, inv: Invocation, prefix: str | None
) -> tuple[list[str], dict[str, Any]]:
    """Words after `<prefix><name>`, mapped onto the options in order (the last string
    option takes the rest of the line)."""
    text = inv.content or ""
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    parts = text.split(None, 1)
    rest = parts[1] if len(parts) > 1 else ""
    args = rest.split()
    options: dict[str, Any] = {}
    remaining = rest
    for i, option in enumerate(cmd.options):
        remaining = remaining.lstrip()
        if not remaining:
            if option.required:
                raise CommandFailed(f"missing value for {option.name}")
            break
        last = i == len(cmd.options) - 1
        if last and option.type == "string":
            word, remaining = remaining, ""
        else:
            pieces = remaining.split(None, 1)
            word, remaining = pieces[0], pieces[1] if len(pieces) > 1 else ""
        try:
            options[option.name] = _coerce(option, word)
        except ValueError:
            raise CommandFailed(f"{option.name} must be a {option.type}") from None
    return args, options


def usage(cmd: CommandIn, prefix: str | None) -> str:
    parts = [f"{prefix or ''}{cmd.name}"]
    parts += [f"<{o.name}>" if o.required else f"[{o.name}]" for o in cmd.options]
    return "Usage: " + " ".join(parts)


def _connection_of(cmd: Command | None) -> UUID | None:
    """The API connection a command calls (HTTP and AI responses), if any."""
    response = cmd.spec.response if cmd is not None else None
    return response.connection_id if isinstance(response, HttpResponse | AiResponse) else None


def _called(conn: Connection, started: float, what: str = "") -> str:
    ms = (time.perf_counter() - started) * 1000
    return f"called {what}connection {conn.spec.name} · {ms:.0f} ms"


def _executed(
    setup: BotSetup, inv: Invocation, reply: CommandReply, error: str | None, message: str
) -> CommandExecuted:
    """The log event of a run, with what every run has (an error makes it an error line);
    the caller adds where the run came from."""
    assert setup.workspace_id is not None
    return CommandExecuted(
        owner_id=setup.workspace_id,
        bot_id=setup.bot_id,
        command=inv.name,
        kind=inv.kind,
        outcome=reply.outcome,
        duration_ms=reply.duration_ms,
        guild_id=inv.guild_id,
        error=error,
        message=message,
        level="error" if error else "info",
        steps=reply.steps,
    )


class Executor:
    def __init__(
        self,
        cache: SetupCache,
        renderer: Renderer,
        outbound: Outbound,
        publish: Publish,
        limits: Limits | None = None,
        cooldowns: Cooldowns | SharedCooldowns | None = None,
    ) -> None:
        self.cache = cache
        self.renderer = renderer
        self.outbound = outbound
        self.publish = publish
        self.limits = limits or Limits()
        self.cooldowns = cooldowns or Cooldowns()

    async def execute(self, req: ExecuteCommand) -> tuple[CommandReply, CommandExecuted | None]:
        """The reply, and the event to publish (None for dry runs and unknown bots)."""
        started = time.perf_counter()
        setup = await self.cache.get(req.bot_id)
        inv = req.invocation
        cmd = setup.find(inv.kind, inv.name, inv.guild_id)
        reply, error = await self._run(setup, cmd, inv, req.dry_run)
        reply.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        secrets = setup.secret_values()
        if error:
            reply.error = scrub(error, secrets)
        if req.dry_run or setup.workspace_id is None:
            return reply, None
        label = self._label(setup, cmd, inv)
        if error:
            message = f"{label} failed: {error}"
        else:
            message = f"{label}: {reply.outcome} in {reply.duration_ms:.1f} ms"
        event = _executed(
            setup, inv, reply, scrub(error, secrets) if error else None, scrub(message, secrets)
        )
        event.user_id = inv.user.id
        event.command_id = cmd.id if cmd is not None else None
        event.connection_id = _connection_of(cmd)
        event.interaction_id = inv.interaction_id
        reply.event_id = event.id
        return reply, event

    @staticmethod
    def _label(setup: BotSetup, cmd: Command | None, inv: Invocation) -> str:
        if inv.kind == "prefix":
            return f"command {setup.prefix or ''}{inv.name}"
        if inv.kind == "slash":
            return f"command /{inv.name}"
        return f"command '{inv.name}'"

    async def run(
        self, setup: BotSetup, cmd: Command, inv: Invocation, *, dry_run: bool
    ) -> tuple[CommandReply, str | None]:
        """Run one known command (used by the dry-run test route)."""
        started = time.perf_counter()
        reply, error = await self._run(setup, cmd, inv, dry_run)
        reply.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if error:
            error = reply.error = scrub(error, setup.secret_values())
            if dry_run and setup.workspace_id is not None:
                await self._log_dry_run_failure(setup, cmd, inv, reply, error)
        return reply, error

    async def _log_dry_run_failure(
        self, setup: BotSetup, cmd: Command, inv: Invocation, reply: CommandReply, error: str
    ) -> None:
        """A failed dry run (Try it, preview) is logged too, so its reason has a log line
        the console can link to (`reply.event_id`)."""
        message = f"dry run of {self._label(setup, cmd, inv)} failed: {error}"
        event = _executed(setup, inv, reply, error, message)
        event.dry_run = True
        try:
            await self.publish(event)
        except Exception:
            log.warning("could not log a failed dry run of bot %s", setup.bot_id)
            return
        reply.event_id = event.id

    async def preview(
        self,
        saved: BotSetup,
        cmd: Command,
        inv: Invocation,
        connections: dict[UUID, Connection],
        prompts: dict[UUID, PromptIn],
    ) -> CommandReply:
        """Dry-run an unsaved command against the bot's saved setup (its prefix, workspace,
        connections and prompts), with the connection and prompt the command names."""
        setup = BotSetup(
            bot_id=saved.bot_id,
            workspace_id=saved.workspace_id,
            prefix=saved.prefix,
            commands=[cmd],
            prompts={**saved.prompts, **prompts},
            connections={**saved.connections, **connections},
            manifest=saved.manifest,
        )
        reply, _ = await self.run(setup, cmd, inv, dry_run=True)
        return reply

    async def _run(
        self, setup: BotSetup, cmd: Command | None, inv: Invocation, dry_run: bool
    ) -> tuple[CommandReply, str | None]:
        if cmd is None:
            content = None if inv.kind == "prefix" else "This command is not available."
            return CommandReply(outcome="not_found", content=content, ephemeral=True), None
        spec = cmd.spec
        if not spec.enabled:
            return CommandReply(
                outcome="disabled", content="This command is currently disabled.", ephemeral=True
            ), None
        if not allowed(spec, inv):
            return CommandReply(
                outcome="forbidden",
                content="You don't have permission to use this command.",
                ephemeral=True,
            ), None
        if not dry_run:
            left = await self.cooldowns.left(cmd, inv)
            if left > 0:
                return CommandReply(
                    outcome="cooldown",
                    content=f"Slow down: you can use this command again in {human_duration(left)}.",
                    ephemeral=True,
                ), None
        steps: list[str] = []
        try:
            args: list[str] = []
            options = dict(inv.options)
            if spec.kind == "prefix" and inv.content is not None:
                try:
                    args, parsed = parse_prefix_args(spec, inv, setup.prefix)
                except CommandFailed as exc:
                    return CommandReply(
                        outcome="error",
                        content=f"{exc}. {usage(spec, setup.prefix)}",
                        ephemeral=True,
                    ), str(exc)
                options.update(parsed)
            variables = self._variables(setup, spec, inv, options, args)
            content, embeds = await self._respond(setup, spec, variables, steps)
        except (CommandFailed, RenderError, OutboundError) as exc:
            return CommandReply(
                outcome="error", content=FAILED_MESSAGE, ephemeral=True, steps=steps
            ), str(exc)
        return CommandReply(
            outcome="ok", content=content, embeds=embeds, ephemeral=spec.ephemeral, steps=steps
        ), None

    @staticmethod
    def _variables(
        setup: BotSetup, spec: CommandIn, inv: Invocation, options: dict[str, Any], args: list[str]
    ) -> dict[str, Any]:
        guild = inv.guild
        channel = inv.channel
        bot = inv.bot
        return {
            "user": {
                "id": inv.user.id,
                "username": inv.user.username,
                "name": inv.user.username,
                "display_name": inv.user.display_name or inv.user.username,
                "avatar_url": inv.user.avatar_url,
                "mention": f"<@{inv.user.id}>",
                "roles": list(inv.user.roles),
                "role_names": list(inv.user.role_names),
            },
            "guild": {
                "id": inv.guild_id,
                "name": guild.name if guild else "",
                "member_count": guild.member_count if guild else None,
            }
            if inv.guild_id
            else None,
            "channel": {
                "id": inv.channel_id,
                "name": channel.name if channel else "",
                "mention": f"<#{inv.channel_id}>",
            }
            if inv.channel_id
            else None,
            "target": {"id": inv.target_id, "mention": f"<@{inv.target_id}>"}
            if inv.target_id
            else None,
            "options": options,
            "args": args,
            "content": inv.content or "",
            "command": {"name": spec.name, "kind": spec.kind},
            "bot": {
                "id": bot.id if bot else "",
                "name": bot.name if bot else "",
                "prefix": setup.prefix,
            },
            "locale": inv.locale,
            "now": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    async def _respond(
        self, setup: BotSetup, spec: CommandIn, variables: dict[str, Any], steps: list[str]
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """The answer; `steps` gets what was done, in order (also when a step fails)."""
        response = spec.response
        if isinstance(response, TemplateResponse):
            reply = await self._render_reply(response.content, response.embeds, variables)
            steps.append("rendered template")
            return reply
        if isinstance(response, HttpResponse):
            conn = self._connection(setup, response.connection_id)
            started = time.perf_counter()
            try:
                result = await self._call_http(conn, response, variables)
            finally:
                steps.append(_called(conn, started))
            variables = {**variables, **result}
            reply = await self._render_reply(response.content, response.embeds, variables)
            steps.append("rendered template")
            return reply
        assert isinstance(response, AiResponse)
        conn = self._connection(setup, response.connection_id)
        started = time.perf_counter()
        try:
            return await self._call_ai(setup, response, variables), []
        finally:
            steps.append(_called(conn, started, "AI "))

    @staticmethod
    def _connection(setup: BotSetup, connection_id: UUID) -> Connection:
        conn = setup.connections.get(connection_id)
        if conn is None:
            raise CommandFailed("its API connection no longer exists")
        if conn.spec.auth_type != "none" and not conn.secret:
            raise CommandFailed(f"the API connection {conn.spec.name!r} has no secret set")
        return conn

    async def _render_reply(
        self, content: str | None, embeds: list[EmbedTemplate], variables: dict[str, Any]
    ) -> tuple[str | None, list[dict[str, Any]]]:
        text = truncate(await self.renderer.render(content, variables)) if content else None
        rendered = [await self._render_embed(e, variables) for e in embeds]
        if not (text and text.strip()) and not rendered:
            raise CommandFailed("the template rendered an empty answer")
        return (text if text and text.strip() else None), rendered

    async def _render_embed(
        self, embed: EmbedTemplate, variables: dict[str, Any]
    ) -> dict[str, Any]:
        async def r(source: str | None, limit: int) -> str | None:
            if not source:
                return None
            return truncate(await self.renderer.render(source, variables), limit) or None

        out: dict[str, Any] = {"type": "rich"}
        if title := await r(embed.title, 256):
            out["title"] = title
        if description := await r(embed.description, 4096):
            out["description"] = description
        if url := await r(embed.url, 2048):
            out["url"] = url
        if embed.color is not None:
            out["color"] = embed.color
        if footer := await r(embed.footer, 2048):
            out["footer"] = {"text": footer}
        fields = []
        for f in embed.fields:
            name = await r(f.name, 256) or "\u200b"
            value = await r(f.value, 1024) or "\u200b"
            fields.append({"name": name, "value": value, "inline": f.inline})
        if fields:
            out["fields"] = fields
        return out

    @staticmethod
    def apply_auth(
        conn: Connection, headers: dict[str, str], params: dict[str, str]
    ) -> Credentials:
        """Add the connection's headers and auth; returns where its secrets went (they
        must not follow a redirect to another origin)."""
        spec, secret = conn.spec, conn.secret or ""
        headers.update(spec.headers)
        headers.update(conn.secret_headers)
        secret_headers = set(conn.secret_headers)
        secret_params: set[str] = set()
        if spec.auth_type == "bearer":
            headers["authorization"] = f"Bearer {secret}"
        elif spec.auth_type == "header" and spec.auth_name:
            headers[spec.auth_name] = secret
            secret_headers.add(spec.auth_name)
        elif spec.auth_type == "basic":
            pair = f"{spec.auth_username or ''}:{secret}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif spec.auth_type == "query" and spec.auth_name:
            params[spec.auth_name] = secret
            secret_params.add(spec.auth_name)
        return Credentials.of(secret_headers, secret_params)

    async def test_connection(self, conn: Connection) -> ConnectionTestResult:
        """GET the connection's base URL with its auth, as a command would call it."""
        hdrs: dict[str, str] = {}
        params: dict[str, str] = {}
        credentials = self.apply_auth(conn, hdrs, params)
        try:
            result = await self.outbound.request(
                "GET",
                conn.spec.base_url,
                params=params,
                headers=hdrs,
                timeout_s=conn.spec.timeout_s,
                credentials=credentials,
            )
        except OutboundError as exc:
            return ConnectionTestResult(
                ok=False, duration_ms=0, error=scrub(str(exc), conn.secret_values())
            )
        # Scrubbed before it is cut, so a secret that straddles the cut is found whole.
        head = result.body[:8192].decode("utf-8", errors="replace")
        preview = scrub(head, conn.secret_values())[:300]
        return ConnectionTestResult(
            ok=result.status < 400,
            status=result.status,
            duration_ms=round(result.duration_ms, 2),
            error=None if result.status < 400 else f"the API answered HTTP {result.status}",
            preview=preview,
        )

    async def _call_http(
        self, conn: Connection, response: HttpResponse, variables: dict[str, Any]
    ) -> dict[str, Any]:
        render = self.renderer.render
        path = await render(response.path, variables) if response.path else ""
        params = {k: await render(v, variables) for k, v in response.query.items()}
        headers = {
            k: (await render(v, variables)).replace("\r", "").replace("\n", "")
            for k, v in response.headers.items()
        }
        body = await render(response.body, variables) if response.body else None
        if body is not None and "content-type" not in {k.lower() for k in headers}:
            headers["content-type"] = "application/json"
        credentials = self.apply_auth(conn, headers, params)
        result = await self.outbound.request(
            response.method,
            conn.spec.base_url + path,
            params=params,
            headers=headers,
            content=body.encode() if body is not None else None,
            timeout_s=conn.spec.timeout_s,
            credentials=credentials,
        )
        text = result.body.decode("utf-8", errors="replace")
        if result.status >= 400:
            raise CommandFailed(f"the API answered HTTP {result.status}")
        try:
            data: Any = json.loads(text) if text else None
        except (ValueError, RecursionError):
            # Not JSON, or JSON Python will not hold: an integer over 4,300 digits
            # (ValueError) or nesting deeper than the interpreter's recursion limit.
            data = text
        return {"data": data, "status": result.status, "text": text}

    async def _call_ai(
        self, setup: BotSetup, response: AiResponse, variables: dict[str, Any]
    ) -> str:
        conn = self._connection(setup, response.connection_id)
        prompt = setup.prompts.get(response.prompt_id)
        if prompt is None:
            raise CommandFailed("its prompt no longer exists")
        values = dict(prompt.variables)
        for name, source in response.variables.items():
            values[name] = await self.renderer.render(source, variables)
        scope = {**variables, "vars": values}
        messages = []
        if prompt.system:
            messages.append(
                {"role": "system", "content": await self.renderer.render(prompt.system, scope)}
            )
        messages.append({"role": "user", "content": await self.renderer.render(prompt.user, scope)})
        payload = {
            "model": prompt.model,
            "messages": messages,
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_tokens,
        }
        headers: dict[str, str] = {"content-type": "application/json"}
        params: dict[str, str] = {}
        credentials = self.apply_auth(conn, headers, params)
        result = await self.outbound.request(
            "POST",
            conn.spec.base_url + "/chat/completions",
            params=params,
            headers=headers,
            content=json.dumps(payload).encode(),
            timeout_s=max(conn.spec.timeout_s, 1.0),
            credentials=credentials,
        )
        if result.status >= 400:
            raise CommandFailed(f"the AI API answered HTTP {result.status}")
        try:
            answer = json.loads(result.body)["choices"][0]["message"]["content"]
        except (ValueError, RecursionError, KeyError, IndexError, TypeError):
            raise CommandFailed(
                "the AI API answered something that is not a chat completion"
            ) from None
        if not isinstance(answer, str) or not answer.strip():
            raise CommandFailed("the AI API gave an empty answer")
        return truncate(answer, self.limits.max_answer_chars)
