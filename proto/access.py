"""Who may do what in which workspace (#17): the permission strings, the built-in roles and
the `Access` value the gateway sends with every call in the `bc-access` header.

Services decide with it (`Access.allows`) and PostgreSQL row-level security filters by its
workspaces; only the gateway builds a user's `Access`, from a verified credential.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import orjson
from pydantic import Field, ValidationError, model_validator

from proto.base import Contract
from proto.events import Event

# The 15 permissions, in a fixed order: the position is the bit in a permission mask, so
# the order is append-only (a test pins it). `GET /v1/permissions` lists them as they are.
PERMISSIONS: Final[tuple[tuple[str, str], ...]] = (
    ("bots.view", "See the workspace's bots, their status, shards and commands"),
    ("bots.control", "Start, stop and restart bots"),
    ("bots.edit", "Change a bot's settings and avatar"),
    ("bots.token", "Replace a bot's token (nobody can read one)"),
    ("bots.delete", "Delete bots"),
    ("commands.edit", "Create, change, import and delete commands and bot settings"),
    ("prompts.edit", "Create, change and delete prompts"),
    ("connections.edit", "Create, change and delete connections (not their secrets)"),
    ("connections.secrets", "Set connection secrets (nobody can read one)"),
    ("files.edit", "Upload and delete files"),
    ("logs.view", "Read logs and the live stream"),
    ("members.manage", "Invite, change and remove members; see and revoke invitations"),
    ("audit.view", "Read and export the audit trail"),
    ("workspace.admin", "Rename the workspace, manage custom roles and settings"),
    ("automations.edit", "Create, change, test and delete automations and variables"),
)
PERMISSION_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in PERMISSIONS)
_BIT: Final[dict[str, int]] = {name: 1 << i for i, name in enumerate(PERMISSION_NAMES)}
ALL_PERMISSIONS_MASK: Final = (1 << len(PERMISSIONS)) - 1

Permission = Literal[
    "bots.view",
    "bots.control",
    "bots.edit",
    "bots.token",
    "bots.delete",
    "commands.edit",
    "prompts.edit",
    "connections.edit",
    "connections.secrets",
    "files.edit",
    "logs.view",
    "members.manage",
    "audit.view",
    "workspace.admin",
    "automations.edit",
]


def unknown_permissions(names: Iterable[str]) -> list[str]:
    """The names that are not permissions, in the order given (for a 422 naming each)."""
    return [name for name in names if name not in _BIT]


def permission_mask(names: Iterable[str]) -> int:
    """The bit mask of `names`; ValueError naming the unknown ones."""
    names = list(names)
    unknown = unknown_permissions(names)
    if unknown:
        raise ValueError(f"unknown permissions: {', '.join(unknown)}")
    mask = 0
    for name in names:
        mask |= _BIT[name]
    return mask


def permission_names(mask: int) -> list[str]:
    """The permissions of `mask`, in the order of PERMISSIONS."""
    return [name for name in PERMISSION_NAMES if mask & _BIT[name]]


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    description: str
    permissions: frozenset[str]

    @property
    def mask(self) -> int:
        return permission_mask(self.permissions)


# Operations only the owner may do, whatever the permissions: they are not permissions, so
# `admin` holds every permission and still cannot do them (and neither can a personal token).
OWNER_ONLY_OPERATIONS: Final[tuple[str, ...]] = ("workspace.transfer", "workspace.delete")

BUILTIN_ROLES: Final[dict[str, BuiltinRole]] = {
    role.name: role
    for role in (
        BuiltinRole(
            "owner", "Everything, including transfer and delete", frozenset(PERMISSION_NAMES)
        ),
        BuiltinRole(
            "admin", "Everything but ownership transfer and workspace delete",
            frozenset(PERMISSION_NAMES),
        ),
        BuiltinRole(
            "developer",
            "View bots; edit commands, automations, prompts, connections (without secrets), "
            "files; read logs",
            frozenset({"bots.view", "commands.edit", "automations.edit", "prompts.edit",
                       "connections.edit", "files.edit", "logs.view"}),
        ),
        BuiltinRole(
            "operator", "View, start, stop and restart bots; read logs",
            frozenset({"bots.view", "bots.control", "logs.view"}),
        ),
        BuiltinRole("viewer", "View bots and read logs", frozenset({"bots.view", "logs.view"})),
    )
}
BuiltinRoleName = Literal["owner", "admin", "developer", "operator", "viewer"]

# What a personal access token made before teams may do: its old scopes, as permissions
# (`write` implies `read` of the same area). Account scopes (`settings:*`) are not
# workspace permissions; files are readable by any member.
LEGACY_SCOPE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "bots:read": frozenset({"bots.view", "logs.view"}),
    "bots:write": frozenset(
        {"bots.view", "logs.view", "bots.control", "bots.edit", "bots.delete", "bots.token"}
    ),
    "commands:read": frozenset({"bots.view"}),
    "commands:write": frozenset(
        {"bots.view", "commands.edit", "prompts.edit", "connections.edit", "connections.secrets"}
    ),
    "files:read": frozenset(),
    "files:write": frozenset({"files.edit"}),
    "logs:read": frozenset({"logs.view"}),
}

# Limits (auth-service refuses beyond them with a 422 naming the limit).
MAX_MEMBERSHIPS_PER_USER: Final = 200
MAX_MEMBERS_PER_WORKSPACE: Final = 5_000
MAX_BOT_IDS_PER_MEMBERSHIP: Final = 100
MAX_CUSTOM_ROLES_PER_WORKSPACE: Final = 50
# The encoded `bc-access` header never exceeds this: `Access.encode` raises AccessTooLarge
# (auth refuses the membership change that would get there) and `Access.decode` refuses a
# longer value before parsing it. 200 unlimited memberships take about 13 KB.
MAX_ACCESS_BYTES: Final = 32 * 1024
ACCESS_VERSION: Final = 1

# A role is a built-in role's name or a custom role's id (a UUID string).
ROLE_PATTERN = (
    r"^(owner|admin|developer|operator|viewer|"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


class Grant(Contract):
    """The caller's membership in one workspace: role, permissions and bot limit."""

    workspace_id: UUID
    role: str = Field(pattern=ROLE_PATTERN)
    # Bit i = PERMISSIONS[i]; a token's grant is its owner's ANDed with the token's subset.
    permissions: int = Field(ge=0, le=ALL_PERMISSIONS_MASK, strict=True)
    # The bots this membership is limited to; empty: every bot of the workspace (as the
    # membership's `bot_ids` in the API).
    bot_ids: list[UUID] = Field(default_factory=list, max_length=MAX_BOT_IDS_PER_MEMBERSHIP)

    def allows(self, permission: str, bot_id: UUID | None = None) -> bool:
        if not self.permissions & _BIT[permission]:
            return False
        return self.sees(bot_id)

    def sees(self, bot_id: UUID | None = None) -> bool:
        return bot_id is None or not self.bot_ids or bot_id in self.bot_ids


class AccessTooLarge(ValueError):
    """The encoded access would exceed MAX_ACCESS_BYTES."""


def _b64(value: UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def _unb64(text: Any) -> UUID:
    if not isinstance(text, str) or len(text) != 22:
        raise ValueError("bad id")
    return UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def _role_out(role: str) -> str:
    return role if role in BUILTIN_ROLES else _b64(UUID(role))


def _role_in(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError("bad role")
    return text if text in BUILTIN_ROLES else str(_unb64(text))


class Access(Contract):
    """What the caller may do: the payload of the `bc-access` header.

    `user_id` is the person (None only for system work); `token_id` the personal access token
    used, if any; `system` names the service acting for a workspace on its own (the fleet),
    never set by the gateway."""

    v: Literal[1] = ACCESS_VERSION
    user_id: UUID | None = None
    token_id: UUID | None = None
    system: str | None = Field(default=None, pattern=r"^[a-z]{1,16}$")
    grants: list[Grant] = Field(default_factory=list, max_length=MAX_MEMBERSHIPS_PER_USER)

    @model_validator(mode="after")
    def _someone(self) -> Access:
        if (self.user_id is None) == (self.system is None):
            raise ValueError("an access is a user's or a system's, exactly one of them")
        if len({g.workspace_id for g in self.grants}) != len(self.grants):
            raise ValueError("one grant per workspace")
        return self

    @classmethod
    def system_for(cls, service: str, workspace_id: UUID) -> Access:
        """A service acting on its own for one workspace: every permission there, no bot limit."""
        return cls(
            system=service,
            grants=[Grant(workspace_id=workspace_id, role="owner",
                          permissions=ALL_PERMISSIONS_MASK)],
        )

    def grant(self, workspace_id: UUID) -> Grant | None:
        for grant in self.grants:
            if grant.workspace_id == workspace_id:
                return grant
        return None

    def sees(self, workspace_id: UUID, bot_id: UUID | None = None) -> bool:
        """A member of the workspace (and, for a bot, not limited away from it): else 404."""
        grant = self.grant(workspace_id)
        return grant is not None and grant.sees(bot_id)

    def allows(self, permission: str, workspace_id: UUID, bot_id: UUID | None = None) -> bool:
        grant = self.grant(workspace_id)
        return grant is not None and grant.allows(permission, bot_id)

    def permitted(self, permission: str) -> list[UUID]:
        """The workspaces where the caller holds `permission` (lists filter by them)."""
        bit = _BIT[permission]
        return [g.workspace_id for g in self.grants if g.permissions & bit]

    def encode(self) -> str:
        """The compact header value: JSON `[v, user, token, system, [[ws, role, perms,
        [bot, ...]], ...]]`, ids as 22-char base64url (a custom role's id too), built-in roles
        by name; ASCII without spaces."""
        grants = [
            [_b64(g.workspace_id), _role_out(g.role), g.permissions,
             [_b64(b) for b in g.bot_ids]]
            for g in self.grants
        ]
        body = [
            self.v,
            None if self.user_id is None else _b64(self.user_id),
            None if self.token_id is None else _b64(self.token_id),
            self.system,
            grants,
        ]
        text = orjson.dumps(body).decode("ascii")
        if len(text) > MAX_ACCESS_BYTES:
            raise AccessTooLarge(
                f"access of {len(self.grants)} workspaces is {len(text)} bytes "
                f"(at most {MAX_ACCESS_BYTES})"
            )
        return text

    @classmethod
    def decode(cls, text: str | bytes) -> Access:
        """The Access of a header value; ValueError for anything malformed or too large."""
        if len(text) > MAX_ACCESS_BYTES:
            raise ValueError(f"bc-access is longer than {MAX_ACCESS_BYTES} bytes")
        try:
            body = orjson.loads(text)
            v, user, token, system, grants = body
            if v != ACCESS_VERSION:
                raise ValueError(f"unknown bc-access version {v!r}")
            return cls(
                v=v,
                user_id=None if user is None else _unb64(user),
                token_id=None if token is None else _unb64(token),
                system=system,
                grants=[
                    Grant(workspace_id=_unb64(ws), role=_role_in(role), permissions=perms,
                          bot_ids=[_unb64(b) for b in bots])
                    for ws, role, perms, bots in grants
                ],
            )
        except ValidationError as exc:
            raise ValueError(f"malformed bc-access: {exc.error_count()} errors") from None
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed bc-access: {exc}") from None


class WorkspaceGrant(Grant):
    """A grant with what `GET /v1/me` shows of its workspace."""

    name: str
    personal: bool


class AccessQuery(Contract):
    user_id: UUID


class AccessSnapshot(Contract):
    """Reply of `rpc.auth.access.get`: every membership of a user, at `version` (it grows with
    each change; a cache refuses a snapshot older than the version an AccessChanged named)."""

    user_id: UUID
    version: int = Field(ge=0)
    grants: list[WorkspaceGrant] = Field(default_factory=list)


# `role`: a member's role changed, or the permissions of their custom role did.
AccessChangeReason = Literal["removed", "role", "bots", "workspace_deleted", "transfer", "renamed"]


class AccessChanged(Event):
    """`evt.auth.<workspace_id>.-.access_changed`: the access of `users` to a workspace changed
    (each with their new version); gateways drop their cached snapshots, live streams
    re-check and close with 4403 what they may no longer show. `workspace_id` (the event's
    own field since #17 slice L) is the subject's second token."""

    # user id -> that user's access version after the change
    users: dict[UUID, Annotated[int, Field(ge=0)]]
    reason: AccessChangeReason
