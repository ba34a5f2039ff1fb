"""auth-service's audit records (#17, teams.md §6.1): security events in the person's
personal chain, team changes in the team's, one record per change through auth's outbox
(published only when the change commits), never a token's value.

Records are read as the AUDIT stream receives them (`aud.<workspace>.auth`, a core
subscription sees every JetStream publish); log-service, which stores them, is not needed."""

from __future__ import annotations

import uuid
from collections import Counter

import orjson

from proto import headers as H
from proto.auth import (
    LOGOUT,
    LOGOUT_ALL,
    ME_UPDATE,
    REFRESH,
    SETTINGS_PUT,
    TOKENS_CREATE,
    TOKENS_REVOKE,
    ApiTokenRef,
    CreateApiToken,
    RefreshRequest,
    UpdateMe,
    UserSettings,
)
from proto.base import Empty
from proto.errors import ErrorCode
from proto.workspaces import (
    INVITATION_ACCEPT,
    INVITATION_CREATE,
    INVITATION_REVOKE,
    MEMBER_LEAVE,
    MEMBER_REMOVE,
    MEMBER_UPDATE,
    ROLE_CREATE,
    ROLE_DELETE,
    ROLE_UPDATE,
    WORKSPACE_CREATE,
    WORKSPACE_DELETE,
    WORKSPACE_TRANSFER,
    WORKSPACE_UPDATE,
    AcceptInvitation,
    CreateInvitation,
    CreateRole,
    CreateWorkspace,
    DeleteWorkspace,
    InvitationRef,
    MemberRef,
    RoleIdRef,
    TransferWorkspace,
    UpdateMember,
    UpdateRole,
    UpdateWorkspace,
    WorkspaceRef,
)
from tests.fixtures.auth import sign_in
from tests.integration.auth.gateway_calls import AuthCalls

CLIENT = orjson.dumps({"ip": "203.0.113.7", "ua": "audit-test/1"}).decode()
# What the gateway sends with a state-changing call: the client's address and agent.
CHANGE_HEADERS = {H.CLIENT: CLIENT, H.REQUEST_ID: "req-audit-test"}


async def test_team_changes_write_one_record_each_and_refusals_none(
    stack, sandbox, nc, trail
) -> None:
    auth = AuthCalls(nc, CHANGE_HEADERS)
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox)
    ws = (await auth(WORKSPACE_CREATE, CreateWorkspace(name="Audited"), alice)).id
    invite = await auth(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice)
    await auth(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), bob)
    # Refused (403, 409, 422, 404): rolled back, so no record.
    assert (
        await auth.refused(WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, name="X"), bob)
    ).code == ErrorCode.FORBIDDEN
    role = await auth(
        ROLE_CREATE, CreateRole(workspace_id=ws, name="Leads", permissions=["bots.view"]), alice
    )
    await auth(
        MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id, role=role.id), alice
    )
    in_use = await auth.refused(ROLE_DELETE, RoleIdRef(workspace_id=ws, role_id=role.id), alice)
    assert in_use.code == ErrorCode.CONFLICT
    assert (
        await auth.refused(
            ROLE_CREATE, CreateRole(workspace_id=ws, name="Bad", permissions=["fly"]), alice
        )
    ).code == ErrorCode.VALIDATION
    await auth(
        ROLE_UPDATE,
        UpdateRole(workspace_id=ws, role_id=role.id, permissions=["bots.view", "logs.view"]),
        alice,
    )
    await auth(
        MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id, role="viewer"), alice
    )
    await auth(ROLE_DELETE, RoleIdRef(workspace_id=ws, role_id=role.id), alice)
    spare = await auth(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="admin"), alice)
    await auth(INVITATION_REVOKE, InvitationRef(workspace_id=ws, invitation_id=spare.id), alice)
    await auth(WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, name="Audited 2"), alice)
    # Renaming to the same name changes nothing: no record.
    await auth(WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, name="Audited 2"), alice)
    await auth(WORKSPACE_TRANSFER, TransferWorkspace(workspace_id=ws, user_id=bob.user_id), alice)
    await auth(MEMBER_LEAVE, WorkspaceRef(workspace_id=ws), alice)
    carol = await sign_in(stack.url, sandbox)
    third = await auth(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), bob)
    await auth(INVITATION_ACCEPT, AcceptInvitation(token=third.token), carol)
    await auth(MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=carol.user_id), bob)
    await auth(WORKSPACE_DELETE, DeleteWorkspace(workspace_id=ws, confirm_name="Audited 2"), bob)

    records = await trail.settled(ws, "workspace.delete")
    assert Counter(r.action for r in records) == {
        "workspace.create": 1,
        "member.invite": 3,
        "member.join": 2,
        "role.create": 1,
        "member.update": 2,
        "role.update": 1,
        "role.delete": 1,
        "invitation.revoke": 1,
        "workspace.update": 1,
        "workspace.transfer": 1,
        "member.leave": 1,
        "member.remove": 1,
        "workspace.delete": 1,
    }
    by_action = {r.action: r for r in reversed(records)}
    joined = by_action["member.join"]
    assert (joined.actor_user_id, joined.target_id) == (bob.user_id, str(bob.user_id))
    update = by_action["workspace.update"]
    assert update.changes == {"name": {"old": "Audited", "new": "Audited 2"}}
    assert (update.actor_user_id, update.ip, update.user_agent, update.request_id) == (
        alice.user_id,
        "203.0.113.7",
        "audit-test/1",
        "req-audit-test",
    )
    transfer = by_action["workspace.transfer"]
    assert transfer.changes == {
        "owner_user_id": {"old": str(alice.user_id), "new": str(bob.user_id)}
    }
    # The links' tokens are never recorded.
    for token in (invite.token, spare.token, third.token):
        assert not any(token.encode() in raw for raw in trail.raw)


async def test_security_events_go_to_the_personal_chain_without_secrets(
    stack, sandbox, nc, trail
) -> None:
    auth = AuthCalls(nc, CHANGE_HEADERS)
    alice = await sign_in(stack.url, sandbox)
    personal = alice.user_id
    (signed_in,) = await trail.settled(personal, "auth.sign_in")
    assert (signed_in.actor_user_id, signed_in.target_type) == (alice.user_id, "session")

    created = await auth(TOKENS_CREATE, CreateApiToken(name="ci", scopes=["bots:read"]), alice)
    bad = await auth.refused(TOKENS_CREATE, CreateApiToken(name="x", scopes=["fly"]), alice)
    assert bad.code == ErrorCode.VALIDATION
    await auth(TOKENS_REVOKE, ApiTokenRef(token_id=created.info.id), alice)
    assert (
        await auth.refused(TOKENS_REVOKE, ApiTokenRef(token_id=uuid.uuid4()), alice)
    ).code == ErrorCode.NOT_FOUND

    rotated = await auth(REFRESH, RefreshRequest(refresh_token=alice.refresh_token))
    reuse = await auth.refused(REFRESH, RefreshRequest(refresh_token=alice.refresh_token))
    assert reuse.details["reason"] == "refresh_reuse"
    second = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    assert second.user_id == alice.user_id
    await auth(LOGOUT, RefreshRequest(refresh_token=second.refresh_token))
    # Signing out of a session already gone changes nothing.
    await auth(LOGOUT, RefreshRequest(refresh_token=second.refresh_token))
    await auth(ME_UPDATE, UpdateMe(display_name="Alice A."), alice)
    await auth(ME_UPDATE, UpdateMe(display_name="Alice A."), alice)  # unchanged: no record
    await auth(SETTINGS_PUT, UserSettings(settings={"theme": "dark", "api_key": "k-123"}), alice)
    await auth(LOGOUT_ALL, Empty(), alice)

    records = await trail.settled(personal, "auth.sign_out_all")
    assert Counter(r.action for r in records) == {
        "auth.sign_in": 2,
        "token.create": 1,
        "token.revoke": 1,
        "auth.refresh_reuse": 1,
        "auth.sign_out": 1,
        "auth.sign_out_all": 1,
        "account.update": 1,
        "account.settings_update": 1,
    }
    assert all(r.actor_user_id == alice.user_id for r in records)
    made = next(r for r in records if r.action == "token.create")
    assert made.target_id == str(created.info.id)
    assert made.changes["name"] == {"old": None, "new": "ci"}
    prefs = next(r for r in records if r.action == "account.settings_update")
    assert prefs.changes == {"api_key": {"changed": True}, "theme": {"old": None, "new": "dark"}}
    secrets = [
        "k-123",
        created.token,
        alice.refresh_token,
        alice.access_token,
        rotated.refresh_token,
        second.refresh_token,
    ]
    for secret in secrets:
        assert not any(secret.encode() in raw for raw in trail.raw)
