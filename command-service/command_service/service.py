"""Configuration rules of command-service: commands, prompts, connections, per-bot
settings, export and import. Functions take the caller's session (already in the caller's
row-level-security scope: rows of other workspaces are not found) and only flush; the
handler commits and then announces changes.

Every item belongs to a workspace (#17): what the caller may do there is checked here
(`services.access.require`, docs/design/teams.md §3.4), and each change writes one audit
record to the outbox in its own transaction.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from command_service import repository as repo
from command_service.bot_setup import (
    BotSetup,
    Command,
    Connection,
    build_manifest,
    build_setup,
    connection_out,
    open_connection,
)
from command_service.execution.outbound import Guard, OutboundError
from command_service.execution.templates import Renderer
from command_service.execution.variables import prompt_warnings, warnings_of
from command_service.models import CONNECTIONS_AAD, CommandRow, ConnectionRow, PromptRow
from proto.access import Access, Permission
from proto.commands import (
    DEFAULT_PREFIX,
    AiResponse,
    BotImport,
    CommandIn,
    CommandOut,
    CommandPatch,
    CommandSettings,
    ConnectionIn,
    ConnectionOut,
    ConnectionPatch,
    HttpResponse,
    ImportAiResponse,
    ImportCommand,
    ImportConnection,
    ImportHttpResponse,
    ImportPrompt,
    ImportResult,
    PromptIn,
    PromptOut,
    PromptPatch,
    SyncStatus,
    TemplateResponse,
    scope_rule_errors,
)
from proto.errors import ErrorCode, FieldError
from proto.events import new_event_id
from services.access import require
from services.audit import AuditActor, diff
from services.errors import RpcError, conflict, not_found
from services.outbox import Outbox
from services.vault import Vault, aad

Loc = list[str | int]


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> UUID:
    return new_event_id()  # UUIDv7: ids sort by creation


def invalid(fields: list[FieldError], message: str = "invalid value") -> RpcError:
    return RpcError(ErrorCode.VALIDATION, message, fields=fields)


def from_validation(exc: ValidationError, prefix: Loc) -> RpcError:
    return invalid(
        [
            FieldError(
                loc=[*prefix, *[p for p in e["loc"] if isinstance(p, str | int)]], message=e["msg"]
            )
            for e in exc.errors(include_url=False, include_input=False)
        ]
    )


# ---- who asks, for which workspace, and the audit trail ------------------------------------

SERVICE = "command"
# Connection fields whose values an audit record never carries (it says they changed).
SECRET_FIELDS = frozenset({"secret", "secret_headers"})


@dataclass(frozen=True)
class Actor:
    """Who asks: their access (the permission checks) and, for the audit record, who and
    from where."""

    access: Access
    audit: AuditActor

    @classmethod
    def of(cls, access: Access, headers: Mapping[str, str]) -> Actor:
        """The caller of a message: `AuditActor.of` reads the client (`bc-client`) and the
        request id from its headers."""
        return cls(access, AuditActor.of(access, headers))

    def workspace(self, workspace_id: UUID | None) -> UUID:
        """The workspace a new item goes to: the one named (404 unless the caller is a
        member), else the caller's personal workspace."""
        chosen = workspace_id or self.access.user_id
        if chosen is None:
            raise invalid([FieldError(loc=["body", "workspace_id"], message="name a workspace")])
        if not self.access.sees(chosen):
            raise not_found("workspace")
        return chosen

    def require(
        self, permission: Permission, workspace_id: UUID, bot_id: UUID | None = None
    ) -> None:
        require(self.access, permission, workspace_id, bot_id)


@dataclass(frozen=True)
class BotScope:
    """A bot the caller can see, and its workspace (as bot-service answered)."""

    bot_id: UUID
    workspace_id: UUID


class Auditor:
    """One audit record per change, queued in the outbox inside the change's transaction:
    published once it commits, gone with it when it rolls back."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def record(
        self,
        s: AsyncSession,
        actor: Actor,
        workspace_id: UUID,
        action: str,
        target: tuple[str, UUID | str],
        changes: dict[str, Any],
    ) -> UUID:
        target_type, target_id = target
        record = actor.audit.record(
            workspace_id, action, target_type=target_type, target_id=target_id, changes=changes
        )
        return await self.outbox.add_audit(s, SERVICE, record)


# ---- template checks ------------------------------------------------------------------


def template_errors(renderer: Renderer, response: Any, prefix: Loc) -> list[FieldError]:
    """Syntax errors of every template in a response, at their fields."""
    sources: list[tuple[Loc, str]] = []
    if isinstance(response, TemplateResponse | HttpResponse | ImportHttpResponse):
        if response.content:
            sources.append((["content"], response.content))
        for i, embed in enumerate(response.embeds):
            for key in ("title", "description", "url", "footer"):
                value = getattr(embed, key)
                if value:
                    sources.append((["embeds", i, key], value))
            for j, f in enumerate(embed.fields):
                sources += [(["embeds", i, "fields", j, "name"], f.name)]
                sources += [(["embeds", i, "fields", j, "value"], f.value)]
    if isinstance(response, HttpResponse | ImportHttpResponse):
        if response.path:
            sources.append((["path"], response.path))
        if response.body:
            sources.append((["body"], response.body))
        sources += [(["query", k], v) for k, v in response.query.items()]
        sources += [(["headers", k], v) for k, v in response.headers.items()]
    if isinstance(response, AiResponse | ImportAiResponse):
        sources += [(["variables", k], v) for k, v in response.variables.items()]
    errors = []
    for loc, source in sources:
        problem = renderer.check(source)
        if problem:
            errors.append(FieldError(loc=[*prefix, *loc], message=problem))
    return errors


def prompt_template_errors(renderer: Renderer, prompt: PromptIn, prefix: Loc) -> list[FieldError]:
    errors = []
    for key in ("system", "user"):
        source = getattr(prompt, key)
        problem = renderer.check(source) if source else None
        if problem:
            errors.append(FieldError(loc=[*prefix, key], message=problem))
    return errors


# ---- commands -------------------------------------------------------------------------------


def command_out(row: CommandRow) -> CommandOut:
    return CommandOut.model_validate(
        {
            **row.spec,
            "id": row.id,
            "bot_id": row.bot_id,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def _refs(spec: CommandIn) -> tuple[UUID | None, UUID | None]:
    response = spec.response
    if isinstance(response, HttpResponse):
        return response.connection_id, None
    if isinstance(response, AiResponse):
        return response.connection_id, response.prompt_id
    return None, None


# ---- prompts and connections ---------------------------------------------------------------


class _Named(Protocol):
    @property
    def name(self) -> str: ...


RowT = TypeVar("RowT", PromptRow, ConnectionRow)
SpecT = TypeVar("SpecT", bound=_Named)
PatchT = TypeVar("PatchT")
OutT = TypeVar("OutT")


class ItemService(ABC, Generic[RowT, SpecT, PatchT, OutT]):
    """Rules prompts and connections share, as a workspace's named items that commands
    refer to: a name is unique per workspace, a missing item (or one of a workspace the
    caller is not in) is a 404, a change needs the kind's edit permission (403), an item a
    command still uses cannot be deleted (409). What a spec must satisfy and what is stored
    of it are each kind's own (the abstract methods)."""

    def __init__(
        self, kind: str, items: repo.Library[RowT], auditor: Auditor, edit: Permission
    ) -> None:
        self.kind = kind
        self.items: repo.Library[RowT] = items
        self.auditor = auditor
        self.edit: Permission = edit

    @abstractmethod
    def out(self, row: RowT) -> OutT: ...

    @abstractmethod
    def stored(self, item_id: UUID, spec: SpecT) -> dict[str, Any]:
        """The columns a new item stores besides id, workspace, name and timestamps."""

    @abstractmethod
    def merge(self, row: RowT, patch: PatchT) -> tuple[SpecT, dict[str, Any]]:
        """The spec after `patch`, and the columns that change besides name and timestamp."""

    def check(self, spec: SpecT) -> None:
        """Refuse a spec before the name is looked up."""

    def check_secrets(self, actor: Actor, workspace_id: UUID, spec: SpecT | PatchT) -> None:
        """Refuse a spec or patch that sets what the caller may not set (403)."""

    def audited(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        """What an audit record compares of an item's columns (secrets only as markers)."""
        return dict(columns["spec"])

    def update_action(self, changes: Mapping[str, Any]) -> str:
        return f"{self.kind}.update"

    async def record(
        self,
        s: AsyncSession,
        actor: Actor,
        row: Mapping[str, Any],
        action: str,
        changes: dict[str, Any],
    ) -> None:
        await self.auditor.record(
            s, actor, row["workspace_id"], action, (self.kind, row["id"]), changes
        )

    async def list_all(
        self, s: AsyncSession, actor: Actor, workspace_id: UUID | None
    ) -> list[OutT]:
        if workspace_id is None:
            workspaces = [g.workspace_id for g in actor.access.grants]
        elif actor.access.sees(workspace_id):
            workspaces = [workspace_id]
        else:
            raise not_found("workspace")
        return [self.out(r) for r in await self.items.list_all(s, workspaces)]

    async def row(self, s: AsyncSession, item_id: UUID) -> RowT:
        row = await self.items.get(s, item_id)
        if row is None:
            raise not_found(self.kind)
        return row

    async def get(self, s: AsyncSession, item_id: UUID) -> OutT:
        return self.out(await self.row(s, item_id))

    async def _name_free(
        self, s: AsyncSession, workspace_id: UUID, name: str, own: UUID | None
    ) -> None:
        row = await self.items.by_name(s, workspace_id, name)
        if row is not None and row.id != own:
            raise invalid(
                [
                    FieldError(
                        loc=["body", "name"], message=f"a {self.kind} named {name!r} already exists"
                    )
                ]
            )

    async def create(
        self, s: AsyncSession, actor: Actor, spec: SpecT, workspace_id: UUID | None
    ) -> OutT:
        workspace = actor.workspace(workspace_id)
        actor.require(self.edit, workspace)
        self.check_secrets(actor, workspace, spec)
        self.check(spec)
        await self._name_free(s, workspace, spec.name, None)
        item_id, at = new_id(), now()
        values = {
            "id": item_id,
            "workspace_id": workspace,
            "name": spec.name,
            **self.stored(item_id, spec),
            "created_at": at,
            "updated_at": at,
        }
        await self.items.insert(s, values)
        changes = diff(None, self.audited(values), SECRET_FIELDS)
        await self.record(s, actor, values, f"{self.kind}.create", changes)
        return await self.get(s, item_id)

    async def update(self, s: AsyncSession, actor: Actor, item_id: UUID, patch: PatchT) -> OutT:
        row = await self.row(s, item_id)
        actor.require(self.edit, row.workspace_id)
        self.check_secrets(actor, row.workspace_id, patch)
        # Read before the update: it refreshes the session's row in place.
        before = row.model_dump()
        spec, values = self.merge(row, patch)
        self.check(spec)
        await self._name_free(s, row.workspace_id, spec.name, item_id)
        values = {"name": spec.name, **values, "updated_at": now()}
        await self.items.update(s, item_id, values)
        changes = diff(self.audited(before), self.audited({**before, **values}), SECRET_FIELDS)
        await self.record(s, actor, before, self.update_action(changes), changes)
        return await self.get(s, item_id)

    async def import_spec(
        self,
        s: AsyncSession,
        workspace_id: UUID,
        name: str,
        spec: dict[str, Any],
        at: datetime,
        columns: Callable[[UUID], dict[str, Any]] | None = None,
    ) -> tuple[UUID, str, RowT | None]:
        """An imported file's item, matched by name in the workspace: created (with
        `columns` besides its spec) or its spec updated. Returns its id, "created",
        "updated" or "unchanged", and the row it had before."""
        existing = await self.items.by_name(s, workspace_id, name)
        if existing is None:
            item_id = new_id()
            await self.items.insert(
                s,
                {
                    "id": item_id,
                    "workspace_id": workspace_id,
                    "name": name,
                    "spec": spec,
                    **(columns(item_id) if columns else {}),
                    "created_at": at,
                    "updated_at": at,
                },
            )
            return item_id, "created", None
        item_id = existing.id
        if existing.spec == spec:
            return item_id, "unchanged", existing
        await self.items.update(s, item_id, {"spec": spec, "updated_at": at})
        return item_id, "updated", existing

    async def bots_using(self, s: AsyncSession, item_id: UUID) -> set[UUID]:
        """The bots whose commands refer to the item: a change to it changes theirs."""
        return set(await self.items.bots_using(s, item_id))

    async def delete(self, s: AsyncSession, actor: Actor, item_id: UUID) -> None:
        row = await self.row(s, item_id)
        actor.require(self.edit, row.workspace_id)
        before = row.model_dump()
        used = await self.items.in_use(s, item_id)
        if used:
            raise conflict(
                f"the {self.kind} is used by {used} command(s); change them first", commands=used
            )
        if not await self.items.delete(s, item_id):
            raise not_found(self.kind)
        changes = diff(self.audited(before), None, SECRET_FIELDS)
        await self.record(s, actor, before, f"{self.kind}.delete", changes)


class PromptService(ItemService[PromptRow, PromptIn, PromptPatch, PromptOut]):
    def __init__(self, renderer: Renderer, auditor: Auditor) -> None:
        super().__init__("prompt", repo.PROMPTS, auditor, "prompts.edit")
        self.renderer = renderer

    def out(self, row: PromptRow) -> PromptOut:
        out = PromptOut.model_validate(
            {
                **row.spec,
                "id": row.id,
                "workspace_id": row.workspace_id,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
            }
        )
        out.warnings = prompt_warnings(out)
        return out

    def check(self, spec: PromptIn) -> None:
        fields = prompt_template_errors(self.renderer, spec, ["body"])
        if fields:
            raise invalid(fields)

    def stored(self, item_id: UUID, spec: PromptIn) -> dict[str, Any]:
        # A create request also names its workspace, which is a column, not the spec.
        return {"spec": spec.model_dump(mode="json", exclude={"workspace_id"})}

    def merge(self, row: PromptRow, patch: PromptPatch) -> tuple[PromptIn, dict[str, Any]]:
        try:
            spec = PromptIn.model_validate(
                {**row.spec, **patch.model_dump(mode="json", exclude_none=True)}
            )
        except ValidationError as exc:
            raise from_validation(exc, ["body"]) from None
        return spec, self.stored(row.id, spec)


class ConnectionService(ItemService[ConnectionRow, ConnectionIn, ConnectionPatch, ConnectionOut]):
    """Connections also keep a secret and secret headers, sealed with the row id in the AAD."""

    def __init__(self, vault: Vault | None, guard: Guard, auditor: Auditor) -> None:
        super().__init__("connection", repo.CONNECTIONS, auditor, "connections.edit")
        self.vault = vault
        self.guard = guard

    def check_secrets(
        self, actor: Actor, workspace_id: UUID, spec: ConnectionIn | ConnectionPatch
    ) -> None:
        """Setting a secret or a secret header also takes `connections.secrets`."""
        if spec.secret is not None or spec.secret_headers:
            actor.require("connections.secrets", workspace_id)

    def audited(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        # The ciphertexts stand for the secrets: a new seal differs, so the record says
        # `{"changed": true}`, and `diff` never writes a value of these fields.
        return {
            **columns["spec"],
            "secret": columns.get("secret_enc"),
            "secret_headers": columns.get("secret_headers_enc"),
        }

    def update_action(self, changes: Mapping[str, Any]) -> str:
        """`connection.secret_set` for a change of the secrets alone."""
        if changes and set(changes) <= SECRET_FIELDS:
            return "connection.secret_set"
        return "connection.update"

    def url_errors(self, base_url: str, loc: Loc) -> list[FieldError]:
        """The outbound rule Test and every command call use, told at save: a base URL
        commands may not call (a literal loopback/private/link-local address, `localhost`)
        is refused at its field. Other names are resolved when called."""
        try:
            self.guard.check_url(base_url)
        except OutboundError as exc:
            return [FieldError(loc=loc, message=str(exc))]
        return []

    def check(self, spec: ConnectionIn) -> None:
        fields = self.url_errors(spec.base_url, ["body", "base_url"])
        if fields:
            raise invalid(fields, fields[0].message)

    def out(self, row: ConnectionRow) -> ConnectionOut:
        return connection_out(row)

    async def opened(self, s: AsyncSession, actor: Actor, item_id: UUID) -> Connection:
        """The connection with its secrets decrypted, for a test call to its API (which
        uses them: only for those who may edit it)."""
        row = await self.row(s, item_id)
        actor.require(self.edit, row.workspace_id)
        return open_connection(self.vault, row)

    def _seal(self, row_id: UUID, column: str, value: str) -> bytes:
        if self.vault is None:
            raise RpcError(ErrorCode.UNAVAILABLE, "the secret vault is not configured")
        return self.vault.encrypt(value, aad(CONNECTIONS_AAD, row_id, column))

    def _open_headers(self, row: ConnectionRow) -> dict[str, str]:
        if row.secret_headers_enc is None or self.vault is None:
            return {}
        data: dict[str, str] = json.loads(
            self.vault.decrypt_str(
                bytes(row.secret_headers_enc),
                aad(CONNECTIONS_AAD, row.id, "secret_headers_enc"),
            )
        )
        return data

    def secret_values(
        self, cid: UUID, secret: str | None, headers: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "secret_enc": self._seal(cid, "secret_enc", secret) if secret else None,
            "secret_hint": ("…" + secret[-4:]) if secret and len(secret) >= 12 else None,
            "secret_headers_enc": self._seal(cid, "secret_headers_enc", json.dumps(headers))
            if headers
            else None,
            "secret_header_names": sorted(headers),
        }

    @staticmethod
    def public(spec: ConnectionIn | ImportConnection) -> dict[str, Any]:
        return spec.model_dump(mode="json", exclude={"secret", "secret_headers", "workspace_id"})

    def stored(self, item_id: UUID, spec: ConnectionIn) -> dict[str, Any]:
        return {
            "spec": self.public(spec),
            **self.secret_values(item_id, spec.secret, spec.secret_headers),
        }

    def merge(
        self, row: ConnectionRow, patch: ConnectionPatch
    ) -> tuple[ConnectionIn, dict[str, Any]]:
        changes = patch.model_dump(mode="json", exclude_none=True)
        new_secret = changes.pop("secret", None)
        header_changes: dict[str, str | None] = changes.pop("secret_headers", None) or {}
        headers = self._open_headers(row)
        for name, value in header_changes.items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        merged = {**row.spec, **changes}
        kept_secret = row.secret_enc is not None and new_secret is None
        if merged.get("auth_type", "none") == "none":
            new_secret, kept_secret = None, False
        try:
            # The stored secret stands in for the check that a secret exists.
            spec = ConnectionIn.model_validate(
                {
                    **merged,
                    "secret": new_secret or ("x" if kept_secret else None),
                    "secret_headers": headers,
                }
            )
        except ValidationError as exc:
            raise from_validation(exc, ["body"]) from None
        secrets = self.secret_values(row.id, new_secret, headers)
        if kept_secret:
            secrets.pop("secret_enc")
            secrets.pop("secret_hint")
        if not header_changes:
            # Untouched: not sealed again (the audit record then says they did not change).
            secrets.pop("secret_headers_enc")
            secrets.pop("secret_header_names")
        return spec, {"spec": self.public(spec), **secrets}


class ConfigService:
    def __init__(
        self, vault: Vault | None, renderer: Renderer, guard: Guard, outbox: Outbox
    ) -> None:
        self.vault = vault
        self.renderer = renderer
        self.auditor = Auditor(outbox)
        self.prompts = PromptService(renderer, self.auditor)
        self.connections = ConnectionService(vault, guard, self.auditor)

    # -- commands

    async def _check_command(
        self, s: AsyncSession, bot: BotScope, spec: CommandIn, replacing: UUID | None
    ) -> None:
        fields = template_errors(self.renderer, spec.response, ["body", "response"])
        conn_id, prompt_id = _refs(spec)
        refs: list[tuple[str, UUID | None, ConnectionRow | PromptRow | None]] = [
            ("connection", conn_id, await repo.CONNECTIONS.get(s, conn_id) if conn_id else None),
            ("prompt", prompt_id, await repo.PROMPTS.get(s, prompt_id) if prompt_id else None),
        ]
        for kind, ref_id, row in refs:
            if ref_id is None:
                continue
            loc: Loc = ["body", "response", f"{kind}_id"]
            if row is None:
                fields.append(FieldError(loc=loc, message=f"no such {kind}"))
            elif row.workspace_id != bot.workspace_id:
                # A caller in two workspaces sees both; a command uses its bot's only.
                fields.append(
                    FieldError(loc=loc, message=f"the {kind} is not in the bot's workspace")
                )
        others = [
            CommandIn.model_validate(r.spec)
            for r in await repo.list_commands(s, bot.bot_id)
            if r.id != replacing
        ]
        for loc_, message in scope_rule_errors([*others, spec]):
            if loc_ and loc_[0] == len(others):
                fields.append(FieldError(loc=["body", *loc_[1:]], message=message))
        if fields:
            raise invalid(fields)

    async def check_preview(
        self,
        s: AsyncSession,
        actor: Actor,
        bot: BotScope,
        spec: CommandIn,
        replacing: UUID | None,
    ) -> tuple[dict[UUID, Connection], dict[UUID, PromptIn]]:
        """Validate an unsaved command exactly as a create (or, with `replacing`, an update of
        that command) would; stores nothing. Returns the connection (secrets opened) and
        prompt it refers to, for the dry run."""
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)
        if replacing is not None and await repo.get_command(s, bot.bot_id, replacing) is None:
            raise not_found("command")
        await self._check_command(s, bot, spec, replacing)
        conn_id, prompt_id = _refs(spec)
        connections: dict[UUID, Connection] = {}
        prompts: dict[UUID, PromptIn] = {}
        if conn_id is not None and (row := await repo.CONNECTIONS.get(s, conn_id)) is not None:
            connections[conn_id] = open_connection(self.vault, row)
        if prompt_id is not None and (prow := await repo.PROMPTS.get(s, prompt_id)) is not None:
            prompts[prompt_id] = PromptIn.model_validate(prow.spec)
        return connections, prompts

    def check_test(self, actor: Actor, bot: BotScope) -> None:
        """A dry run of a saved command calls its APIs with the workspace's secrets."""
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)

    async def list_commands(self, s: AsyncSession, actor: Actor, bot: BotScope) -> list[CommandOut]:
        actor.require("bots.view", bot.workspace_id, bot.bot_id)
        return [command_out(r) for r in await repo.list_commands(s, bot.bot_id)]

    async def get_command(
        self, s: AsyncSession, actor: Actor, bot: BotScope, command_id: UUID
    ) -> CommandOut:
        actor.require("bots.view", bot.workspace_id, bot.bot_id)
        return command_out(await self._command_row(s, bot, command_id))

    @staticmethod
    async def _command_row(s: AsyncSession, bot: BotScope, command_id: UUID) -> CommandRow:
        row = await repo.get_command(s, bot.bot_id, command_id)
        if row is None:
            raise not_found("command")
        return row

    async def _record_command(
        self,
        s: AsyncSession,
        actor: Actor,
        bot: BotScope,
        action: str,
        command_id: UUID,
        changes: dict[str, Any],
    ) -> None:
        await self.auditor.record(
            s, actor, bot.workspace_id, action, ("command", command_id), changes
        )

    async def create_command(
        self, s: AsyncSession, actor: Actor, bot: BotScope, spec: CommandIn
    ) -> CommandOut:
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)
        await self._check_command(s, bot, spec, None)
        cid, at = new_id(), now()
        conn_id, prompt_id = _refs(spec)
        stored = spec.model_dump(mode="json")
        await repo.insert_command(
            s,
            {
                "id": cid,
                "workspace_id": bot.workspace_id,
                "bot_id": bot.bot_id,
                "kind": spec.kind,
                "name": spec.name,
                "spec": stored,
                "connection_id": conn_id,
                "prompt_id": prompt_id,
                "created_at": at,
                "updated_at": at,
            },
        )
        await self._record_command(
            s, actor, bot, "command.create", cid, diff(None, {"bot_id": bot.bot_id, **stored})
        )
        out = command_out(await self._command_row(s, bot, cid))
        out.warnings = await self._saved_warnings(s, spec)
        return out

    @staticmethod
    def template_warnings(spec: CommandIn, prompts: dict[UUID, PromptIn]) -> list[str]:
        """Undefined variables the templates use, the command's own and its prompt's (given
        in `prompts` by id): a warning, the save still succeeds."""
        out = warnings_of(spec)
        _, prompt_id = _refs(spec)
        if prompt_id is not None and (prompt := prompts.get(prompt_id)) is not None:
            out += prompt_warnings(prompt, spec)
        return out

    async def _saved_warnings(self, s: AsyncSession, spec: CommandIn) -> list[str]:
        _, prompt_id = _refs(spec)
        prompts: dict[UUID, PromptIn] = {}
        if prompt_id is not None and (row := await repo.PROMPTS.get(s, prompt_id)) is not None:
            prompts[prompt_id] = PromptIn.model_validate(row.spec)
        return self.template_warnings(spec, prompts)

    async def update_command(
        self, s: AsyncSession, actor: Actor, bot: BotScope, command_id: UUID, patch: CommandPatch
    ) -> CommandOut:
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)
        row = await self._command_row(s, bot, command_id)
        before = dict(row.spec)
        changes = patch.model_dump(mode="json", exclude_none=True)
        try:
            spec = CommandIn.model_validate({**row.spec, **changes})
        except ValidationError as exc:
            raise from_validation(exc, ["body"]) from None
        await self._check_command(s, bot, spec, command_id)
        conn_id, prompt_id = _refs(spec)
        stored = spec.model_dump(mode="json")
        await repo.update_command(
            s,
            command_id,
            {
                "kind": spec.kind,
                "name": spec.name,
                "spec": stored,
                "connection_id": conn_id,
                "prompt_id": prompt_id,
                "updated_at": now(),
            },
        )
        await self._record_command(
            s, actor, bot, "command.update", command_id, diff(before, stored)
        )
        out = command_out(await self._command_row(s, bot, command_id))
        out.warnings = await self._saved_warnings(s, spec)
        return out

    async def delete_command(
        self, s: AsyncSession, actor: Actor, bot: BotScope, command_id: UUID
    ) -> None:
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)
        before = dict((await self._command_row(s, bot, command_id)).spec)
        if not await repo.delete_command(s, bot.bot_id, command_id):
            raise not_found("command")
        await self._record_command(s, actor, bot, "command.delete", command_id, diff(before, None))

    # -- settings and sync

    async def get_settings(self, s: AsyncSession, actor: Actor, bot: BotScope) -> CommandSettings:
        actor.require("bots.view", bot.workspace_id, bot.bot_id)
        row = await repo.get_settings(s, bot.bot_id)
        return CommandSettings(prefix=row.prefix if row else DEFAULT_PREFIX)

    async def put_settings(
        self, s: AsyncSession, actor: Actor, bot: BotScope, settings: CommandSettings
    ) -> CommandSettings:
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)
        row = await repo.get_settings(s, bot.bot_id)
        before = {"prefix": row.prefix if row else DEFAULT_PREFIX}
        after = {"prefix": settings.prefix}
        await repo.upsert_settings(s, bot.bot_id, bot.workspace_id, now(), after)
        await self.auditor.record(
            s,
            actor,
            bot.workspace_id,
            "command.settings_update",
            ("bot", bot.bot_id),
            diff(before, after),
        )
        return settings

    async def record_sync(
        self, s: AsyncSession, bot: BotScope, hash_: str, ok: bool, error: str | None
    ) -> None:
        values = {"synced_at": now(), "sync_ok": ok, "sync_error": error}
        if ok:
            values["synced_hash"] = hash_
        await repo.upsert_settings(s, bot.bot_id, bot.workspace_id, now(), values)

    async def sync_status(self, s: AsyncSession, actor: Actor, bot: BotScope) -> SyncStatus:
        actor.require("bots.view", bot.workspace_id, bot.bot_id)
        bot_id = bot.bot_id
        row = await repo.get_settings(s, bot_id)
        commands = [
            Command(r.id, CommandIn.model_validate(r.spec))
            for r in await repo.list_commands(s, bot_id)
        ]
        manifest = build_manifest(bot_id, row.prefix if row else DEFAULT_PREFIX, commands)
        synced = row.synced_hash if row else None
        return SyncStatus(
            bot_id=bot_id,
            hash=manifest.hash,
            synced_hash=synced,
            in_sync=synced == manifest.hash,
            ok=row.sync_ok if row else None,
            error=row.sync_error if row else None,
            synced_at=row.synced_at if row else None,
        )

    # -- execution, bot and workspace deletion

    async def load_setup(self, s: AsyncSession, bot_id: UUID) -> BotSetup:
        """A bot's whole command setup, for the execution cache."""
        settings = await repo.get_settings(s, bot_id)
        rows = await repo.list_commands(s, bot_id)
        conns, prompts = await _referenced(s, rows)
        return build_setup(bot_id, settings, rows, prompts, conns, self.vault)

    async def purge_bot(self, s: AsyncSession, bot_id: UUID) -> int:
        """Remove a deleted bot's commands and settings; how many rows went."""
        return await repo.purge_bot(s, bot_id)

    async def purge_workspace(self, s: AsyncSession, workspace_id: UUID) -> int:
        """Remove everything of a deleted workspace (or of a deleted account's personal
        one); how many rows went. Nothing left is not an error: a retried purge is fine."""
        return await repo.purge_workspace(s, workspace_id)

    # -- export / import

    async def export(self, s: AsyncSession, actor: Actor, bot: BotScope) -> BotImport:
        actor.require("bots.view", bot.workspace_id, bot.bot_id)
        bot_id = bot.bot_id
        rows = await repo.list_commands(s, bot_id)
        settings = await repo.get_settings(s, bot_id)
        conn_rows, prompt_rows = await _referenced(s, rows)
        conns = {r.id: r for r in conn_rows}
        prompts = {r.id: r for r in prompt_rows}
        commands: list[ImportCommand] = []
        for r in rows:
            spec = dict(r.spec)
            response = dict(spec["response"])
            if "connection_id" in response:
                response["connection"] = conns[UUID(response.pop("connection_id"))].name
            if "prompt_id" in response:
                response["prompt"] = prompts[UUID(response.pop("prompt_id"))].name
            commands.append(ImportCommand.model_validate({**spec, "response": response}))
        return BotImport(
            prefix=settings.prefix if settings else DEFAULT_PREFIX,
            commands=commands,
            prompts=[ImportPrompt.model_validate(p.spec) for p in prompts.values()],
            connections=[
                ImportConnection.model_validate(
                    {**c.spec, "secret_headers": list(c.secret_header_names)}
                )
                for c in conns.values()
            ],
        )

    def check_import(self, actor: Actor, bot: BotScope) -> None:
        """An import changes the bot's commands: refused before its file is read."""
        actor.require("commands.edit", bot.workspace_id, bot.bot_id)

    async def apply_import(
        self, s: AsyncSession, actor: Actor, bot: BotScope, document: dict[str, Any]
    ) -> tuple[ImportResult, bool]:
        """Validate the whole document, then apply it in the bot's workspace. Returns
        (result, changed)."""
        self.check_import(actor, bot)
        workspace, bot_id = bot.workspace_id, bot.bot_id
        try:
            doc = BotImport.model_validate(document)
        except ValidationError as exc:
            raise from_validation(exc, ["document"]) from None
        # The file's prompts and connections are created or updated in the workspace too.
        if doc.prompts:
            actor.require("prompts.edit", workspace)
        if doc.connections:
            actor.require("connections.edit", workspace)
        self._check_import_templates(doc)
        urls = [
            f
            for i, conn in enumerate(doc.connections)
            for f in self.connections.url_errors(
                conn.base_url, ["document", "connections", i, "base_url"]
            )
        ]
        if urls:
            raise invalid(urls, "the file does not pass validation")
        result = ImportResult(dry_run=False)
        at = now()
        refs = _ImportRefs(s, workspace)
        refs.ids["connection"] = await self._import_connections(s, workspace, doc, at, result)
        refs.ids["prompt"] = await self._import_prompts(s, workspace, doc, at, result)
        planned, final = await self._plan_commands(s, bot_id, doc, refs, result)
        if refs.fields:
            raise invalid(refs.fields, "the file refers to things that do not exist")
        order = list(final)
        problems = scope_rule_errors([final[c] for c in order])
        if problems:
            raise invalid(
                [FieldError(loc=["document", "commands"], message=m) for _, m in problems],
                "the result would break Discord's command rules",
            )
        await _write_commands(s, workspace, bot_id, planned, at)
        prefix_changed = await _import_prefix(s, workspace, bot_id, doc, at, result)
        try:
            await s.flush()
        except IntegrityError:
            raise conflict("the import conflicts with a concurrent change; try again") from None
        changed = prefix_changed or any(
            result.created.get(k) or result.updated.get(k)
            for k in ("commands", "prompts", "connections")
        )
        if changed:
            await self.auditor.record(
                s,
                actor,
                workspace,
                "command.import",
                ("bot", bot_id),
                diff(None, {"created": result.created, "updated": result.updated}),
            )
        return result, changed

    def _check_import_templates(self, doc: BotImport) -> None:
        fields: list[FieldError] = []
        for i, cmd in enumerate(doc.commands):
            fields += template_errors(
                self.renderer, cmd.response, ["document", "commands", i, "response"]
            )
        for i, prompt in enumerate(doc.prompts):
            fields += prompt_template_errors(self.renderer, prompt, ["document", "prompts", i])
        if fields:
            raise invalid(fields, "the file does not pass validation")

    async def _import_connections(
        self, s: AsyncSession, workspace: UUID, doc: BotImport, at: datetime, result: ImportResult
    ) -> dict[str, UUID]:
        """Create or update the file's connections; their ids by name."""
        conn_ids: dict[str, UUID] = {}
        for c in doc.connections:
            # A file never carries secrets: a new connection starts without them.
            cid, outcome, existing = await self.connections.import_spec(
                s,
                workspace,
                c.name,
                self.connections.public(c),
                at,
                columns=lambda item_id: self.connections.secret_values(item_id, None, {}),
            )
            _count(result, "connections", outcome)
            if existing is None:
                needs_secret = c.auth_type != "none" or bool(c.secret_headers)
            else:
                missing = set(c.secret_headers) - set(existing.secret_header_names)
                needs_secret = bool(missing) or (
                    c.auth_type != "none" and existing.secret_enc is None
                )
            if needs_secret:
                result.warnings.append(
                    f"connection {c.name!r}: set its secret before commands can use it"
                )
            conn_ids[c.name] = cid
        return conn_ids

    async def _import_prompts(
        self, s: AsyncSession, workspace: UUID, doc: BotImport, at: datetime, result: ImportResult
    ) -> dict[str, UUID]:
        """Create or update the file's prompts; their ids by name."""
        prompt_ids: dict[str, UUID] = {}
        for p in doc.prompts:
            spec_json = PromptIn.model_validate(p.model_dump()).model_dump(mode="json")
            pid, outcome, _ = await self.prompts.import_spec(s, workspace, p.name, spec_json, at)
            _count(result, "prompts", outcome)
            prompt_ids[p.name] = pid
        return prompt_ids

    async def _plan_commands(
        self,
        s: AsyncSession,
        bot_id: UUID,
        doc: BotImport,
        refs: _ImportRefs,
        result: ImportResult,
    ) -> tuple[list[tuple[str, UUID, CommandIn]], dict[UUID, CommandIn]]:
        """What to create or update, and every command of the bot as it would be after."""
        existing_rows = list(await repo.list_commands(s, bot_id))
        by_key = {
            (r.kind, r.name, tuple(sorted(r.spec.get("guild_ids", [])))): r for r in existing_rows
        }
        final: dict[UUID, CommandIn] = {
            r.id: CommandIn.model_validate(r.spec) for r in existing_rows
        }
        planned: list[tuple[str, UUID, CommandIn]] = []
        for i, cmd in enumerate(doc.commands):
            data = cmd.model_dump(mode="json")
            response = data["response"]
            loc: Loc = ["document", "commands", i, "response"]
            if "connection" in response:
                ref = await refs.resolve(
                    "connection", response.pop("connection"), [*loc, "connection"]
                )
                response["connection_id"] = str(ref) if ref else str(UUID(int=0))
            if "prompt" in response:
                ref = await refs.resolve("prompt", response.pop("prompt"), [*loc, "prompt"])
                response["prompt_id"] = str(ref) if ref else str(UUID(int=0))
            spec = CommandIn.model_validate(data)
            key = (spec.kind, spec.name, tuple(sorted(spec.guild_ids)))
            row = by_key.get(key)
            if row is None:
                cid = new_id()
                planned.append(("create", cid, spec))
                _count(result, "commands", "created")
            elif CommandIn.model_validate(row.spec) == spec:
                cid = row.id
                _count(result, "commands", "unchanged")
            else:
                cid = row.id
                planned.append(("update", cid, spec))
                _count(result, "commands", "updated")
            final[cid] = spec
        return planned, final


def _count(result: ImportResult, kind: str, what: str) -> None:
    """One more `kind` (commands, prompts, ...) in the result's `what` table (created, ...)."""
    table = getattr(result, what)
    table[kind] = table.get(kind, 0) + 1


class _ImportRefs:
    """Names an imported command refers to: the file's own connections and prompts, else
    those of the bot's workspace. A name found nowhere becomes a field error (collected,
    not raised)."""

    def __init__(self, s: AsyncSession, workspace_id: UUID) -> None:
        self._s = s
        self._workspace_id = workspace_id
        self.ids: dict[str, dict[str, UUID]] = {"connection": {}, "prompt": {}}
        self.fields: list[FieldError] = []

    async def resolve(self, kind: str, name: str, loc: Loc) -> UUID | None:
        known = self.ids[kind]
        if name in known:
            return known[name]
        row = await (
            repo.CONNECTIONS.by_name(self._s, self._workspace_id, name)
            if kind == "connection"
            else repo.PROMPTS.by_name(self._s, self._workspace_id, name)
        )
        if row is None:
            self.fields.append(
                FieldError(
                    loc=loc, message=f"no {kind} named {name!r} in the file or the workspace"
                )
            )
            return None
        known[name] = row.id
        return UUID(str(row.id))


async def _write_commands(
    s: AsyncSession,
    workspace: UUID,
    bot_id: UUID,
    planned: list[tuple[str, UUID, CommandIn]],
    at: datetime,
) -> None:
    for action, cid, spec in planned:
        conn_id, prompt_id = _refs(spec)
        values = {
            "kind": spec.kind,
            "name": spec.name,
            "spec": spec.model_dump(mode="json"),
            "connection_id": conn_id,
            "prompt_id": prompt_id,
            "updated_at": at,
        }
        if action == "create":
            await repo.insert_command(
                s,
                {
                    "id": cid,
                    "workspace_id": workspace,
                    "bot_id": bot_id,
                    "created_at": at,
                    **values,
                },
            )
        else:
            await repo.update_command(s, cid, values)


async def _import_prefix(
    s: AsyncSession,
    workspace: UUID,
    bot_id: UUID,
    doc: BotImport,
    at: datetime,
    result: ImportResult,
) -> bool:
    """Set the file's command prefix, if it has one; whether it changed."""
    if doc.prefix is None:
        return False
    current = await repo.get_settings(s, bot_id)
    # A bot that never saved a prefix has the default one: importing it changes nothing.
    if (current.prefix if current is not None else DEFAULT_PREFIX) != doc.prefix:
        await repo.upsert_settings(s, bot_id, workspace, at, {"prefix": doc.prefix})
        _count(result, "settings", "updated")
        return True
    _count(result, "settings", "unchanged")
    return False


async def _referenced(
    s: AsyncSession, rows: Sequence[CommandRow]
) -> tuple[Sequence[ConnectionRow], Sequence[PromptRow]]:
    """The connections and prompts that the commands refer to."""
    conn_ids = sorted({r.connection_id for r in rows if r.connection_id})
    prompt_ids = sorted({r.prompt_id for r in rows if r.prompt_id})
    return await repo.CONNECTIONS.by_ids(s, conn_ids), await repo.PROMPTS.by_ids(s, prompt_ids)
