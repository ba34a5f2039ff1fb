"""Workspaces, members, roles and invitations (#17): the contracts of auth-service's team API
and of the access snapshot the gateway caches. Field names are the issue's.

HTTP bodies are these contracts without the ids the path gives (`workspace_id`, `user_id`,
`role_id`, `invitation_id`): the gateway fills those in from the path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from proto.access import (
    MAX_BOT_IDS_PER_MEMBERSHIP,
    ROLE_PATTERN,
    AccessChanged,
    AccessQuery,
    AccessSnapshot,
    Permission,
)
from proto.audit import AUDIT_RETENTION_DAYS_MIN
from proto.auth import User
from proto.base import Contract, Empty
from proto.registry import EventSpec, Spec, declared_specs, gateway_rpc, rpc
from proto.values import TEXT_CHECK

WORKSPACE_NAME_MAX: Final = 100
ROLE_NAME_MAX: Final = 50
# Invitation lifetime: default 7 days, from 60 s to 30 days.
INVITATION_TTL_DEFAULT_S: Final = 7 * 24 * 3600
INVITATION_TTL_MIN_S: Final = 60
INVITATION_TTL_MAX_S: Final = 30 * 24 * 3600


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# The length is checked on the plain string, before the text check: on top of an
# after-validator pydantic words it as a collection ("at most 100 items after validation"),
# which the console cannot turn into plain words.
WorkspaceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=WORKSPACE_NAME_MAX),
    TEXT_CHECK,
    AfterValidator(_not_blank),
]
RoleName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ROLE_NAME_MAX),
    TEXT_CHECK,
    AfterValidator(_not_blank),
]
# A built-in role's name (`owner`, `admin`, `developer`, `operator`, `viewer`) or a custom
# role's id.
RoleRef = Annotated[str, StringConstraints(pattern=ROLE_PATTERN)]
# The bots a membership is limited to; empty: every bot of the workspace.
BotIds = Annotated[list[UUID], Field(max_length=MAX_BOT_IDS_PER_MEMBERSHIP)]


# --------------------------------------------------------------------------------------
# workspaces


class _CallersWorkspace(Contract):
    """A workspace with the caller's role there and what that role lets them do."""

    id: UUID
    name: str
    personal: bool
    role: str
    permissions: list[Permission]


class Workspace(_CallersWorkspace):
    """A workspace as its member sees it: `role` and effective `permissions` are the caller's."""

    created_at: datetime
    avatar_file_id: UUID | None = None
    # Days the audit trail keeps its records.
    audit_retention_days: int | None = None


class WorkspaceList(Contract):
    workspaces: list[Workspace]


class CreateWorkspace(Contract):
    """`POST /v1/workspaces` `{name}` → 201 Workspace (the caller is its owner)."""

    name: WorkspaceName


# A request about one workspace (or one of its members, roles or invitations) extends its
# ref: the ids come first, as the path gives them.
class WorkspaceRef(Contract):
    workspace_id: UUID


class MemberRef(WorkspaceRef):
    user_id: UUID


class UpdateWorkspace(WorkspaceRef):
    """`PATCH /v1/workspaces/{workspace_id}`: only the fields given change (`workspace.admin`).
    `avatar_file_id` is an uploaded avatar file of this workspace."""

    name: WorkspaceName | None = None
    avatar_file_id: UUID | None = None
    audit_retention_days: int | None = Field(default=None, ge=AUDIT_RETENTION_DAYS_MIN, le=3650)


class DeleteWorkspace(WorkspaceRef):
    """`DELETE /v1/workspaces/{workspace_id}` `{confirm_name}`: owner only; `confirm_name`
    must equal the workspace's name. Its bots stop and its data is removed."""

    confirm_name: str = Field(max_length=WORKSPACE_NAME_MAX)


class WorkspaceDeleted(Contract):
    workspace_id: UUID
    # Services that have not yet removed their data; auth-service keeps retrying them.
    pending: list[str] = Field(default_factory=list)


class TransferWorkspace(MemberRef):
    """`POST /v1/workspaces/{workspace_id}/transfer` `{user_id}`: the member becomes owner,
    the old owner admin."""


# --------------------------------------------------------------------------------------
# members


class Member(Contract):
    user_id: UUID
    display_name: str
    avatar_url: str | None = None
    role: str
    permissions: list[Permission]
    bot_ids: list[UUID] = Field(default_factory=list)
    joined_at: datetime


class MemberList(Contract):
    members: list[Member]


class UpdateMember(MemberRef):
    """`PATCH /v1/workspaces/{workspace_id}/members/{user_id}` `{role, bot_ids}`: the fields
    given change (`members.manage`; never beyond the caller's own permissions)."""

    role: RoleRef | None = None
    bot_ids: BotIds | None = None


# --------------------------------------------------------------------------------------
# roles and permissions


class PermissionInfo(Contract):
    name: Permission
    description: str


class PermissionList(Contract):
    """`GET /v1/permissions`: every permission string, in their fixed order."""

    permissions: list[PermissionInfo]


class Role(Contract):
    """A built-in role (`id` = its name, `builtin`) or a workspace's custom role."""

    id: str
    name: str
    permissions: list[Permission]
    builtin: bool
    description: str = ""
    # Members holding it.
    members: int = 0


class RoleList(Contract):
    roles: list[Role]


class CreateRole(WorkspaceRef):
    """`POST /v1/workspaces/{workspace_id}/roles` `{name, permissions}`; an unknown permission
    is refused, naming it."""

    name: RoleName
    permissions: list[str] = Field(max_length=64)


class RoleIdRef(WorkspaceRef):
    role_id: UUID


class UpdateRole(RoleIdRef):
    """`PATCH /v1/workspaces/{workspace_id}/roles/{role_id}`: the fields given change."""

    name: RoleName | None = None
    permissions: list[str] | None = Field(default=None, max_length=64)


# --------------------------------------------------------------------------------------
# invitations


class CreateInvitation(WorkspaceRef):
    """`POST /v1/workspaces/{workspace_id}/invitations` `{role, bot_ids?, email?,
    expires_in_s?}`. With `email`, only a user with that e-mail may accept."""

    role: RoleRef
    bot_ids: BotIds = Field(default_factory=list)
    email: str | None = Field(
        default=None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    expires_in_s: int = Field(
        default=INVITATION_TTL_DEFAULT_S, ge=INVITATION_TTL_MIN_S, le=INVITATION_TTL_MAX_S
    )


class InvitationCreated(Contract):
    """201 `{id, token, url, role, bot_ids, expires_at}`: the token is shown this once."""

    id: UUID
    token: str
    url: str
    role: str
    bot_ids: list[UUID]
    expires_at: datetime


class Invitation(Contract):
    """A pending invitation as listed (never with its token)."""

    id: UUID
    role: str
    bot_ids: list[UUID] = Field(default_factory=list)
    email: str | None = None
    expires_at: datetime
    created_at: datetime
    created_by: UUID | None = None


class InvitationList(Contract):
    invitations: list[Invitation]


class InvitationRef(WorkspaceRef):
    invitation_id: UUID


class AcceptInvitation(Contract):
    """`POST /v1/invitations/{token}/accept` (and `GET /v1/invitations/{token}`, its
    preview) by a signed-in user."""

    token: str = Field(min_length=1, max_length=128)


class InvitationPreview(Contract):
    """`GET /v1/invitations/{token}`: what accepting the link would join, before the
    signed-in user decides (never the token itself). An expired, revoked or used link
    answers 410 with the message accepting it would give, unless the caller is already a
    member (`already_member`: accepting would change nothing)."""

    workspace_id: UUID
    workspace_name: str
    role: str = Field(description="a built-in role's name or the custom role's name")
    bot_count: int = Field(ge=0, description="the bots the membership is limited to; 0: all")
    invited_by: str | None = Field(
        default=None, description="the inviter's display name (None once their account is gone)"
    )
    expires_at: datetime
    already_member: bool


class InvitationAccepted(Contract):
    """`joined` is False when the caller already was a member (nothing changed, the
    invitation stays usable); an expired, revoked or used token answers 410 `gone`."""

    workspace_id: UUID
    joined: bool


# --------------------------------------------------------------------------------------
# GET /v1/me (the gateway composes it: the user from auth-service, the workspaces from the
# access the request was authenticated with)


class MyWorkspace(_CallersWorkspace):
    """A workspace of mine with my role and what I may do there now (with a personal
    token: what the token may do)."""

    bot_ids: list[UUID] = Field(default_factory=list, description="empty: every bot")


class Me(User):
    """`GET /v1/me`: who I am, and my workspaces."""

    workspaces: list[MyWorkspace] = Field(default_factory=list)


# Shapes only the HTTP API has, exported with the contracts (proto/schema/) so that the
# console's types (web/src/api/schema.gen.ts) come from the same models as the gateway's.
HTTP_MODELS: list[type[Contract]] = [Me]


# --------------------------------------------------------------------------------------
# audit retention (log-service's pruner asks)

AUDIT_RETENTION_QUERY_MAX: Final = 1000


class AuditRetentionQuery(Contract):
    """The audit retention of these workspaces (log-service's daily pruner, for the
    workspaces that have records older than the shortest retention allowed)."""

    workspace_ids: list[UUID] = Field(max_length=AUDIT_RETENTION_QUERY_MAX)


class AuditRetentions(Contract):
    # Days each workspace keeps its audit records (`PATCH …/workspaces/{id}`
    # `audit_retention_days`); a workspace auth no longer has (deleted) is absent.
    days: dict[UUID, int]


# --------------------------------------------------------------------------------------
# RPCs of auth-service.

ACCESS_GET = rpc(
    "rpc.auth.access.get",
    AccessQuery,
    AccessSnapshot,
    callers=["gateway", "log"],
    summary="every membership of a user (role, permissions, bots) at its access version",
)
AUDIT_RETENTION_GET = rpc(
    "rpc.auth.audit.retention",
    AuditRetentionQuery,
    AuditRetentions,
    callers=["log"],
    summary="how many days each of these workspaces keeps its audit records",
)
WORKSPACE_LIST = gateway_rpc("rpc.auth.workspace.list", Empty, WorkspaceList)
WORKSPACE_CREATE = gateway_rpc(
    "rpc.auth.workspace.create",
    CreateWorkspace,
    Workspace,
    "create a team workspace owned by the caller",
)
WORKSPACE_GET = gateway_rpc("rpc.auth.workspace.get", WorkspaceRef, Workspace)
WORKSPACE_UPDATE = gateway_rpc("rpc.auth.workspace.update", UpdateWorkspace, Workspace)
WORKSPACE_DELETE = gateway_rpc(
    "rpc.auth.workspace.delete",
    DeleteWorkspace,
    WorkspaceDeleted,
    "owner: delete a team workspace, stop its bots and purge its data everywhere",
)
WORKSPACE_TRANSFER = gateway_rpc(
    "rpc.auth.workspace.transfer",
    TransferWorkspace,
    Workspace,
    "owner: make another member the owner (the old owner becomes admin)",
)
MEMBER_LIST = gateway_rpc("rpc.auth.member.list", WorkspaceRef, MemberList)
MEMBER_UPDATE = gateway_rpc("rpc.auth.member.update", UpdateMember, Member)
MEMBER_REMOVE = gateway_rpc("rpc.auth.member.remove", MemberRef, Empty)
MEMBER_LEAVE = gateway_rpc("rpc.auth.member.leave", WorkspaceRef, Empty)
ROLE_LIST = gateway_rpc("rpc.auth.role.list", WorkspaceRef, RoleList)
ROLE_CREATE = gateway_rpc("rpc.auth.role.create", CreateRole, Role)
ROLE_UPDATE = gateway_rpc("rpc.auth.role.update", UpdateRole, Role)
ROLE_DELETE = gateway_rpc("rpc.auth.role.delete", RoleIdRef, Empty)
INVITATION_CREATE = gateway_rpc(
    "rpc.auth.invitation.create",
    CreateInvitation,
    InvitationCreated,
    "a single-use invitation link (token shown once)",
)
INVITATION_LIST = gateway_rpc("rpc.auth.invitation.list", WorkspaceRef, InvitationList)
INVITATION_REVOKE = gateway_rpc("rpc.auth.invitation.revoke", InvitationRef, Empty)
INVITATION_PREVIEW = gateway_rpc(
    "rpc.auth.invitation.preview",
    AcceptInvitation,
    InvitationPreview,
    "what an invitation token would join (410 when expired, revoked or used)",
)
INVITATION_ACCEPT = gateway_rpc(
    "rpc.auth.invitation.accept",
    AcceptInvitation,
    InvitationAccepted,
    "join a workspace with an invitation token (410 when expired, revoked or used)",
)

SPECS: list[Spec] = [
    *declared_specs(globals()),
    EventSpec(
        "evt.auth.*.*.access_changed",
        AccessChanged,
        frozenset({"auth"}),
        "members' access to a workspace changed: drop cached access, re-check live streams",
    ),
]
