"""Every security event of the teams issue (#17) that auth-service owns is on record:
sign-in, sign-out, token created/revoked, refresh-token reuse, membership and role changes,
invitation created/accepted/revoked, and the account's deletion (in the personal chain,
which outlives the account). Bot-token replacement and secret setting are bot-service's and
command-service's (tests/unit/proto/test_security_events.py lists where each is written).

Records are read as the AUDIT stream receives them (`aud.<workspace>.auth`)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from proto import headers as H
from proto.audit import AuditRecord
from proto.auth import (
    LOGOUT,
    LOGOUT_ALL,
    ME_DELETE,
    REFRESH,
    TOKENS_CREATE,
    TOKENS_REVOKE,
    ApiTokenRef,
    CreateApiToken,
    RefreshRequest,
)
from proto.base import Empty
from proto.workspaces import (
    INVITATION_ACCEPT,
    INVITATION_CREATE,
    INVITATION_REVOKE,
    MEMBER_REMOVE,
    MEMBER_UPDATE,
    WORKSPACE_CREATE,
    AcceptInvitation,
    CreateInvitation,
    CreateWorkspace,
    InvitationRef,
    MemberRef,
    UpdateMember,
)
from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll
from tests.integration.auth.gateway_calls import AuthCalls

# The issue's words → the action recorded, and in whose chain.
PERSONAL = {
    "sign-in": "auth.sign_in",
    "sign-out": "auth.sign_out",
    "sign-out everywhere": "auth.sign_out_all",
    "token created": "token.create",
    "token revoked": "token.revoke",
    "refresh-token reuse detected": "auth.refresh_reuse",
    "account deleted": "account.delete",
}
TEAM = {
    "invitation created": "member.invite",
    "invitation accepted": "member.join",
    "role change": "member.update",
    "invitation revoked": "invitation.revoke",
    "membership removed": "member.remove",
}


@pytest.fixture
async def records(nc: NATS, stack: Any) -> Any:
    found: list[AuditRecord] = []

    async def on_msg(msg: Any) -> None:
        found.append(AuditRecord.model_validate_json(msg.data))

    sub = await nc.subscribe("aud.*.auth", cb=on_msg)
    await nc.flush()
    yield found
    await sub.unsubscribe()


async def test_every_security_event_of_the_issue_is_recorded(stack, sandbox, nc, records) -> None:
    call = AuthCalls(nc, {H.CLIENT: orjson.dumps({"ip": "198.51.100.4", "ua": "sec/1"}).decode()})

    alice, bob = await sign_in(stack.url, sandbox), await sign_in(stack.url, sandbox)
    token = await call(TOKENS_CREATE, CreateApiToken(name="ci", scopes=["bots:read"]), alice)
    await call(TOKENS_REVOKE, ApiTokenRef(token_id=token.info.id), alice)
    await call(REFRESH, RefreshRequest(refresh_token=alice.refresh_token))
    await call.refused(REFRESH, RefreshRequest(refresh_token=alice.refresh_token))
    again = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    await call(LOGOUT, RefreshRequest(refresh_token=again.refresh_token))
    await call(LOGOUT_ALL, Empty(), alice)

    ws = (await call(WORKSPACE_CREATE, CreateWorkspace(name="Sec"), bob)).id
    link = await call(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), bob)
    await call(INVITATION_ACCEPT, AcceptInvitation(token=link.token), alice)
    await call(
        MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=alice.user_id, role="operator"), bob
    )
    spare = await call(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="admin"), bob)
    await call(INVITATION_REVOKE, InvitationRef(workspace_id=ws, invitation_id=spare.id), bob)
    await call(MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=alice.user_id), bob)
    deleted = await call(ME_DELETE, Empty(), alice)
    assert deleted.deleted is True
    # Deleting an account that is already gone deletes nothing: nothing more on record.
    await call(ME_DELETE, Empty(), alice)

    def actions(workspace: Any) -> set[str]:
        return {r.action for r in records if r.workspace_id == workspace}

    await apoll(
        lambda: (
            set(PERSONAL.values()) <= actions(alice.user_id) and set(TEAM.values()) <= actions(ws)
        ),
        timeout_s=10,
        what="every security event recorded",
    )
    personal = [r for r in records if r.workspace_id == alice.user_id]
    (gone,) = [r for r in personal if r.action == "account.delete"]
    assert (gone.actor_user_id, gone.target_type, gone.target_id) == (
        alice.user_id,
        "account",
        str(alice.user_id),
    )
    assert (gone.ip, gone.user_agent) == ("198.51.100.4", "sec/1")
    assert all(r.actor_user_id in (alice.user_id, bob.user_id) for r in records)
