"""The invitation preview (#17): what `/invite/:token` shows before the user accepts — the
workspace, the role, who invited and until when — answered like accepting would answer (404,
410 with accept's message, nothing to do for a member) but changing nothing."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from proto.errors import ErrorCode
from proto.workspaces import (
    INVITATION_ACCEPT,
    INVITATION_CREATE,
    INVITATION_LIST,
    INVITATION_PREVIEW,
    INVITATION_REVOKE,
    ROLE_CREATE,
    WORKSPACE_CREATE,
    AcceptInvitation,
    CreateInvitation,
    CreateRole,
    CreateWorkspace,
    InvitationRef,
    WorkspaceRef,
)
from tests.fixtures.auth import sign_in
from tests.integration.auth.gateway_calls import AuthCalls, expire_invitation
from tests.integration.auth.test_auth_audit import CHANGE_HEADERS


async def test_preview_names_what_the_link_joins_and_changes_nothing(
    stack, sandbox, nc, trail
) -> None:
    auth = AuthCalls(nc, CHANGE_HEADERS)
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox)
    ws = (await auth(WORKSPACE_CREATE, CreateWorkspace(name="Night shift"), alice)).id
    builtin = await auth(
        INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="operator"), alice
    )
    leads = await auth(
        ROLE_CREATE, CreateRole(workspace_id=ws, name="Leads", permissions=["bots.view"]), alice
    )
    custom = await auth(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role=leads.id), alice)

    seen = await auth(INVITATION_PREVIEW, AcceptInvitation(token=builtin.token), bob)
    assert (seen.workspace_id, seen.workspace_name, seen.role) == (ws, "Night shift", "operator")
    assert (seen.bot_count, seen.already_member) == (0, False)
    assert seen.invited_by == alice.user["display_name"]
    assert seen.expires_at == builtin.expires_at
    assert builtin.token not in orjson.dumps(seen.model_dump(mode="json")).decode()
    named = await auth(INVITATION_PREVIEW, AcceptInvitation(token=custom.token), bob)
    assert named.role == "Leads"
    owner_view = await auth(INVITATION_PREVIEW, AcceptInvitation(token=builtin.token), alice)
    assert owner_view.already_member is True

    # Nothing changed: both links still pending, Bob not a member, no audit record. The
    # revoke's record comes after any the previews would have written.
    pending = await auth(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert {i.id for i in pending.invitations} == {builtin.id, custom.id}
    await auth(INVITATION_REVOKE, InvitationRef(workspace_id=ws, invitation_id=custom.id), alice)
    records = await trail.settled(ws, "invitation.revoke")
    assert sorted(r.action for r in records) == [
        "invitation.revoke",
        "member.invite",
        "member.invite",
        "role.create",
        "workspace.create",
    ]
    again = await auth(INVITATION_PREVIEW, AcceptInvitation(token=builtin.token), bob)
    assert again.already_member is False
    accepted = await auth(INVITATION_ACCEPT, AcceptInvitation(token=builtin.token), bob)
    assert accepted.joined is True


async def test_unknown_expired_revoked_and_used_links_answer_like_accept(
    stack, sandbox, nc, infra
) -> None:
    auth = AuthCalls(nc)
    alice, bob, carol = [await sign_in(stack.url, sandbox) for _ in range(3)]
    ws = (await auth(WORKSPACE_CREATE, CreateWorkspace(name="Ops"), alice)).id

    async def invite() -> Any:
        return await auth(
            INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice
        )

    two_bots = await auth(
        INVITATION_CREATE,
        CreateInvitation(workspace_id=ws, role="viewer", bot_ids=[uuid.uuid4(), uuid.uuid4()]),
        alice,
    )
    limited = await auth(INVITATION_PREVIEW, AcceptInvitation(token=two_bots.token), bob)
    assert (limited.role, limited.bot_count) == ("viewer", 2)

    unknown = await auth.refused(INVITATION_PREVIEW, AcceptInvitation(token="bci_nope"), bob)
    assert (unknown.code, unknown.message) == (ErrorCode.NOT_FOUND, "invitation not found")
    not_ours = await auth.refused(INVITATION_PREVIEW, AcceptInvitation(token="nope"), bob)
    assert not_ours.code == ErrorCode.NOT_FOUND

    expired = await invite()
    await expire_invitation(infra.database_url, expired.id)
    revoked = await invite()
    await auth(INVITATION_REVOKE, InvitationRef(workspace_id=ws, invitation_id=revoked.id), alice)
    used = await invite()
    await auth(INVITATION_ACCEPT, AcceptInvitation(token=used.token), carol)

    for link, reason in ((expired, "expired"), (revoked, "revoked"), (used, "used")):
        previewed = await auth.refused(INVITATION_PREVIEW, AcceptInvitation(token=link.token), bob)
        accepting = await auth.refused(INVITATION_ACCEPT, AcceptInvitation(token=link.token), bob)
        assert (previewed.code, previewed.details["reason"]) == (ErrorCode.GONE, reason)
        assert previewed.message == accepting.message
        assert link.token not in previewed.message

    # The one who used the link is a member: accepting again would be a no-op, not a 410.
    mine = await auth(INVITATION_PREVIEW, AcceptInvitation(token=used.token), carol)
    assert (mine.workspace_id, mine.already_member) == (ws, True)
    nobody = await auth.refused(INVITATION_PREVIEW, AcceptInvitation(token=used.token))
    assert nobody.code == ErrorCode.UNAUTHENTICATED
