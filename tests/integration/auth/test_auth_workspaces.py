"""Workspaces, members, roles and invitations (#17) on a real auth-service, PostgreSQL and
NATS, called over NATS as the gateway calls them (the HTTP routes are the gateway's slice).

Users sign in through the real OAuth flow (tests/fixtures/auth.py); each test makes its own
users and workspaces, so tests share the session's stack without seeing each other."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from nats.aio.client import Client as NATS

from proto.access import BUILTIN_ROLES, PERMISSION_NAMES, AccessChanged, AccessQuery
from proto.base import Empty
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.workspaces import (
    ACCESS_GET,
    INVITATION_ACCEPT,
    INVITATION_CREATE,
    INVITATION_LIST,
    INVITATION_REVOKE,
    MEMBER_LEAVE,
    MEMBER_LIST,
    MEMBER_REMOVE,
    MEMBER_UPDATE,
    ROLE_CREATE,
    ROLE_DELETE,
    ROLE_LIST,
    ROLE_UPDATE,
    WORKSPACE_CREATE,
    WORKSPACE_DELETE,
    WORKSPACE_GET,
    WORKSPACE_LIST,
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
from services.db.engine import plain_url
from tests.fixtures.auth import SignedIn, sign_in
from tests.fixtures.infra import apoll
from tests.integration.auth.gateway_calls import AuthCalls, expire_invitation


class Team(AuthCalls):
    """auth-service's team RPCs as a signed-in user, and what tests ask of them often."""

    async def version(self, user: SignedIn) -> int:
        snapshot = await self.client.call(ACCESS_GET, AccessQuery(user_id=user.user_id))
        return int(snapshot.version)

    async def grants(self, user: SignedIn) -> dict[uuid.UUID, Any]:
        snapshot = await self.client.call(ACCESS_GET, AccessQuery(user_id=user.user_id))
        return {g.workspace_id: g for g in snapshot.grants}

    async def team(self, owner: SignedIn, name: str = "Ops") -> uuid.UUID:
        created = await self(WORKSPACE_CREATE, CreateWorkspace(name=name), owner)
        return uuid.UUID(str(created.id))

    async def join(self, owner: SignedIn, ws: uuid.UUID, member: SignedIn, role: str) -> None:
        invite = await self(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role=role), owner)
        accepted = await self(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), member)
        assert accepted.joined is True


@pytest.fixture
def team(nc: NATS, stack: Any) -> Team:
    return Team(nc)


async def people(stack: Any, sandbox: Any, n: int) -> list[SignedIn]:
    return [await sign_in(stack.url, sandbox) for _ in range(n)]


async def test_first_sign_in_creates_the_personal_workspace(stack, sandbox, team) -> None:
    (alice,) = await people(stack, sandbox, 1)
    listed = await team(WORKSPACE_LIST, Empty(), alice)
    (personal,) = listed.workspaces
    assert personal.id == alice.user_id
    assert (personal.name, personal.personal, personal.role) == ("Personal", True, "owner")
    assert personal.permissions == list(PERMISSION_NAMES)
    grants = await team.grants(alice)
    assert list(grants) == [alice.user_id]
    assert grants[alice.user_id].personal is True


async def test_create_invite_accept_and_access_snapshot(stack, sandbox, team) -> None:
    alice, bob, carol = await people(stack, sandbox, 3)
    before = await team.version(alice)
    created = await team(WORKSPACE_CREATE, CreateWorkspace(name="  Ops team "), alice)
    assert (created.name, created.personal, created.role) == ("Ops team", False, "owner")
    assert await team.version(alice) == before + 1
    ws = created.id

    invite = await team(
        INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="operator"), alice
    )
    assert invite.token.startswith("bci_")
    assert invite.url.endswith(f"/invite/{invite.token}")
    assert invite.role == "operator"
    listed = await team(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert [i.id for i in listed.invitations] == [invite.id]
    assert "token" not in listed.invitations[0].model_dump()

    bob_before = await team.version(bob)
    accepted = await team(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), bob)
    assert (accepted.workspace_id, accepted.joined) == (ws, True)
    assert await team.version(bob) == bob_before + 1
    grant = (await team.grants(bob))[ws]
    assert grant.role == "operator"
    assert grant.permissions == BUILTIN_ROLES["operator"].mask
    assert (grant.name, grant.personal) == ("Ops team", False)

    # Accepting again is a no-op; the used link is gone for anyone else.
    again = await team(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), bob)
    assert again.joined is False
    used = await team.refused(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), carol)
    assert used.code == ErrorCode.GONE
    assert "already used" in used.message
    assert ws not in await team.grants(carol)
    assert (await team(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)).invitations == []

    members = await team(MEMBER_LIST, WorkspaceRef(workspace_id=ws), bob)
    assert {(m.user_id, m.role) for m in members.members} == {
        (alice.user_id, "owner"),
        (bob.user_id, "operator"),
    }
    assert {m.display_name for m in members.members} >= {alice.user["display_name"]}
    unknown = await team.refused(INVITATION_ACCEPT, AcceptInvitation(token="bci_nope"), carol)
    assert unknown.code == ErrorCode.NOT_FOUND


async def test_expired_revoked_and_email_restricted_invitations(
    stack, sandbox, team, infra
) -> None:
    alice, bob = await people(stack, sandbox, 2)
    ws = await team.team(alice)

    expired = await team(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice)
    await expire_invitation(infra.database_url, expired.id)
    gone = await team.refused(INVITATION_ACCEPT, AcceptInvitation(token=expired.token), bob)
    assert (gone.code, gone.details["reason"]) == (ErrorCode.GONE, "expired")

    revoked = await team(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice)
    await team(INVITATION_REVOKE, InvitationRef(workspace_id=ws, invitation_id=revoked.id), alice)
    gone = await team.refused(INVITATION_ACCEPT, AcceptInvitation(token=revoked.token), bob)
    assert (gone.code, gone.details["reason"]) == (ErrorCode.GONE, "revoked")
    twice = await team.refused(
        INVITATION_REVOKE, InvitationRef(workspace_id=ws, invitation_id=revoked.id), alice
    )
    assert twice.code == ErrorCode.NOT_FOUND

    for_someone = await team(
        INVITATION_CREATE,
        CreateInvitation(workspace_id=ws, role="viewer", email="someone@example.test"),
        alice,
    )
    mismatch = await team.refused(
        INVITATION_ACCEPT, AcceptInvitation(token=for_someone.token), bob
    )
    assert (mismatch.code, mismatch.details["reason"]) == (ErrorCode.FORBIDDEN, "email_mismatch")
    assert ws not in await team.grants(bob)

    bob_email = bob.sandbox_user.email
    assert bob_email
    for_bob = await team(
        INVITATION_CREATE,
        CreateInvitation(workspace_id=ws, role="viewer", email=bob_email.upper()),
        alice,
    )
    joined = await team(INVITATION_ACCEPT, AcceptInvitation(token=for_bob.token), bob)
    assert joined.joined is True
    # The e-mail-restricted link that failed for Bob is still pending for its addressee.
    pending = await team(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert [i.id for i in pending.invitations] == [for_someone.id]


async def test_bad_input_is_refused_and_changes_nothing(stack, sandbox, team) -> None:
    alice, bob = await people(stack, sandbox, 2)
    ws = await team.team(alice)
    await team.join(alice, ws, bob, "viewer")

    # The contract refuses it before auth-service's code runs (the bus answers `invalid`
    # naming the field; the gateway, validating the same contract, answers 422).
    reply = await team.client.nc.request(
        WORKSPACE_CREATE.subject,
        orjson.dumps({"name": "x" * 500}),
        timeout=15,
        headers={"bc-user-id": str(alice.user_id)},
    )
    long_name = orjson.loads(reply.data)["error"]
    assert long_name["code"] == "invalid"
    assert [f["loc"] for f in long_name["fields"]] == [["name"]]
    assert len((await team(WORKSPACE_LIST, Empty(), alice)).workspaces) == 2

    unknown_role = await team.refused(
        INVITATION_CREATE, CreateInvitation(workspace_id=ws, role=str(uuid.uuid4())), alice
    )
    assert unknown_role.code == ErrorCode.VALIDATION
    assert unknown_role.fields[0].loc == ["role"]

    bad_perms = await team.refused(
        ROLE_CREATE,
        CreateRole(workspace_id=ws, name="Odd", permissions=["bots.view", "bots.fly", "root"]),
        alice,
    )
    assert bad_perms.code == ErrorCode.VALIDATION
    assert "bots.fly, root" in bad_perms.message
    assert [f.loc for f in bad_perms.fields] == [["permissions", 1], ["permissions", 2]]
    roles = await team(ROLE_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert [r.name for r in roles.roles if not r.builtin] == []

    last_owner = await team.refused(
        MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=alice.user_id), alice
    )
    assert last_owner.code == ErrorCode.CONFLICT
    demote = await team.refused(
        MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=alice.user_id, role="admin"), alice
    )
    assert demote.code == ErrorCode.CONFLICT
    owner_leaves = await team.refused(MEMBER_LEAVE, WorkspaceRef(workspace_id=ws), alice)
    assert owner_leaves.code == ErrorCode.CONFLICT
    assert "transfer ownership first" in owner_leaves.message
    to_owner = await team.refused(
        MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id, role="owner"), alice
    )
    assert to_owner.code == ErrorCode.VALIDATION

    personal = WorkspaceRef(workspace_id=alice.user_id)
    assert (await team.refused(MEMBER_LEAVE, personal, alice)).code == ErrorCode.CONFLICT
    into_personal = await team.refused(
        INVITATION_CREATE, CreateInvitation(workspace_id=alice.user_id, role="viewer"), alice
    )
    assert into_personal.code == ErrorCode.CONFLICT
    transfer_personal = await team.refused(
        WORKSPACE_TRANSFER, TransferWorkspace(workspace_id=alice.user_id, user_id=bob.user_id),
        alice,
    )
    assert transfer_personal.code == ErrorCode.CONFLICT
    wrong_name = await team.refused(
        WORKSPACE_DELETE, DeleteWorkspace(workspace_id=ws, confirm_name="ops"), alice
    )
    assert (wrong_name.code, wrong_name.fields[0].loc) == (ErrorCode.VALIDATION, ["confirm_name"])

    members = await team(MEMBER_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert {(m.user_id, m.role) for m in members.members} == {
        (alice.user_id, "owner"),
        (bob.user_id, "viewer"),
    }
    assert (await team(WORKSPACE_GET, WorkspaceRef(workspace_id=ws), alice)).name == "Ops"


async def test_not_a_member_is_404_and_a_member_without_permission_403(
    stack, sandbox, team
) -> None:
    alice, bob, mallory = await people(stack, sandbox, 3)
    ws = await team.team(alice)
    await team.join(alice, ws, bob, "operator")
    ref = WorkspaceRef(workspace_id=ws)
    for spec, req in [
        (WORKSPACE_GET, ref),
        (MEMBER_LIST, ref),
        (ROLE_LIST, ref),
        (INVITATION_LIST, ref),
        (WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, name="Mine")),
        (INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer")),
    ]:
        assert (await team.refused(spec, req, mallory)).code == ErrorCode.NOT_FOUND, spec.subject
    for spec, req, permission in [
        (INVITATION_LIST, ref, "members.manage"),
        (INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), "members.manage"),
        (WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, name="Mine"), "workspace.admin"),
        (ROLE_CREATE, CreateRole(workspace_id=ws, name="R", permissions=[]), "workspace.admin"),
    ]:
        refused = await team.refused(spec, req, bob)
        assert refused.code == ErrorCode.FORBIDDEN, spec.subject
        assert refused.details[MISSING_PERMISSION] == permission
    admin_only = await team.refused(
        WORKSPACE_DELETE, DeleteWorkspace(workspace_id=ws, confirm_name="Ops"), bob
    )
    assert admin_only.code == ErrorCode.FORBIDDEN


async def test_no_escalation_beyond_ones_own_permissions(stack, sandbox, team) -> None:
    alice, bob, carol = await people(stack, sandbox, 3)
    ws = await team.team(alice)
    managers = await team(
        ROLE_CREATE,
        CreateRole(workspace_id=ws, name="Managers", permissions=["members.manage", "bots.view"]),
        alice,
    )
    await team.join(alice, ws, carol, managers.id)
    await team.join(alice, ws, bob, "operator")

    as_admin = await team.refused(
        INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="admin"), carol
    )
    assert as_admin.code == ErrorCode.FORBIDDEN
    assert as_admin.details[MISSING_PERMISSION] == "bots.control"
    # Bob (operator) holds bots.control and logs.view, which Carol lacks.
    for spec, req in [
        (MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=bob.user_id)),
        (MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id, role="viewer")),
    ]:
        refused = await team.refused(spec, req, carol)
        assert refused.code == ErrorCode.FORBIDDEN
        assert refused.details[MISSING_PERMISSION] == "bots.control"
    assert (await team.grants(bob))[ws].role == "operator"
    # Within her own permissions she may invite.
    same = await team(
        INVITATION_CREATE, CreateInvitation(workspace_id=ws, role=managers.id), carol
    )
    assert same.role == managers.id


async def test_every_change_bumps_the_versions_it_affects(stack, sandbox, team) -> None:
    alice, bob = await people(stack, sandbox, 2)
    ws = await team.team(alice)
    await team.join(alice, ws, bob, "viewer")

    async def bumps(action: Any, *expected: SignedIn, untouched: tuple[SignedIn, ...] = ()):
        before = {u.user_id: await team.version(u) for u in (*expected, *untouched)}
        result = await action()
        for u in expected:
            assert await team.version(u) == before[u.user_id] + 1, (action, u.user_id)
        for u in untouched:
            assert await team.version(u) == before[u.user_id], (action, u.user_id)
        return result

    bot = uuid.uuid4()
    await bumps(
        lambda: team(MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id,
                                                 role="developer"), alice),
        bob, untouched=(alice,),
    )
    await bumps(
        lambda: team(MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id,
                                                 bot_ids=[bot]), alice),
        bob, untouched=(alice,),
    )
    assert (await team.grants(bob))[ws].bot_ids == [bot]
    role = await team(
        ROLE_CREATE, CreateRole(workspace_id=ws, name="Looker", permissions=["bots.view"]), alice
    )
    await team(MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id, role=role.id),
               alice)
    await bumps(
        lambda: team(ROLE_UPDATE, UpdateRole(workspace_id=ws, role_id=role.id,
                                             permissions=["bots.view", "logs.view"]), alice),
        bob, untouched=(alice,),
    )
    assert (await team.grants(bob))[ws].permissions == BUILTIN_ROLES["viewer"].mask
    in_use = await team.refused(ROLE_DELETE, RoleIdRef(workspace_id=ws, role_id=role.id), alice)
    assert (in_use.code, in_use.details["members"]) == (ErrorCode.CONFLICT, 1)
    await bumps(
        lambda: team(WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, name="Renamed"), alice),
        alice, bob,
    )
    assert (await team.grants(bob))[ws].name == "Renamed"
    await bumps(
        lambda: team(WORKSPACE_TRANSFER, TransferWorkspace(workspace_id=ws, user_id=bob.user_id),
                     alice),
        alice, bob,
    )
    alice_grant, bob_grant = (await team.grants(alice))[ws], (await team.grants(bob))[ws]
    assert (alice_grant.role, bob_grant.role) == ("admin", "owner")
    assert bob_grant.bot_ids == []
    await bumps(
        lambda: team(MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=alice.user_id), bob),
        alice, untouched=(bob,),
    )
    assert ws not in await team.grants(alice)
    await team(ROLE_DELETE, RoleIdRef(workspace_id=ws, role_id=role.id), bob)
    deleted = await bumps(
        lambda: team(WORKSPACE_DELETE, DeleteWorkspace(workspace_id=ws, confirm_name="Renamed"),
                     bob),
        bob,
    )
    assert deleted.workspace_id == ws
    assert ws not in await team.grants(bob)
    gone = await team.refused(WORKSPACE_GET, WorkspaceRef(workspace_id=ws), bob)
    assert gone.code == ErrorCode.NOT_FOUND


async def test_access_changed_reaches_nats_within_a_second_of_a_removal(
    stack, sandbox, team, nc
) -> None:
    alice, bob = await people(stack, sandbox, 2)
    ws = await team.team(alice)
    seen: list[tuple[float, AccessChanged]] = []

    async def on_event(msg: Any) -> None:
        seen.append((time.monotonic(), AccessChanged.model_validate_json(msg.data)))

    sub = await nc.subscribe(f"evt.auth.{ws}.-.access_changed", cb=on_event)
    await nc.flush()
    try:
        # The relay publishes a change's event just after its reply: the join's comes
        # after the join returns, and must not be taken for the removal's.
        await team.join(alice, ws, bob, "operator")
        await apoll(
            lambda: any(bob.user_id in e.users for _, e in seen), what="the join's event"
        )
        seen.clear()
        # A refused change announces nothing: only the removal below is seen.
        refused = await team.refused(
            MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=alice.user_id), bob
        )
        assert refused.code == ErrorCode.FORBIDDEN
        started = time.monotonic()
        await team(MEMBER_REMOVE, MemberRef(workspace_id=ws, user_id=bob.user_id), alice)
        await apoll(lambda: seen, timeout_s=5, what="access_changed after the removal")
    finally:
        await sub.unsubscribe()
    (at, event), *more = seen
    assert more == []
    assert at - started <= 1.0
    assert (event.workspace_id, event.reason) == (ws, "removed")
    assert event.users == {bob.user_id: await team.version(bob)}
    assert ws not in await team.grants(bob)


async def test_leaving_and_the_owner_of_a_team_cannot_delete_their_account(
    stack, sandbox, team, nc
) -> None:
    alice, bob = await people(stack, sandbox, 2)
    ws = await team.team(alice, "Keep")
    await team.join(alice, ws, bob, "developer")
    await team(MEMBER_LEAVE, WorkspaceRef(workspace_id=ws), bob)
    assert ws not in await team.grants(bob)
    reply = await nc.request(
        "rpc.auth.me.delete", b"{}", timeout=20, headers={"bc-user-id": str(alice.user_id)}
    )
    error = orjson.loads(reply.data)["error"]
    assert error["code"] == "conflict"
    assert "Keep" in error["message"]
    assert ws in await team.grants(alice)


async def test_a_thousand_members_fit_and_the_cap_refuses_the_next_one(
    stack, sandbox, team, infra
) -> None:
    alice, bob = await people(stack, sandbox, 2)
    ws = await team.team(alice, "Big")
    invite = await team(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice)

    async def add_members(n: int) -> None:
        # Members made directly in the database: signing 5,000 people in would take minutes.
        admin = await asyncpg.connect(plain_url(infra.database_url))
        try:
            await admin.execute(
                "with made as (insert into auth.users (id, display_name) "
                "select gen_random_uuid(), 'member ' || i from generate_series(1, $2) i "
                "returning id) insert into auth.memberships (workspace_id, user_id, builtin_role) "
                "select $1, id, 'viewer' from made",
                ws,
                n,
            )
        finally:
            await admin.close()

    await add_members(999)
    listed = await team(MEMBER_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert len(listed.members) == 1000
    assert listed.members[0].user_id == alice.user_id

    await add_members(5000 - 1000)
    full = await team.refused(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), bob)
    assert (full.code, full.details["limit"]) == (ErrorCode.VALIDATION, "MAX_MEMBERS_PER_WORKSPACE")
    assert ws not in await team.grants(bob)
    # Nothing half-done: the link was not consumed.
    pending = await team(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert [i.id for i in pending.invitations] == [invite.id]


async def test_simultaneous_accepts_by_one_user_join_once_and_never_fail(
    stack, sandbox, team
) -> None:
    """Two accepts racing into the same workspace for the same person (two links, or one
    link clicked twice): one joins, the other is the documented no-op — never an error —
    and a link that did not make the membership stays usable (only one is consumed)."""
    alice, *joiners = await people(stack, sandbox, 5)
    ws = await team.team(alice, "Race")

    async def accept(token: str, who: SignedIn) -> Any:
        return await team(INVITATION_ACCEPT, AcceptInvitation(token=token), who)

    async def invite() -> Any:
        return await team(
            INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice
        )

    two_links = joiners[:3]
    invites = {p.user_id: (await invite(), await invite()) for p in two_links}
    same_link = joiners[3]
    once = await invite()
    results = await asyncio.gather(
        *(accept(inv.token, p) for p in two_links for inv in invites[p.user_id]),
        accept(once.token, same_link),
        accept(once.token, same_link),
    )
    for i in range(0, len(results), 2):
        assert sorted(r.joined for r in results[i : i + 2]) == [False, True]
    grants = {p.user_id: await team.grants(p) for p in joiners}
    assert all(ws in g for g in grants.values())
    members = await team(MEMBER_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert len(members.members) == 1 + len(joiners)
    # Each person of two links used one; the other is still pending. The link accepted
    # twice was consumed once.
    pending = {
        i.id
        for i in (await team(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)).invitations
    }
    for p in two_links:
        assert len(pending & {inv.id for inv in invites[p.user_id]}) == 1
    assert once.id not in pending
