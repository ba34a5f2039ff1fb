"""A bot's command setup as the hot path needs it: parsed commands, prompts, connections
with decrypted secrets, the Discord manifest and its hash. Built from database rows and
cached per bot (see execution/cache.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from command_service.models import (
    CONNECTIONS_AAD,
    BotSettingsRow,
    CommandRow,
    ConnectionRow,
    PromptRow,
)
from proto.commands import (
    DEFAULT_PREFIX,
    DISCORD_TYPE,
    CommandIn,
    CommandManifest,
    CommandOption,
    ConnectionOut,
    PromptIn,
)
from services.telemetry.redaction import register_secret
from services.vault import Vault, aad

OPTION_TYPE = {
    "string": 3,
    "integer": 4,
    "boolean": 5,
    "user": 6,
    "channel": 7,
    "role": 8,
    "number": 10,
}
INVOCATION_KIND = {
    "slash": "slash",
    "prefix": "prefix",
    "user_context": "user",
    "message_context": "message",
}


@dataclass
class Command:
    id: UUID
    spec: CommandIn


@dataclass
class Connection:
    id: UUID
    spec: ConnectionOut
    secret: str | None = field(default=None, repr=False)
    secret_headers: dict[str, str] = field(default_factory=dict, repr=False)

    def secret_values(self) -> list[str]:
        """Every form in which this connection's secrets leave the process: the secret,
        the secret header values and the Basic credentials as encoded on the wire."""
        values = [v for v in (self.secret, *self.secret_headers.values()) if v]
        if self.secret and self.spec.auth_type == "basic":
            pair = f"{self.spec.auth_username or ''}:{self.secret}".encode()
            values.append(base64.b64encode(pair).decode())
        return values


@dataclass
class BotSetup:
    bot_id: UUID
    # The bot's workspace (#17): its events' subjects and the cache's invalidation key.
    workspace_id: UUID | None
    prefix: str | None
    commands: list[Command]
    prompts: dict[UUID, PromptIn]
    connections: dict[UUID, Connection]
    manifest: CommandManifest
    _index: dict[tuple[str, str], list[Command]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cmd in self.commands:
            name = cmd.spec.name.lower() if cmd.spec.kind == "prefix" else cmd.spec.name
            self._index.setdefault((cmd.spec.kind, name), []).append(cmd)

    def secret_values(self) -> list[str]:
        """The secrets of every connection of this setup (one workspace's), for redaction."""
        return [v for conn in self.connections.values() for v in conn.secret_values()]

    def find(self, kind: str, name: str, guild_id: str | None) -> Command | None:
        ours = INVOCATION_KIND.get(kind)
        if ours is None:
            return None
        key = name.lower() if ours == "prefix" else name
        candidates = self._index.get((ours, key), [])
        fallback: Command | None = None
        for cmd in candidates:
            if not cmd.spec.guild_ids:
                fallback = cmd
            elif guild_id is not None and guild_id in cmd.spec.guild_ids:
                return cmd
        return fallback


def option_shape(option: CommandOption) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": OPTION_TYPE[option.type],
        "name": option.name,
        "description": option.description,
        "required": option.required,
    }
    if option.choices:
        out["choices"] = [{"name": c.name, "value": c.value} for c in option.choices]
    as_int = option.type == "integer"
    for key in ("min_value", "max_value"):
        value = getattr(option, key)
        if value is not None:
            out[key] = int(value) if as_int else value
    for key in ("min_length", "max_length"):
        value = getattr(option, key)
        if value is not None:
            out[key] = value
    return out


def discord_shape(spec: CommandIn) -> dict[str, Any]:
    """The application command as Discord's bulk-overwrite endpoint takes it."""
    out: dict[str, Any] = {"name": spec.name, "type": DISCORD_TYPE[spec.kind]}
    if spec.kind == "slash":
        out["description"] = spec.description
        out["options"] = [option_shape(o) for o in spec.options]
    if spec.required_permissions is not None:
        out["default_member_permissions"] = spec.required_permissions
    return out


def build_manifest(
    bot_id: UUID, prefix: str | None, commands: Sequence[Command]
) -> CommandManifest:
    global_commands: list[dict[str, Any]] = []
    guild_commands: dict[str, list[dict[str, Any]]] = {}
    prefix_commands: list[str] = []
    for cmd in commands:
        spec = cmd.spec
        if not spec.enabled:
            continue  # a disabled command disappears from Discord
        if spec.kind == "prefix":
            prefix_commands.append(spec.name)
            continue
        shape = discord_shape(spec)
        if spec.guild_ids:
            for gid in spec.guild_ids:
                guild_commands.setdefault(gid, []).append(shape)
        else:
            global_commands.append(shape)
    global_commands.sort(key=lambda c: (c["type"], c["name"]))
    for shapes in guild_commands.values():
        shapes.sort(key=lambda c: (c["type"], c["name"]))
    prefix_commands.sort()
    body = {
        "prefix": prefix,
        "prefix_commands": prefix_commands,
        "global_commands": global_commands,
        "guild_commands": dict(sorted(guild_commands.items())),
    }
    digest = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return CommandManifest(bot_id=bot_id, hash=digest, **body)


def connection_out(row: ConnectionRow) -> ConnectionOut:
    return ConnectionOut.model_validate(
        {
            **row.spec,
            "id": row.id,
            "workspace_id": row.workspace_id,
            "secret_set": row.secret_enc is not None,
            "secret_hint": row.secret_hint,
            "secret_headers": {n: "********" for n in row.secret_header_names},
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def open_connection(vault: Vault | None, row: ConnectionRow) -> Connection:
    """A stored connection as a call needs it: its secrets decrypted (and registered for
    log redaction)."""
    secret: str | None = None
    headers: dict[str, str] = {}
    if vault is None:
        return Connection(row.id, connection_out(row))
    if row.secret_enc is not None:
        secret = vault.decrypt_str(
            bytes(row.secret_enc), aad(CONNECTIONS_AAD, row.id, "secret_enc")
        )
        register_secret(secret)
    if row.secret_headers_enc is not None:
        headers = json.loads(
            vault.decrypt_str(
                bytes(row.secret_headers_enc),
                aad(CONNECTIONS_AAD, row.id, "secret_headers_enc"),
            )
        )
        for value in headers.values():
            register_secret(value)
    return Connection(row.id, connection_out(row), secret, headers)


def build_setup(
    bot_id: UUID,
    settings: BotSettingsRow | None,
    command_rows: Sequence[CommandRow],
    prompt_rows: Sequence[PromptRow],
    connection_rows: Sequence[ConnectionRow],
    vault: Vault | None,
) -> BotSetup:
    workspace: UUID | None = settings.workspace_id if settings is not None else None
    if workspace is None and command_rows:
        workspace = command_rows[0].workspace_id
    prefix = settings.prefix if settings is not None else DEFAULT_PREFIX
    commands = [Command(r.id, CommandIn.model_validate(r.spec)) for r in command_rows]
    prompts = {r.id: PromptIn.model_validate(r.spec) for r in prompt_rows}
    connections = {r.id: open_connection(vault, r) for r in connection_rows}
    return BotSetup(
        bot_id=bot_id,
        workspace_id=workspace,
        prefix=prefix,
        commands=commands,
        prompts=prompts,
        connections=connections,
        manifest=build_manifest(bot_id, prefix, commands),
    )
