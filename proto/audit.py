"""The audit trail (#17): one record per state-changing request or security event, the
catalog of action names, and the list/export contracts of
`GET /v1/workspaces/{workspace_id}/audit` (field names as the issue gives them).

Services write records in the transaction of the change (their outbox); log-service stores
them in one hash chain per workspace and answers `rpc.log.audit.list`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import AfterValidator, Field

from proto.base import Contract
from proto.registry import Spec, declared_specs, gateway_rpc

# `<type>.<verb>`: lower-case words joined by `_`.
ACTION_PATTERN: Final = re.compile(r"^[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$")

# Every action a record may name, with what it means. Append when a route or event is
# added (a test checks each state-changing gateway route names one, or none with a reason).
ACTIONS: Final[dict[str, str]] = {
    # security events of a person (their personal workspace's chain)
    "auth.sign_in": "signed in",
    "auth.sign_out": "signed out of one session",
    "auth.sign_out_all": "signed out everywhere",
    "auth.refresh_reuse": "a used refresh token was presented again: its sessions were revoked",
    "auth.link": "linked a sign-in provider",
    "account.update": "changed the profile",
    "account.settings_update": "changed the console's preferences",
    "account.delete": "deleted the account",
    "token.create": "created a personal access token",
    "token.revoke": "revoked a personal access token",
    # workspaces, members, roles, invitations (the team's chain)
    "workspace.create": "created the workspace",
    "workspace.update": "renamed the workspace or changed its avatar or settings",
    "workspace.delete": "deleted the workspace",
    "workspace.transfer": "transferred ownership",
    "member.invite": "created an invitation",
    "member.join": "accepted an invitation",
    "member.update": "changed a member's role or bots",
    "member.remove": "removed a member",
    "member.leave": "left the workspace",
    "invitation.revoke": "revoked an invitation",
    "role.create": "created a custom role",
    "role.update": "changed a custom role",
    "role.delete": "deleted a custom role",
    # bots
    "bot.create": "created a bot",
    "bot.update": "changed a bot's settings",
    "bot.delete": "deleted a bot",
    "bot.start": "started a bot",
    "bot.stop": "stopped a bot",
    "bot.restart": "restarted a bot",
    "bot.token_replace": "replaced a bot's token",
    "bot.avatar_apply": "applied an avatar to a bot",
    # commands, prompts, connections
    "command.create": "created a command",
    "command.update": "changed a command",
    "command.delete": "deleted a command",
    "command.import": "imported commands",
    "command.sync": "synced commands to Discord",
    "command.settings_update": "changed a bot's command settings",
    "prompt.create": "created a prompt",
    "prompt.update": "changed a prompt",
    "prompt.delete": "deleted a prompt",
    "connection.create": "created a connection",
    "connection.update": "changed a connection",
    "connection.delete": "deleted a connection",
    "connection.secret_set": "set a connection's secret",
    # automations and variables (#18)
    "automation.create": "created an automation",
    "automation.update": "changed an automation",
    "automation.delete": "deleted an automation",
    "variable.put": "set a server's variable",
    "variable.delete": "deleted a server's variable",
    "member_variable.put": "set a member's variable in a server",
    "member_variable.delete": "deleted a member's variable in a server",
    # files
    "file.upload": "uploaded a file",
    "file.delete": "deleted a file",
}

# What a record is about (`target_type`): the type part of the action names, plus `user`
# (a member) and `invitation`.
TARGET_TYPES: Final[tuple[str, ...]] = (
    "account",
    "automation",
    "bot",
    "command",
    "connection",
    "file",
    "invitation",
    "member_variable",
    "prompt",
    "role",
    "session",
    "token",
    "user",
    "variable",
    "workspace",
)


def _known_action(value: str) -> str:
    if value not in ACTIONS:
        raise ValueError(f"unknown audit action {value!r}")
    return value


def _known_target(value: str) -> str:
    if value not in TARGET_TYPES:
        raise ValueError(f"unknown target type {value!r}")
    return value


Action = Annotated[
    str, AfterValidator(_known_action), Field(json_schema_extra={"enum": list(ACTIONS)})
]
TargetType = Annotated[
    str, AfterValidator(_known_target), Field(json_schema_extra={"enum": list(TARGET_TYPES)})
]

# Default and maximum page size of `GET …/audit` (the gateway refuses more with a 422).
AUDIT_PAGE_DEFAULT: Final = 50
AUDIT_PAGE_MAX: Final = 200
# The gateway's export reads pages of this size (it pins `until_seq` first).
AUDIT_EXPORT_PAGE: Final = 1_000
# Days a workspace keeps its records by default (a workspace setting).
AUDIT_RETENTION_DAYS_DEFAULT: Final = 365
AUDIT_RETENTION_DAYS_MIN: Final = 30
# Strings in `changes` longer than this are recorded as `{"len", "sha256_12"}`.
AUDIT_VALUE_MAX_CHARS: Final = 256


class AuditRecord(Contract):
    """One entry of the trail, as `GET …/audit` lists it (newest first).

    `changes` maps a field name to `{"old": …, "new": …}` of non-secret values, or to
    `{"changed": true}` for a secret or token (never its value)."""

    id: UUID
    at: datetime
    actor_user_id: UUID | None = None
    # The personal access token used, when one was.
    actor_token_id: UUID | None = None
    workspace_id: UUID
    action: Action
    target_type: TargetType | None = None
    target_id: str | None = Field(default=None, max_length=200)
    changes: dict[str, Any] = Field(default_factory=dict)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    request_id: str | None = Field(default=None, max_length=128)


class AuditFilter(Contract):
    """The filters of `GET …/audit` and `GET …/audit/export` (query parameters)."""

    # the actor's user id
    actor: UUID | None = None
    action: Action | None = None
    target_type: TargetType | None = None
    target_id: str | None = Field(default=None, min_length=1, max_length=200)
    since: datetime | None = None
    until: datetime | None = None


class AuditQuery(AuditFilter):
    """`rpc.log.audit.list`: one page of a workspace's records, newest first. `cursor` is
    the opaque `next_cursor` of the previous page; `until_seq` pins an export to the chain
    head it started at (the gateway sets it, clients do not)."""

    workspace_id: UUID
    cursor: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=AUDIT_PAGE_DEFAULT, ge=1, le=AUDIT_EXPORT_PAGE)
    until_seq: int | None = Field(default=None, ge=0)


class AuditPage(Contract):
    """`{items, next_cursor}`; `next_cursor` is None on the last page. `head_seq` is the
    chain position of the newest record (what an export pins as `until_seq`)."""

    items: list[AuditRecord]
    next_cursor: str | None = None
    head_seq: int | None = None


AuditExportFormat = Literal["csv", "jsonl"]


class AuditExportQuery(AuditFilter):
    """`GET …/audit/export?format=csv|jsonl` (streamed as an attachment)."""

    format: AuditExportFormat = "jsonl"


AUDIT_LIST = gateway_rpc(
    "rpc.log.audit.list",
    AuditQuery,
    AuditPage,
    "one page of a workspace's audit records, newest first (needs audit.view)",
)

SPECS: list[Spec] = declared_specs(globals())
