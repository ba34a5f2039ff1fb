"""What auth-service asks other services before a team change (#17): a membership's or an
invitation's `bot_ids` must be bots of the workspace (bot-service's `rpc.bot.ids.check`),
a workspace's `avatar_file_id` an avatar file of that workspace (storage-service's
`rpc.storage.file.get`). An unknown id is a 422 naming it; a service that does not answer
is a 503; either way nothing is written.

Real NATS responders stand in for bot-service (`bot_service`, conftest.py) and
storage-service (below): this stack runs neither."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from proto import headers as H
from proto.access import AccessQuery
from proto.errors import ErrorCode, ErrorEnvelope
from proto.registry import RpcSpec
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
from services.bus.rpc import RpcClient
from services.errors import RpcError
from tests.fixtures.auth import SignedIn, sign_in


class Caller:
    def __init__(self, nc: NATS) -> None:
        self.client = RpcClient(nc, "gateway", timeout_s=15.0)

    async def __call__(self, spec: RpcSpec[Any, Any], req: Any, user: SignedIn) -> Any:
        return await self.client.call(spec, req, user_id=user.user_id)

    async def refused(self, spec: RpcSpec[Any, Any], req: Any, user: SignedIn) -> RpcError:
        with pytest.raises(RpcError) as caught:
            await self(spec, req, user)
        return caught.value

    async def bot_ids(self, user: SignedIn, ws: uuid.UUID) -> list[uuid.UUID]:
        snapshot = await self.client.call(ACCESS_GET, AccessQuery(user_id=user.user_id))
        (grant,) = [g for g in snapshot.grants if g.workspace_id == ws]
        return list(grant.bot_ids)


class Storage:
    """Answers `rpc.storage.file.get` with the files it holds (404 for any other id)."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.files: dict[uuid.UUID, FileInfo] = {}
        self.asked: list[dict[str, str]] = []
        self.sub: Any = None

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

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(GET_FILE.subject, cb=self.answer)
        await self.nc.flush()

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()
            await self.nc.flush()
            self.sub = None

    async def answer(self, msg: Any) -> None:
        self.asked.append(dict(msg.headers or {}))
        info = self.files.get(FileRef.model_validate_json(msg.data).file_id)
        if info is not None:
            await msg.respond(info.model_dump_json().encode())
            return
        error = ErrorEnvelope(code=ErrorCode.NOT_FOUND, message="file not found")
        body = orjson.dumps({"error": error.model_dump(mode="json")})
        await self.nc.publish(msg.reply, body, headers={H.STATUS: H.STATUS_ERROR})


@pytest.fixture
async def storage(nc: NATS) -> Any:
    found = Storage(nc)
    await found.start()
    yield found
    await found.stop()


async def _team(call: Caller, stack: Any, sandbox: Any) -> tuple[SignedIn, SignedIn, uuid.UUID]:
    alice, bob = await sign_in(stack.url, sandbox), await sign_in(stack.url, sandbox)
    ws = (await call(WORKSPACE_CREATE, CreateWorkspace(name="Checked"), alice)).id
    invite = await call(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice)
    await call(INVITATION_ACCEPT, AcceptInvitation(token=invite.token), bob)
    return alice, bob, ws


async def test_unknown_bot_ids_are_refused_by_name_and_nothing_is_written(
    stack, sandbox, nc, bot_service
) -> None:
    call = Caller(nc)
    alice, bob, ws = await _team(call, stack, sandbox)
    ours, stranger = uuid.uuid4(), uuid.uuid4()
    bot_service.unknown.add(stranger)

    limit = UpdateMember(workspace_id=ws, user_id=bob.user_id, bot_ids=[ours, stranger])
    refused = await call.refused(MEMBER_UPDATE, limit, alice)
    assert refused.code == ErrorCode.VALIDATION
    assert str(stranger) in refused.message
    assert str(ours) not in refused.message
    assert refused.details["unknown_bot_ids"] == [str(stranger)]
    assert [f.loc for f in refused.fields] == [["bot_ids"]]
    assert await call.bot_ids(bob, ws) == []

    invite = CreateInvitation(workspace_id=ws, role="operator", bot_ids=[stranger, ours])
    refused = await call.refused(INVITATION_CREATE, invite, alice)
    assert (refused.code, refused.details["unknown_bot_ids"]) == (
        ErrorCode.VALIDATION,
        [str(stranger)],
    )
    pending = await call(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert pending.invitations == []

    # Bots of the workspace are taken (once each), as bot-service was asked about them.
    member = await call(
        MEMBER_UPDATE,
        UpdateMember(workspace_id=ws, user_id=bob.user_id, bot_ids=[ours, ours]),
        alice,
    )
    assert member.bot_ids == [ours]
    assert await call.bot_ids(bob, ws) == [ours]
    link = await call(
        INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer", bot_ids=[ours]), alice
    )
    assert link.bot_ids == [ours]
    assert {(q.workspace_id, tuple(q.bot_ids)) for q in bot_service.asked} >= {(ws, (ours,))}


async def test_bot_service_down_refuses_bot_limits_with_503_and_writes_nothing(
    stack, sandbox, nc, bot_service
) -> None:
    call = Caller(nc)
    alice, bob, ws = await _team(call, stack, sandbox)
    bot = uuid.uuid4()
    async with bot_service.away():
        down = await call.refused(
            MEMBER_UPDATE, UpdateMember(workspace_id=ws, user_id=bob.user_id, bot_ids=[bot]), alice
        )
        assert (down.code, down.details["service"]) == (ErrorCode.UNAVAILABLE, "bot")
        assert "nothing was changed" in down.message
        down = await call.refused(
            INVITATION_CREATE,
            CreateInvitation(workspace_id=ws, role="viewer", bot_ids=[bot]),
            alice,
        )
        assert down.code == ErrorCode.UNAVAILABLE
        # Without bot limits there is nothing to ask: the change goes through.
        await call(INVITATION_CREATE, CreateInvitation(workspace_id=ws, role="viewer"), alice)
        changed = await call(
            MEMBER_UPDATE,
            UpdateMember(workspace_id=ws, user_id=bob.user_id, role="operator"),
            alice,
        )
        assert changed.role == "operator"
    assert await call.bot_ids(bob, ws) == []
    pending = await call(INVITATION_LIST, WorkspaceRef(workspace_id=ws), alice)
    assert [i.bot_ids for i in pending.invitations] == [[]]


async def test_workspace_avatar_must_be_an_avatar_file_of_that_workspace(
    stack, sandbox, nc, storage
) -> None:
    call = Caller(nc)
    alice, _, ws = await _team(call, stack, sandbox)
    elsewhere = storage.add(alice.user_id, "avatar")  # her personal workspace's
    config = storage.add(ws, "config")
    avatar = storage.add(ws, "avatar")

    for file_id, reason in (
        (elsewhere, "not a file of this workspace"),
        (config, "config file"),
        (uuid.uuid4(), "not a file of this workspace"),
    ):
        refused = await call.refused(
            WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, avatar_file_id=file_id), alice
        )
        assert refused.code == ErrorCode.VALIDATION, file_id
        assert reason in refused.message
        assert [f.loc for f in refused.fields] == [["avatar_file_id"]]
        current = await call(WORKSPACE_GET, WorkspaceRef(workspace_id=ws), alice)
        assert current.avatar_file_id is None

    updated = await call(
        WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, avatar_file_id=avatar), alice
    )
    assert updated.avatar_file_id == avatar
    # Asked as the admin, in this workspace (as the gateway's access would say it).
    assert all(h.get(H.USER_ID) == str(alice.user_id) and H.ACCESS in h for h in storage.asked)

    await storage.stop()
    down = await call.refused(
        WORKSPACE_UPDATE,
        UpdateWorkspace(workspace_id=ws, name="Renamed", avatar_file_id=storage.add(ws, "avatar")),
        alice,
    )
    assert (down.code, down.details["service"]) == (ErrorCode.UNAVAILABLE, "storage")
    current = await call(WORKSPACE_GET, WorkspaceRef(workspace_id=ws), alice)
    assert (current.name, current.avatar_file_id) == ("Checked", avatar)
    # Removing the avatar asks nobody.
    cleared = await call(
        WORKSPACE_UPDATE, UpdateWorkspace(workspace_id=ws, avatar_file_id=None), alice
    )
    assert cleared.avatar_file_id is None
