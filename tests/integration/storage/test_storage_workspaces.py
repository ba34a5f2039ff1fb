"""storage-service in workspaces (#17 slice S), over NATS with hand-built `bc-access`
headers on real PostgreSQL and NATS: who may read, upload and delete a team's files (403
naming the permission vs 404), quota per workspace, files never used across workspaces,
the workspace purge, one audit record per change, and the migration of files stored
before workspaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
import pytest
from sqlalchemy.engine import make_url

import storage_service
from proto import headers as H
from proto.access import BUILTIN_ROLES, Access, Grant
from proto.audit import AuditRecord
from proto.bots import APPLY_AVATAR, GET_BOT, ApplyAvatar, AvatarApplied, BotRef, BotSummary
from proto.commands import IMPORT, ImportBot
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.storage import (
    APPLY_AVATAR_FILE,
    DELETE_FILE,
    FILE_CONTENT,
    GET_FILE,
    LIST_FILES,
    READ_CONFIG,
    UPLOAD,
    ApplyAvatarFile,
    ConfigRef,
    ContentRequest,
    FileInfo,
    FileRef,
    ListFiles,
    UploadFile,
)
from proto.system import PurgeWorkspace, workspace_purge_spec
from services.bus.events import AUDIT_STREAM
from services.bus.rpc import RpcClient, RpcContext, RpcServer
from services.db.bootstrap import bootstrap
from services.db.engine import plain_url
from services.db.migrate import upgrade
from services.errors import RpcError
from tests.fixtures import storage as corpus
from tests.fixtures.infra import apoll, stream_messages
from tests.integration.test_schema_matches_models import fresh_database

__all__ = ["fresh_database"]

MIGRATIONS = Path(storage_service.__file__).parent / "migrations"
WORKSPACE_PURGE = workspace_purge_spec("storage")

CONFIG = (
    b'{"prefix": "!", "commands": [{"name": "ping", "description": "Ping",'
    b' "response": {"type": "template", "content": "pong"}}]}'
)


def person(user: UUID, *teams: tuple[UUID, str], token: UUID | None = None) -> Access:
    """`user`, owner of their personal workspace and member of each team with the role."""
    grants = [Grant(workspace_id=user, role="owner", permissions=BUILTIN_ROLES["owner"].mask)]
    grants += [
        Grant(workspace_id=ws, role=role, permissions=BUILTIN_ROLES[role].mask)
        for ws, role in teams
    ]
    return Access(user_id=user, token_id=token, grants=grants)


async def upload(
    rpc: RpcClient,
    access: Access,
    data: bytes,
    *,
    name: str = "bot.json",
    kind: str = "config",
    workspace: UUID | None = None,
    headers: dict[str, str] | None = None,
) -> FileInfo:
    meta = UploadFile(kind=kind, filename=name, content_type="", workspace_id=workspace)  # type: ignore[arg-type]
    return await rpc.call(UPLOAD, meta, access=access, body=data, headers=headers)


async def refused(coro: Any) -> RpcError:
    with pytest.raises(RpcError) as info:
        await coro
    return info.value


async def audit_records(js: Any, workspace: UUID) -> list[AuditRecord]:
    """Every record the AUDIT stream holds for storage-service in `workspace`; each
    message's id is its record's."""
    out = []
    for msg in await stream_messages(js, AUDIT_STREAM, f"aud.{workspace}.storage"):
        record = AuditRecord.model_validate_json(msg.data)
        assert msg.headers[H.MSG_ID] == str(record.id)
        out.append(record)
    return out


async def records_settle(js: Any, workspace: UUID, count: int) -> list[AuditRecord]:
    """The workspace's records once `count` are there (the relay publishes after commit)."""
    return await apoll(  # type: ignore[no-any-return]
        lambda: _exactly(js, workspace, count), timeout_s=10, what=f"{count} audit records"
    )


async def _exactly(js: Any, workspace: UUID, count: int) -> list[AuditRecord] | None:
    found = await audit_records(js, workspace)
    assert len(found) <= count, [r.action for r in found]
    return found if len(found) == count else None


async def test_team_files_members_permissions_quota_purge_and_audit(
    start_storage: Any, rpc: RpcClient, nc: Any
) -> None:
    store = start_storage("fs", STORAGE_QUOTA_FILES="2")
    js = nc.jetstream()
    team = uuid4()
    alice_id, bob_id, carol_id, token = uuid4(), uuid4(), uuid4(), uuid4()
    alice = person(alice_id, (team, "developer"), token=token)
    bob = person(bob_id, (team, "viewer"))
    carol = person(carol_id)
    client = {H.CLIENT: orjson.dumps({"ip": "203.0.113.7", "ua": "pytest/1"}).decode()}

    shared = await upload(rpc, alice, CONFIG, workspace=team, headers=client)
    assert shared.workspace_id == team
    assert {k.split("/")[1] for k in corpus.stored_keys(store)} == {str(team)}
    # The same bytes in another workspace are another file; in the same one, the same.
    own = await upload(rpc, alice, CONFIG)
    assert (own.workspace_id, own.deduplicated) == (alice_id, False)
    assert own.id != shared.id
    again = await upload(rpc, alice, CONFIG, workspace=team)
    assert (again.id, again.deduplicated) == (shared.id, True)

    [record] = await records_settle(js, team, 1)
    assert (record.action, record.target_type, record.target_id) == (
        "file.upload",
        "file",
        str(shared.id),
    )
    assert (record.actor_user_id, record.actor_token_id, record.workspace_id) == (
        alice_id,
        token,
        team,
    )
    assert (record.ip, record.user_agent) == ("203.0.113.7", "pytest/1")
    assert record.changes["name"] == {"old": None, "new": "bot.json"}
    assert record.changes["size_bytes"] == {"old": None, "new": len(CONFIG)}

    # A viewer reads the team's files (and only the team's: not alice's personal ones).
    listing = await rpc.call(LIST_FILES, ListFiles(), access=bob)
    assert [(f.id, f.workspace_id) for f in listing.files] == [(shared.id, team)]
    narrowed = await rpc.call(LIST_FILES, ListFiles(workspace_id=team), access=alice)
    assert [f.id for f in narrowed.files] == [shared.id]
    assert (narrowed.used_files, narrowed.quota_files) == (1, 2)
    everything = await rpc.call(LIST_FILES, ListFiles(), access=alice)
    assert {f.id for f in everything.files} == {shared.id, own.id}
    assert (await rpc.call(GET_FILE, FileRef(file_id=shared.id), access=bob)).id == shared.id
    _, body = await rpc.call_raw(FILE_CONTENT, ContentRequest(file_id=shared.id), access=bob)
    assert body == CONFIG
    # ... but neither uploads nor deletes there: 403 naming the permission.
    for attempt in (
        rpc.call(DELETE_FILE, FileRef(file_id=shared.id), access=bob),
        upload(rpc, bob, corpus.png(), name="a.png", kind="avatar", workspace=team),
    ):
        err = await refused(attempt)
        assert err.code is ErrorCode.FORBIDDEN
        assert err.message == "missing permission files.edit"
        assert err.details == {MISSING_PERMISSION: "files.edit"}

    # Someone outside the team learns nothing: 404 everywhere.
    for attempt in (
        rpc.call(GET_FILE, FileRef(file_id=shared.id), access=carol),
        rpc.call(DELETE_FILE, FileRef(file_id=shared.id), access=carol),
        rpc.call(READ_CONFIG, ConfigRef(file_id=shared.id), access=carol),
        rpc.call(LIST_FILES, ListFiles(workspace_id=team), access=carol),
        upload(rpc, carol, CONFIG, workspace=team),
        rpc.call(GET_FILE, FileRef(file_id=own.id), access=bob),
    ):
        assert (await refused(attempt)).code is ErrorCode.NOT_FOUND
    assert (await rpc.call(LIST_FILES, ListFiles(), access=carol)).files == []

    # A config file is read for a bot of its own workspace only.
    doc = await rpc.call(READ_CONFIG, ConfigRef(file_id=shared.id, workspace_id=team), access=alice)
    assert doc.file_id == shared.id
    crossed = await refused(
        rpc.call(READ_CONFIG, ConfigRef(file_id=own.id, workspace_id=team), access=alice)
    )
    assert crossed.code is ErrorCode.VALIDATION
    assert crossed.fields[0].loc == ["file_id"]

    # The quota is the workspace's: the team is full at 2, alice's personal one is not.
    await upload(rpc, alice, corpus.png(), name="a.png", kind="avatar", workspace=team)
    full = await refused(
        upload(rpc, alice, corpus.png(color=(1, 2, 3)), name="b.png", kind="avatar", workspace=team)
    )
    assert full.code is ErrorCode.CONFLICT
    assert "limit is 2" in full.message
    await upload(rpc, alice, corpus.png(color=(1, 2, 3)), name="b.png", kind="avatar")
    assert len(await records_settle(js, team, 2)) == 2

    deleted = await rpc.call(DELETE_FILE, FileRef(file_id=shared.id), access=alice)
    assert deleted.removed_objects == 1
    last = (await records_settle(js, team, 3))[-1]
    assert (last.action, last.target_id) == ("file.delete", str(shared.id))
    assert last.changes["name"] == {"old": "bot.json", "new": None}

    # Deleting the workspace purges its files and objects (twice is harmless), no others.
    purged = await rpc.call(WORKSPACE_PURGE, PurgeWorkspace(workspace_id=team))
    assert (purged.service, purged.removed) == ("storage", 1)
    assert (await rpc.call(WORKSPACE_PURGE, PurgeWorkspace(workspace_id=team))).removed == 0
    assert all(k.startswith(f"users/{alice_id}/") for k in corpus.stored_keys(store))
    assert (await rpc.call(LIST_FILES, ListFiles(workspace_id=team), access=alice)).files == []
    assert len((await rpc.call(LIST_FILES, ListFiles(), access=alice)).files) == 2
    # A purge is no user's change: nothing more in the team's trail.
    assert len(await audit_records(js, team)) == 3


async def test_a_failed_upload_leaves_no_audit_record_and_a_stored_one_names_its_record(
    start_storage: Any, rpc: RpcClient, nc: Any
) -> None:
    store = start_storage("fs")
    user = uuid4()
    # A plain file where the workspace's folder must go: the object write fails after
    # the row and its audit record were written in the transaction.
    (store["root"] / "users").mkdir(parents=True)
    (store["root"] / "users" / str(user)).write_bytes(b"in the way")
    err = await refused(upload(rpc, person(user), CONFIG))
    assert err.code is not ErrorCode.VALIDATION
    (store["root"] / "users" / str(user)).unlink()

    async def raw_upload() -> tuple[FileInfo, str | None]:
        # As the gateway sees it: the reply's `bc-audit` header names the record written.
        meta = UploadFile(kind="config", filename="bot.json")
        reply = await nc.request(
            UPLOAD.subject,
            CONFIG,
            timeout=20,
            headers={H.META: meta.model_dump_json(), H.ACCESS: person(user).encode()},
        )
        return FileInfo.model_validate_json(reply.data), (reply.headers or {}).get(H.AUDIT)

    stored, audit_id = await raw_upload()
    assert stored.deduplicated is False
    [record] = await records_settle(nc.jetstream(), user, 1)
    assert record.target_id == str(stored.id)
    assert audit_id == str(record.id)
    # The same bytes again change nothing: no record, no header.
    again, no_audit = await raw_upload()
    assert (again.deduplicated, no_audit) == (True, None)
    assert [f.id for f in (await rpc.call(LIST_FILES, ListFiles(), user_id=user)).files] == [
        stored.id
    ]


async def test_an_avatar_or_a_config_goes_only_to_a_bot_of_its_workspace(
    start_storage: Any, start_service: Any, rpc: RpcClient, nc: Any
) -> None:
    """bot-service stands in as a responder on real NATS (bots are not in workspaces in
    this slice): it places the bot in the team and records what storage sends it."""
    start_storage("fs")
    start_service("command")
    team, bot_id = uuid4(), uuid4()
    alice_id, bob_id = uuid4(), uuid4()
    alice = person(alice_id, (team, "admin"))
    bob = person(bob_id, (team, "developer"))
    applied_by: list[str | None] = []

    bots = RpcServer(nc, "bot")

    async def get_bot(req: BotRef, ctx: RpcContext) -> BotSummary:
        access = ctx.require_access()
        if req.bot_id != bot_id or not access.sees(team, bot_id):
            raise RpcError(ErrorCode.NOT_FOUND, "no such bot")
        return BotSummary(id=bot_id, workspace_id=team, name="team bot")

    async def apply(req: ApplyAvatar, ctx: RpcContext) -> AvatarApplied:
        applied_by.append(ctx.headers.get(H.ACCESS))
        return AvatarApplied(bot_id=req.bot_id, avatar_hash="abc")

    bots.register(GET_BOT, get_bot)  # type: ignore[arg-type]
    bots.register(APPLY_AVATAR, apply)  # type: ignore[arg-type]
    await bots.start()
    try:
        png = corpus.png()
        in_team = await upload(rpc, alice, png, name="a.png", kind="avatar", workspace=team)
        personal = await upload(rpc, alice, png, name="a.png", kind="avatar")

        crossed = await refused(
            rpc.call(APPLY_AVATAR_FILE, ApplyAvatarFile(bot_id=bot_id, file_id=personal.id),
                     access=alice)
        )
        assert crossed.code is ErrorCode.VALIDATION
        assert crossed.message == "the file is not in the bot's workspace"
        # A developer of the team may upload files but not change its bots.
        denied = await refused(
            rpc.call(APPLY_AVATAR_FILE, ApplyAvatarFile(bot_id=bot_id, file_id=in_team.id),
                     access=bob)
        )
        assert (denied.code, denied.details) == (
            ErrorCode.FORBIDDEN,
            {MISSING_PERMISSION: "bots.edit"},
        )
        assert applied_by == []

        done = await rpc.call(
            APPLY_AVATAR_FILE, ApplyAvatarFile(bot_id=bot_id, file_id=in_team.id), access=alice
        )
        assert done.avatar_hash == "abc"
        # bot-service is asked as alice (her access goes along), not as anyone else.
        assert applied_by == [alice.encode()]

        # command-service imports a config file into the bot only from the bot's workspace.
        team_config = await upload(rpc, alice, CONFIG, workspace=team)
        own_config = await upload(rpc, alice, CONFIG)
        wrong = await refused(
            rpc.call(IMPORT, ImportBot(bot_id=bot_id, file_id=own_config.id, dry_run=True),
                     access=alice)
        )
        assert (wrong.code, wrong.message) == (
            ErrorCode.VALIDATION,
            "the file is not in the bot's workspace",
        )
        dry = await rpc.call(
            IMPORT, ImportBot(bot_id=bot_id, file_id=team_config.id, dry_run=True), access=alice
        )
        assert sum(dry.created.values()) == 1
    finally:
        await bots.stop()


async def test_migration_moves_files_into_personal_workspaces(
    infra: Any, fresh_database: str
) -> None:
    await bootstrap(fresh_database, ["storage"], infra.role_password)
    await upgrade(fresh_database, "storage", MIGRATIONS, "0002")
    users = [uuid4(), uuid4()]
    files = [uuid4(), uuid4(), uuid4()]
    owners = [users[0], users[0], users[1]]
    admin = await asyncpg.connect(plain_url(fresh_database))
    try:
        for n, (file_id, owner) in enumerate(zip(files, owners, strict=True)):
            sha = f"{n:064x}"
            await admin.execute(
                "insert into storage.files (id, owner_id, kind, name, content_type, sha256, "
                "size_bytes, stored_bytes, object_keys) values "
                "($1, $2, 'config', $3, 'application/json', $4, 10, 10, $5)",
                file_id,
                owner,
                f"f{n}.json",
                sha,
                [f"users/{owner}/{sha}/original.json"],
            )
        before = await admin.fetch("select * from storage.files order by id")
        await upgrade(fresh_database, "storage", MIGRATIONS)
        after = await admin.fetch("select * from storage.files order by id")
    finally:
        await admin.close()
    assert [r["id"] for r in after] == [r["id"] for r in before]
    for old, new in zip(before, after, strict=True):
        assert new["workspace_id"] == new["created_by"] == old["owner_id"]
        assert new["object_keys"] == old["object_keys"]
        assert {k: v for k, v in new.items() if k not in ("workspace_id", "created_by")} == {
            k: v for k, v in old.items() if k != "owner_id"
        }

    # As the service's role: a user sees their personal workspace's files once the
    # request's scope names it, never another's.
    url = make_url(fresh_database).set(username="bc_storage", password=infra.role_password)
    conn = await asyncpg.connect(plain_url(url.render_as_string(hide_password=False)))
    try:
        async with conn.transaction():
            assert await conn.fetch("select id from files") == []
            await conn.execute("select set_config('app.ws', $1, true)", "{" + str(users[0]) + "}")
            seen = await conn.fetch("select id from files order by id")
            assert [r["id"] for r in seen] == sorted(files[:2])
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "update files set workspace_id = $1 where id = $2", users[1], files[0]
                )
    finally:
        await conn.close()
