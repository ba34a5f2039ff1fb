"""Workspaces, members, roles and invitations (#17): every route calls auth-service's team
RPC (`proto/workspaces.py`), which checks the caller's permissions and answers 404 for a
workspace the caller is not in. `GET /v1/permissions` is static.

HTTP bodies are the RPC contracts without the ids the path gives (`body_of`); the route fills
those in. Deleting and transferring a workspace need a session, not a personal token (§5).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Path, Response, status
from pydantic import create_model

from gateway.auth import CurrentUser, Principal, require_scope
from gateway.deps import Bus
from gateway.routes.items import add_ref_route, typed
from proto import workspaces as W
from proto.access import PERMISSIONS
from proto.auth import ACCOUNT_SCOPE
from proto.base import Contract, Empty
from proto.registry import RpcSpec
from services.bus.rpc import RpcClient

router = APIRouter(tags=["workspaces"])
Account = Annotated[Principal, require_scope(ACCOUNT_SCOPE)]

C = TypeVar("C", bound=Contract)
WS = "/v1/workspaces/{workspace_id}"
WorkspaceId = Annotated[UUID, Path()]


@cache
def body_of(contract: type[Contract], *path_ids: str) -> type[Contract]:
    """`contract` without the fields the path gives: the request body the API documents
    (same constraints, same descriptions; unknown fields refused as by any contract)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in contract.model_fields.items()
        if name not in path_ids
    }
    model: type[Contract] = create_model(
        f"{contract.__name__}Body", __base__=Contract, __doc__=contract.__doc__, **fields
    )
    return model


UpdateWorkspaceBody = body_of(W.UpdateWorkspace, "workspace_id")

_PERMISSIONS = W.PermissionList.model_validate(
    {"permissions": [{"name": name, "description": text} for name, text in PERMISSIONS]}
)


def _with_path(contract: type[C], body: Contract | None = None, **path: UUID) -> C:
    """The RPC request: the path's ids plus the fields the body gave (a PATCH changes only
    those)."""
    return contract(**path, **(body.model_dump(exclude_unset=True) if body else {}))


async def _done(bus: RpcClient, spec: RpcSpec[C, Empty], req: C, user: Principal) -> Response:
    """Call a spec that answers nothing: 204."""
    await bus.call(spec, req, user_id=user.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@dataclass(frozen=True)
class Op:
    """One route of a table: the RPC it calls, its summary and the endpoint's name (its
    OpenAPI operation id)."""

    spec: RpcSpec[Any, Any]
    summary: str
    name: str


def add_body_route(
    method: str, path: str, op: Op, *, user: Any = CurrentUser, timeout_s: float | None = None,
    **route: Any,
) -> None:
    """A route of one workspace (`path` has `{workspace_id}`) whose body is `op`'s request
    without that id; USER is the principal's dependency (`Account` where a personal token
    may not)."""
    contract: type[Contract] = op.spec.request

    @typed(body=body_of(contract, "workspace_id"), principal=user)
    async def endpoint(
        workspace_id: WorkspaceId, body: Contract, bus: Bus, principal: Principal
    ) -> Any:
        req = _with_path(contract, body, workspace_id=workspace_id)
        return await bus.call(op.spec, req, user_id=principal.user_id, timeout_s=timeout_s)

    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        response_model=op.spec.reply,
        summary=op.summary,
        name=op.name,
        **route,
    )


@dataclass(frozen=True)
class Entries:
    """One kind of a workspace's entries (members, roles, invitations): their routes,
    `{WS}/<plural>` and `{WS}/<plural>/{<id_name>}`, differ only in these names and
    contracts. Registered in the order list, create, update, remove."""

    plural: str
    id_name: str  # the path's id, a field of the update and remove requests
    list: Op  # GET, of `WorkspaceRef`
    remove: Op  # DELETE, 204
    create: Op | None = None  # POST, 201
    update: Op | None = None  # PATCH: the fields given change


def add_entry_routes(entries: Entries) -> None:
    many = f"{WS}/{entries.plural}"
    one = f"{many}/{{{entries.id_name}}}"
    entry_id = Annotated[UUID, Path(alias=entries.id_name)]
    listed, create, update, remove = entries.list, entries.create, entries.update, entries.remove

    @router.get(many, response_model=listed.spec.reply, summary=listed.summary, name=listed.name)
    async def list_entries(workspace_id: WorkspaceId, bus: Bus, user: CurrentUser) -> Any:
        req = W.WorkspaceRef(workspace_id=workspace_id)
        return await bus.call(listed.spec, req, user_id=user.user_id)

    if create is not None:
        add_body_route("POST", many, create, status_code=status.HTTP_201_CREATED)

    if update is not None:
        change: type[Contract] = update.spec.request

        @router.patch(
            one, response_model=update.spec.reply, summary=update.summary, name=update.name
        )
        @typed(entry=entry_id, body=body_of(change, "workspace_id", entries.id_name))
        async def update_entry(
            workspace_id: WorkspaceId, entry: UUID, body: Contract, bus: Bus, user: CurrentUser
        ) -> Any:
            ids = {"workspace_id": workspace_id, entries.id_name: entry}
            req = _with_path(change, body, **ids)
            return await bus.call(update.spec, req, user_id=user.user_id)

    @router.delete(
        one,
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        summary=remove.summary,
        name=remove.name,
    )
    @typed(entry=entry_id)
    async def remove_entry(
        workspace_id: WorkspaceId, entry: UUID, bus: Bus, user: CurrentUser
    ) -> Response:
        req = remove.spec.request(workspace_id=workspace_id, **{entries.id_name: entry})
        return await _done(bus, remove.spec, req, user)


# ------------------------------------------------------------------------- workspaces
@router.get("/v1/workspaces", response_model=W.WorkspaceList, summary="my workspaces")
async def list_workspaces(bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(W.WORKSPACE_LIST, Empty(), user_id=user.user_id)


@router.post(
    "/v1/workspaces",
    response_model=W.Workspace,
    status_code=status.HTTP_201_CREATED,
    summary="create a team workspace (I become its owner)",
)
async def create_workspace(body: W.CreateWorkspace, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(W.WORKSPACE_CREATE, body, user_id=user.user_id)


@router.get(WS, response_model=W.Workspace, summary="one of my workspaces")
async def get_workspace(workspace_id: WorkspaceId, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        W.WORKSPACE_GET, W.WorkspaceRef(workspace_id=workspace_id), user_id=user.user_id
    )


add_body_route(
    "PATCH",
    WS,
    Op(
        W.WORKSPACE_UPDATE,
        "rename a workspace, set its avatar or audit retention (workspace.admin)",
        "update_workspace",
    ),
    openapi_extra={"requestBody": {"required": True}},
)
add_body_route(
    "DELETE",
    WS,
    Op(
        W.WORKSPACE_DELETE,
        "delete a team workspace: stops its bots, removes its data (owner; confirm_name)",
        "delete_workspace",
    ),
    user=Account,
    timeout_s=30,
)
add_body_route(
    "POST",
    f"{WS}/transfer",
    Op(
        W.WORKSPACE_TRANSFER,
        "make another member the owner (owner; I become admin)",
        "transfer_workspace",
    ),
    user=Account,
)


# ---------------------------------------------------------------------------- members
add_entry_routes(
    Entries(
        "members",
        "user_id",
        list=Op(W.MEMBER_LIST, "the workspace's members", "list_members"),
        update=Op(
            W.MEMBER_UPDATE, "change a member's role or bots (members.manage)", "update_member"
        ),
        remove=Op(W.MEMBER_REMOVE, "remove a member (members.manage)", "remove_member"),
    )
)


@router.post(
    f"{WS}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="leave a workspace (the owner transfers ownership first)",
)
async def leave_workspace(workspace_id: WorkspaceId, bus: Bus, user: CurrentUser) -> Response:
    req = W.WorkspaceRef(workspace_id=workspace_id)
    return await _done(bus, W.MEMBER_LEAVE, req, user)


# ------------------------------------------------------------------------------ roles
add_entry_routes(
    Entries(
        "roles",
        "role_id",
        list=Op(W.ROLE_LIST, "built-in and custom roles of a workspace", "list_roles"),
        create=Op(W.ROLE_CREATE, "create a custom role (workspace.admin)", "create_role"),
        update=Op(
            W.ROLE_UPDATE,
            "rename a custom role or change its permissions (workspace.admin)",
            "update_role",
        ),
        remove=Op(
            W.ROLE_DELETE, "delete a custom role no member holds (workspace.admin)", "delete_role"
        ),
    )
)


@router.get("/v1/permissions", response_model=W.PermissionList, summary="every permission")
async def list_permissions() -> W.PermissionList:
    return _PERMISSIONS


# ------------------------------------------------------------------------ invitations
add_entry_routes(
    Entries(
        "invitations",
        "invitation_id",
        list=Op(
            W.INVITATION_LIST,
            "pending invitations, without their tokens (members.manage)",
            "list_invitations",
        ),
        create=Op(
            W.INVITATION_CREATE,
            "a single-use invitation link; the token is shown this once (members.manage)",
            "create_invitation",
        ),
        remove=Op(
            W.INVITATION_REVOKE, "revoke an invitation (members.manage)", "revoke_invitation"
        ),
    )
)


for _method, _path, _spec, _name, _model, _summary in (
    (
        "GET",
        "/v1/invitations/{token}",
        W.INVITATION_PREVIEW,
        "preview_invitation",
        W.InvitationPreview,
        "what an invitation link would join (410 when it expired, was revoked or used)",
    ),
    (
        "POST",
        "/v1/invitations/{token}/accept",
        W.INVITATION_ACCEPT,
        "accept_invitation",
        W.InvitationAccepted,
        "join a workspace (410 when the link expired, was revoked or used)",
    ),
):
    add_ref_route(
        router, _method, _path, _spec, name=_name, ref=W.AcceptInvitation, key="token",
        key_type=str, key_rules={"min_length": 1, "max_length": 128},
        response_model=_model, summary=_summary,
    )
