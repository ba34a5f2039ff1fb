"""The filesystem store, S3 URL parsing, and the process pool path of the image work."""

from __future__ import annotations

from pathlib import Path

import pytest

from proto.errors import ErrorCode
from services.errors import RpcError
from storage_service.objects import FsStore, GuardedStore, ObjectMissing, check_key, parse_s3_url
from storage_service.processing import UploadRejected, process_avatar
from storage_service.workers import Processor
from tests.fixtures import storage as corpus


async def test_fs_store_put_get_delete_and_purge_leave_nothing_behind(tmp_path: Path) -> None:
    store = FsStore(tmp_path / "objects")
    await store.ensure()
    await store.put("users/u1/abc/128.webp", b"one", "image/webp")
    await store.put("users/u1/abc/256.webp", b"two", "image/webp")
    await store.put("users/u2/def/128.webp", b"three", "image/webp")
    assert await store.get("users/u1/abc/128.webp") == b"one"
    assert await store.exists("users/u1/abc/256.webp")
    assert (
        await store.presigned_url("users/u1/abc/128.webp", 60, content_type="x", filename="f")
        is None
    )
    assert await store.delete(["users/u1/abc/128.webp", "users/u1/abc/missing.webp"]) == 1
    with pytest.raises(ObjectMissing):
        await store.get("users/u1/abc/128.webp")
    assert await store.delete_prefix("users/u1/") == 1
    assert not (tmp_path / "objects" / "users" / "u1").exists()
    assert await store.get("users/u2/def/128.webp") == b"three"
    await store.delete(["users/u2/def/128.webp"])
    # Empty folders are removed up to the root.
    assert list((tmp_path / "objects").iterdir()) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "users/../../x", "/abs", "users//x", "a b"])
def test_keys_cannot_escape_the_store(key: str) -> None:
    with pytest.raises(ValueError, match="bad object key"):
        check_key(key)


def test_s3_url_forms() -> None:
    assert parse_s3_url("http://127.0.0.1:9000") == ("127.0.0.1:9000", False, None, None, None)
    assert parse_s3_url("https://key:s%2Fcret@s3.example.com/avatars") == (
        "s3.example.com",
        True,
        "key",
        "s/cret",
        "avatars",
    )
    with pytest.raises(ValueError, match="S3_URL"):
        parse_s3_url("minio:9000")


async def test_process_pool_gives_the_same_results_and_errors() -> None:
    pool = Processor("process", 1)
    try:
        result = await pool.run(
            process_avatar, corpus.png(300, 300), "a.png", "image/png", max_pixels=25_000_000
        )
        assert sorted(result.variants, key=int) == ["128", "256", "512", "1024"]
        with pytest.raises(UploadRejected) as info:
            await pool.run(
                process_avatar,
                corpus.pixel_flood_png(),
                "f.png",
                "image/png",
                max_pixels=25_000_000,
            )
        assert info.value.code == "validation"
        assert "decompression bomb" in info.value.message
    finally:
        pool.close()


async def test_a_failing_backend_is_a_clear_503(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    store = GuardedStore(FsStore(blocker))
    with pytest.raises(RpcError) as info:
        await store.put("users/u/x/128.webp", b"x", "image/webp")
    assert info.value.code is ErrorCode.UNAVAILABLE
    with pytest.raises(ObjectMissing):
        await GuardedStore(FsStore(tmp_path)).get("users/u/x/128.webp")
