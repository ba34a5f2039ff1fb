"""What auth-service asks other services before a team change (#17): a membership's or an
invitation's `bot_ids` must be bots of the workspace (bot-service's `rpc.bot.ids.check`),
a workspace's `avatar_file_id` an avatar file of that workspace (storage-service's
`rpc.storage.file.get`). An unknown id is a 422 naming it; a service that does not answer
is a 503; either way nothing is written.

Real NATS responders stand in for bot-service (`bot_service`) and storage-service
(`Storage`, through `stand_in`; conftest.py): this stack runs neither."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from proto import headers as H
from proto.access import AccessQuery
from proto.errors import ErrorCode, ErrorEnvelope
from proto.storage import GET_FILE, FileInfo, FileKind, FileRef
from proto.workspaces import (
    ACCESS_GET,
    INVITATION_ACCEPT,
    INVITATION_CREATE,
    INVITATION_LIST,
    MEMBER_UPDATE,
    WORKSPACE_CREATE,
    WORKSPACE_GET,
    WORKSPACE_UPDATE,
    AcceptInvitation,
    CreateInvitation,
    CreateWorkspace,
    UpdateMember,
    UpdateWorkspace,
    WorkspaceRef,
)
from tests.fixtures.auth import SignedIn, sign_in
from tests.integration.auth.gateway_calls import AuthCalls


async def _bot_limit(auth: AuthCalls, user: SignedIn, ws: uuid.UUID) -> list[uuid.UUID]:
    snapshot = await auth(ACCESS_GET, AccessQuery(user_id=user.user_id))
    (grant,) = [g for g in snapshot.grants if g.workspace_id == ws]
    return list(grant.bot_ids)


async def _team(auth: AuthCalls, stack: Any, sandbox: Any) -> tuple[SignedIn, SignedIn, uuid.UUID]:
    alice, bob = await sign_in(stack.url, sandbox), await sign_in(stack.url, sandbox)
    made = await auth(WORKSPACE_CREATE, CreateWorkspace(name="Checked"), alice)
    ws = made.id
    link = CreateInvitation(workspace_id=ws, role="viewer")
    invite = await auth(INVITATION_CREATE, link, alice)
    await auth(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), bob)
    return alice, bob, ws


@pytest.fixture
def auth(nc: Any) -> AuthCalls:
    return AuthCalls(nc)


async def test_unknown_bot_ids_are_refused_by_name_and_nothing_is_written(
    stack, sandbox, auth, bot_service
) -> None:
    alice, bob, ws = await _team(auth, stack, sandbox)
    ours, stranger = uuid.uuid4(), uuid.uuid4()
    bot_service.unknown.add(stranger)

    limit = UpdateMember(workspace_id=ws, user_id=bob.user_id, bot_ids=[ours, stranger])
    refused = await auth.refused(MEMBER_UPDATE, limit, alice)
    assert refused.code == ErrorCode.VALIDATION
    assert str(stranger) in refused.message
    assert str(ours) not in refused.message
    assert refused.details["unknown_bot_ids"] == [str(stranger)]
    assert [f.loc for f in refused.fields] == [["bot_ids"]]
    assert await _bot_limit(auth, bob, ws) == []

    invite = CreateInvitation(workspace_id=ws, role="operator", bot_ids=[stranger, ours])
    refused = await auth.refused(INVITATION_CREATE, invite, alice)
    assert (refused.code, refused.details["unknown_bot_ids"]) == (
        ErrorCode.VALIDATION,
        [str(stranger)],
    )
    listed = await auth(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert listed.invitations == []

    # Bots of the workspace are taken (once each), as bot-service was asked about them.
    twice = UpdateMember(workspace_id=ws, user_id=bob.user_id, bot_ids=[ours, ours])
    member = await auth(MEMBER_UPDATE, twice, alice)
    assert member.bot_ids == [ours]
    assert await _bot_limit(auth, bob, ws) == [ours]
    invite = CreateInvitation(workspace_id=ws, role="viewer", bot_ids=[ours])
    link = await auth(INVITATION_CREATE, invite, alice)
    assert link.bot_ids == [ours]
    assert {(q.workspace_id, tuple(q.bot_ids)) for q in bot_service.asked} >= {(ws, (ours,))}


async def test_bot_service_down_refuses_bot_limits_with_503_and_writes_nothing(
    stack, sandbox, auth, bot_service
) -> None:
    alice, bob, ws = await _team(auth, stack, sandbox)
    bot = uuid.uuid4()
    async with bot_service.away():
        limit = UpdateMember(workspace_id=ws, user_id=bob.user_id, bot_ids=[bot])
        down = await auth.refused(MEMBER_UPDATE, limit, alice)
        assert (down.code, down.details["service"]) == (ErrorCode.UNAVAILABLE, "bot")
        assert "nothing was changed" in down.message
        invite = CreateInvitation(workspace_id=ws, role="viewer", bot_ids=[bot])
        down = await auth.refused(INVITATION_CREATE, invite, alice)
        assert down.code == ErrorCode.UNAVAILABLE
        # Without bot limits there is nothing to ask: the change goes through.
        plain = CreateInvitation(workspace_id=ws, role="viewer")
        await auth(INVITATION_CREATE, plain, alice)
        role = UpdateMember(workspace_id=ws, user_id=bob.user_id, role="operator")
        assert (await auth(MEMBER_UPDATE, role, alice)).role == "operator"
    assert await _bot_limit(auth, bob, ws) == []
    listed = await auth(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert [i.bot_ids for i in listed.invitations] == [[]]


class Storage:
    """storage-service's `rpc.storage.file.get`: the files it holds, 404 for any other id."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.files: dict[uuid.UUID, FileInfo] = {}
        self.asked: list[dict[str, str]] = []

    def add(self, workspace_id: uuid.UUID, kind: FileKind) -> uuid.UUID:
        file_id = uuid.uuid4()
        self.files[file_id] = FileInfo(
            id=file_id,
            workspace_id=workspace_id,
            kind=kind,
            name=f"{kind}.png",
            content_type="image/png",
            size_bytes=10,
            stored_bytes=10,
            sha256="0" * 64,
            created_at=datetime.now(UTC),
        )
        return file_id

    async def answer(self, msg: Any) -> None:
        self.asked.append(dict(msg.headers or {}))
        info = self.files.get(FileRef.model_validate_json(msg.data).file_id)
        if info is not None:
            await msg.respond(info.model_dump_json().encode())
            return
        error = ErrorEnvelope(code=ErrorCode.NOT_FOUND, message="file not found")
        body = orjson.dumps({"error": error.model_dump(mode="json")})
        await self.nc.publish(msg.reply, body, headers={H.STATUS: H.STATUS_ERROR})


async def test_workspace_avatar_must_be_an_avatar_file_of_that_workspace(
    stack, sandbox, nc, auth, stand_in
) -> None:
    storage = Storage(nc)
    responder = await stand_in(GET_FILE.subject, storage.answer)
    alice, _, ws = await _team(auth, stack, sandbox)
    elsewhere = storage.add(alice.user_id, "avatar")  # her personal workspace's
    config = storage.add(ws, "config")
    avatar = storage.add(ws, "avatar")

    async def current() -> Any:
        return await auth(WORKSPACE_GET, WorkspaceRef(workspace_id=ws), alice)

    for file_id, reason in (
        (elsewhere, "not a file of this workspace"),
        (config, "config file"),
        (uuid.uuid4(), "not a file of this workspace"),
    ):
        change = UpdateWorkspace(workspace_id=ws, avatar_file_id=file_id)
        refused = await auth.refused(WORKSPACE_UPDATE, change, alice)
        assert refused.code == ErrorCode.VALIDATION, file_id
        assert reason in refused.message
        assert [f.loc for f in refused.fields] == [["avatar_file_id"]]
        assert (await current()).avatar_file_id is None

    change = UpdateWorkspace(workspace_id=ws, avatar_file_id=avatar)
    updated = await auth(WORKSPACE_UPDATE, change, alice)
    assert updated.avatar_file_id == avatar
    # Asked as the admin, in this workspace (as the gateway's access would say it).
    assert all(h.get(H.USER_ID) == str(alice.user_id) and H.ACCESS in h for h in storage.asked)

    async with responder.away():
        change = UpdateWorkspace(
            workspace_id=ws, name="Renamed", avatar_file_id=storage.add(ws, "avatar")
        )
        down = await auth.refused(WORKSPACE_UPDATE, change, alice)
        assert (down.code, down.details["service"]) == (ErrorCode.UNAVAILABLE, "storage")
        assert ((await current()).name, (await current()).avatar_file_id) == ("Checked", avatar)
        # Removing the avatar asks nobody.
        clear = UpdateWorkspace(workspace_id=ws, avatar_file_id=None)
        cleared = await auth(WORKSPACE_UPDATE, clear, alice)
        assert cleared.avatar_file_id is None
