"""storage-service over NATS against a real PostgreSQL and both object-store backends."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest
from PIL import Image

from proto.errors import ErrorCode
from proto.storage import (
    DELETE_FILE,
    FILE_CONTENT,
    GET_FILE,
    LIST_FILES,
    READ_CONFIG,
    UPLOAD,
    ConfigRef,
    ContentRequest,
    FileEvent,
    FileRef,
    ListFiles,
    UploadFile,
)
from proto.system import PurgeUser, purge_spec
from services.bus.events import STREAM
from services.bus.rpc import RpcClient
from services.db.engine import plain_url
from services.devstack.embedded import free_port
from services.errors import RpcError
from tests.fixtures import storage as corpus

PURGE = purge_spec("storage")

VALID_CONFIG = (
    b'{"prefix": "!", "commands": [{"name": "ping", "description": "Ping",'
    b' "response": {"type": "template", "content": "pong"}}]}'
)


async def upload(
    rpc: RpcClient, user: Any, data: bytes, name: str, ctype: str, kind: str = "avatar"
):  # type: ignore[no-untyped-def]
    return await rpc.call(
        UPLOAD, UploadFile(kind=kind, filename=name, content_type=ctype), user_id=user, body=data
    )  # type: ignore[arg-type]


async def refused(coro: Any) -> RpcError:
    with pytest.raises(RpcError) as info:
        await coro
    return info.value


@pytest.mark.parametrize("backend", ["fs", "s3"])
async def test_avatar_upload_variants_dedup_download_delete(
    backend: str, start_storage, rpc: RpcClient, nc
) -> None:
    store = start_storage(backend)
    user = uuid4()
    data = corpus.jpeg_with_gps_and_rotation(900, 600)
    info = await upload(rpc, user, data, "me.jpg", "image/jpeg")
    assert info.kind == "avatar"
    assert info.content_type == "image/jpeg"
    assert (info.width, info.height) == (900, 600)
    assert {v.name: v.width for v in info.variants} == {
        "128": 128,
        "256": 256,
        "512": 512,
        "1024": 1024,
    }
    keys = stored_keys = corpus.stored_keys(store)
    assert keys == {f"users/{user}/{info.sha256}/{n}.webp" for n in ("128", "256", "512", "1024")}
    assert info.stored_bytes == sum(v.size_bytes for v in info.variants)

    again = await upload(rpc, user, data, "copy.jpg", "image/jpeg")
    assert again.id == info.id
    assert again.deduplicated is True
    assert corpus.stored_keys(store) == stored_keys
    listing = await rpc.call(LIST_FILES, ListFiles(), user_id=user)
    assert [f.id for f in listing.files] == [info.id]
    assert listing.used_files == 1
    assert listing.used_bytes == info.stored_bytes

    for side in (128, 256, 512, 1024):
        meta, body = await rpc.call_raw(
            FILE_CONTENT, ContentRequest(file_id=info.id, variant=str(side)), user_id=user
        )
        if backend == "s3":
            assert meta.url
            assert meta.expires_in_s == 300
            query = parse_qs(urlsplit(meta.url).query)
            assert query["X-Amz-Expires"] == ["300"]
            assert query["X-Amz-Signature"]
            assert query["response-content-type"] == ["image/webp"]
            async with httpx.AsyncClient() as http:
                resp = await http.get(meta.url)
            assert resp.status_code == 200
            body = resp.content
        else:
            assert meta.url is None
        img = Image.open(io.BytesIO(body))
        assert (img.format, img.size) == ("WEBP", (side, side))
        assert len(body) == meta.size_bytes
        assert b"SpyCam" not in body
        assert not img.getexif()
    missing = await refused(
        rpc.call(FILE_CONTENT, ContentRequest(file_id=info.id, variant="64"), user_id=user)
    )
    assert missing.code is ErrorCode.NOT_FOUND

    # Someone else sees nothing of it.
    other = uuid4()
    assert (
        await refused(rpc.call(GET_FILE, FileRef(file_id=info.id), user_id=other))
    ).code is ErrorCode.NOT_FOUND
    assert (
        await refused(rpc.call(DELETE_FILE, FileRef(file_id=info.id), user_id=other))
    ).code is ErrorCode.NOT_FOUND
    assert (await rpc.call(LIST_FILES, ListFiles(), user_id=other)).files == []

    deleted = await rpc.call(DELETE_FILE, FileRef(file_id=info.id), user_id=user)
    assert deleted.removed_objects == 4
    js = nc.jetstream()
    for kind in ("file_stored", "file_deleted"):
        msg = await js.get_last_msg(STREAM, f"evt.storage.{user}.-.{kind}")
        event = FileEvent.model_validate_json(msg.data)
        assert (event.file_id, event.owner_id, event.file_kind) == (info.id, user, "avatar")
    assert corpus.stored_keys(store) == set()
    assert (
        await refused(rpc.call(GET_FILE, FileRef(file_id=info.id), user_id=user))
    ).code is ErrorCode.NOT_FOUND


async def test_hostile_uploads_get_a_clear_4xx_and_never_reach_storage(
    start_storage, rpc: RpcClient
) -> None:
    store = start_storage("fs", STORAGE_MAX_CONFIG_BYTES="65536")
    user = uuid4()
    cases = [
        (corpus.pixel_flood_png(), "flood.png", "image/png", "avatar", "decompression bomb"),
        (corpus.zip_bomb(), "bomb.png", "image/png", "avatar", "ZIP"),
        (corpus.truncated_jpeg(), "cut.jpg", "image/jpeg", "avatar", "truncated"),
        (corpus.polyglot_gif_html(), "poly.gif", "image/gif", "avatar", ""),
        (corpus.svg(), "x.svg", "image/svg+xml", "avatar", "SVG"),
        (corpus.png(), "lie.png", "image/gif", "avatar", "sent as"),
        (corpus.YAML_PYTHON_OBJECT, "evil.yaml", "application/yaml", "config", "tags"),
        (corpus.YAML_BILLION_LAUGHS, "lol.yaml", "application/yaml", "config", "aliases"),
        (corpus.deep_json(5000), "deep.json", "application/json", "config", "nested deeper"),
        (
            b'{"commands": [{"name": "Bad Name!"}]}',
            "bad.json",
            "application/json",
            "config",
            "bot import schema",
        ),
    ]
    for data, name, ctype, kind, expect in cases:
        err = await refused(upload(rpc, user, data, name, ctype, kind))
        assert err.code is ErrorCode.VALIDATION, (name, err)
        assert expect in err.message, (name, err.message)
    too_big = await refused(
        upload(rpc, user, b"{" + b" " * 70_000 + b"}", "big.json", "application/json", "config")
    )
    assert too_big.code is ErrorCode.TOO_LARGE
    schema = await refused(
        upload(rpc, user, b'{"commands": [{"name": "ok"}]}', "c.json", "application/json", "config")
    )
    assert any(f.loc[:3] == ["document", "commands", 0] for f in schema.fields)
    assert corpus.stored_keys(store) == set()
    assert (await rpc.call(LIST_FILES, ListFiles(), user_id=user)).files == []


async def test_config_files_are_read_back_parsed(start_storage, rpc: RpcClient) -> None:
    store = start_storage("fs")
    user = uuid4()
    as_json = await upload(rpc, user, VALID_CONFIG, "bot.json", "application/json", "config")
    yaml_text = (
        b"prefix: '!'\ncommands:\n  - name: ping\n    description: Ping\n"
        b"    response: {type: template, content: pong}\n"
    )
    as_yaml = await upload(rpc, user, yaml_text, "bot.yaml", "", "config")
    assert as_yaml.content_type == "application/yaml"
    for file in (as_json, as_yaml):
        doc = await rpc.call(READ_CONFIG, ConfigRef(file_id=file.id), user_id=user)
        assert doc.document["commands"][0]["response"] == {"type": "template", "content": "pong"}
    assert (
        await rpc.call(READ_CONFIG, ConfigRef(file_id=as_yaml.id), user_id=user)
    ).name == "bot.yaml"
    meta, body = await rpc.call_raw(FILE_CONTENT, ContentRequest(file_id=as_yaml.id), user_id=user)
    assert body == yaml_text
    assert meta.variant == "original"
    assert meta.filename == "bot.yaml"
    other = await refused(rpc.call(READ_CONFIG, ConfigRef(file_id=as_json.id), user_id=uuid4()))
    assert other.code is ErrorCode.NOT_FOUND
    image = await upload(rpc, user, corpus.png(), "a.png", "image/png")
    not_config = await refused(rpc.call(READ_CONFIG, ConfigRef(file_id=image.id), user_id=user))
    assert not_config.code is ErrorCode.VALIDATION

    # Objects removed from the store behind the service's back: every read of their rows
    # is a clear 404, not a crash.
    for key in corpus.stored_keys(store):
        (store["root"] / key).unlink()
    for gone in (
        rpc.call(READ_CONFIG, ConfigRef(file_id=as_json.id), user_id=user),
        rpc.call_raw(FILE_CONTENT, ContentRequest(file_id=as_yaml.id), user_id=user),
    ):
        missing = await refused(gone)
        assert (missing.code, missing.message) == (
            ErrorCode.NOT_FOUND,
            "the stored content of this file is missing",
        )


async def test_quota_by_count_and_by_bytes(start_storage, rpc: RpcClient) -> None:
    start_storage(
        "fs", STORAGE_QUOTA_FILES="2", STORAGE_QUOTA_BYTES="200000", STORAGE_KEEP_ORIGINAL="true"
    )
    user = uuid4()
    await upload(rpc, user, VALID_CONFIG, "a.json", "application/json", "config")
    # A large, noisy image whose variants together exceed the byte quota.
    noisy = Image.effect_noise((1024, 1024), 120).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    over = await refused(upload(rpc, user, buf.getvalue(), "noise.png", "image/png"))
    assert over.code is ErrorCode.TOO_LARGE
    assert "quota" in over.message
    kept = await upload(rpc, user, corpus.png(), "b.png", "image/png")
    # STORAGE_KEEP_ORIGINAL=true: the upload is also stored as it came, and counted.
    original = next(v for v in kept.variants if v.name == "original")
    assert (original.content_type, original.size_bytes) == ("image/png", len(corpus.png()))
    assert kept.stored_bytes == sum(v.size_bytes for v in kept.variants)
    meta, body = await rpc.call_raw(
        FILE_CONTENT, ContentRequest(file_id=kept.id, variant="original"), user_id=user
    )
    assert body == corpus.png()
    assert meta.filename == "b-original.png"
    full = await refused(upload(rpc, user, corpus.png(color=(1, 2, 3)), "c.png", "image/png"))
    assert full.code is ErrorCode.CONFLICT
    assert "limit is 2" in full.message
    # The same bytes again are not a new file, so the quota does not stop them.
    assert (await upload(rpc, user, corpus.png(), "b2.png", "image/png")).deduplicated


async def test_purge_removes_rows_and_objects_of_one_user_only(
    start_storage, rpc: RpcClient
) -> None:
    store = start_storage("s3")
    alice, bob = uuid4(), uuid4()
    await upload(rpc, alice, corpus.png(), "a.png", "image/png")
    await upload(rpc, alice, VALID_CONFIG, "a.json", "application/json", "config")
    kept = await upload(rpc, bob, corpus.png(), "b.png", "image/png")
    result = await rpc.call(PURGE, PurgeUser(user_id=alice))
    assert (result.service, result.removed) == ("storage", 2)
    assert all(k.startswith(f"users/{bob}/") for k in corpus.stored_keys(store))
    assert len(corpus.stored_keys(store)) == 4
    assert (await rpc.call(LIST_FILES, ListFiles(), user_id=alice)).files == []
    assert (await rpc.call(GET_FILE, FileRef(file_id=kept.id), user_id=bob)).id == kept.id
    # Idempotent.
    assert (await rpc.call(PURGE, PurgeUser(user_id=alice))).removed == 0
    wrong = await refused(rpc.call(PURGE, PurgeUser(user_id=alice), user_id=bob))
    assert wrong.code is ErrorCode.FORBIDDEN


async def test_files_table_forces_row_level_security(infra) -> None:
    """Even a query without WHERE sees only the rows of the caller's workspaces: RLS is enabled
    and forced."""
    conn = await asyncpg.connect(plain_url(infra.database_url))
    try:
        row = await conn.fetchrow(
            "select relrowsecurity, relforcerowsecurity from pg_class "
            "where oid = 'storage.files'::regclass"
        )
        policies = await conn.fetch(
            "select polname from pg_policy where polrelid = 'storage.files'::regclass"
        )
    finally:
        await conn.close()
    assert (row["relrowsecurity"], row["relforcerowsecurity"]) == (True, True)
    assert [p["polname"] for p in policies] == ["files_member"]


async def test_object_store_down_is_a_clear_503_and_not_ready(start_service, rpc) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    storage = start_service("storage", S3_URL=dead, STORAGE_S3_BUCKET="never")
    async with httpx.AsyncClient(base_url=storage.url) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["object_store"] is False
    err = await refused(upload(rpc, uuid4(), VALID_CONFIG, "a.json", "application/json", "config"))
    assert err.code is ErrorCode.UNAVAILABLE
    assert "file storage is not available" in err.message
