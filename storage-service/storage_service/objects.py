"""Object storage behind one interface, with two backends.

- `S3Store`: S3 or MinIO through the `minio` client (synchronous, so every call runs in a
  thread); the bucket is created when missing; downloads go through presigned URLs.
- `FsStore`: a folder on the local disk (the default for `make run`); downloads are served
  by storage-service through the gateway.

Keys are built by storage-service only: `users/<owner>/<sha256>/<variant>.<ext>`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from proto.errors import ErrorCode
from services.errors import RpcError

log = logging.getLogger(__name__)
T = TypeVar("T")

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class ObjectMissing(Exception):
    """The object is not in the store."""


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key or "//" in key or len(key) > 512:
        raise ValueError(f"bad object key {key!r}")
    return key


class ObjectStore(Protocol):
    backend: str

    async def ensure(self) -> None: ...
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, keys: list[str]) -> int: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def presigned_url(
        self, key: str, ttl_s: int, *, content_type: str, filename: str
    ) -> str | None: ...
    async def ping(self) -> bool: ...


class FsStore:
    """Objects as files under `root` (written atomically: temp file + rename)."""

    backend = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def ensure(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    def _delete(self, keys: list[str]) -> int:
        removed = 0
        for key in keys:
            path = self._path(key)
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
            # Drop empty folders up to the root, so a purge leaves nothing behind.
            parent = path.parent
            while parent != self.root and parent.is_relative_to(self.root):
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent
        return removed

    async def delete(self, keys: list[str]) -> int:
        return await asyncio.to_thread(self._delete, keys)

    def _delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, prefix)

    async def presigned_url(
        self, key: str, ttl_s: int, *, content_type: str, filename: str
    ) -> str | None:
        return None

    async def ping(self) -> bool:
        return await asyncio.to_thread(os.access, self.root, os.W_OK)


class S3Store:
    """S3/MinIO through the minio client; every call runs in a worker thread."""

    backend = "s3"

    def __init__(
        self,
        url: str,
        *,
        bucket: str,
        region: str,
        access_key: str,
        secret_key: str,
        public_url: str | None = None,
    ) -> None:
        import urllib3
        from minio import Minio

        endpoint, secure, key, secret, path_bucket = parse_s3_url(url)
        self.bucket = path_bucket or bucket
        http = urllib3.PoolManager(
            # Bounded so a dead S3 answers 503 well within the RPC deadline.
            timeout=urllib3.Timeout(connect=2.0, read=20.0),
            maxsize=16,
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        ak, sk = key or access_key, secret or secret_key
        # The region is given, so presigning is a local computation (no bucket-location call).
        self.client = Minio(
            endpoint, access_key=ak, secret_key=sk, secure=secure, region=region, http_client=http
        )
        if public_url:
            p_endpoint, p_secure, *_ = parse_s3_url(public_url)
            self.signer = Minio(
                p_endpoint, access_key=ak, secret_key=sk, secure=p_secure, region=region
            )
        else:
            self.signer = self.client

    def _ensure(self) -> None:
        from minio.error import S3Error

        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as exc:  # another replica created it first
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def ensure(self) -> None:
        await asyncio.to_thread(self._ensure)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        await asyncio.to_thread(
            self.client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )

    def _get(self, key: str) -> bytes:
        from minio.error import S3Error

        try:
            resp = self.client.get_object(self.bucket, check_key(key))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectMissing(key) from None
            raise
        try:
            return bytes(resp.read())
        finally:
            resp.close()
            resp.release_conn()

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    def _exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self.client.stat_object(self.bucket, check_key(key))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise
        return True

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, key)

    def _delete(self, keys: list[str]) -> int:
        for key in keys:
            self.client.remove_object(self.bucket, check_key(key))
        return len(keys)

    async def delete(self, keys: list[str]) -> int:
        return await asyncio.to_thread(self._delete, keys)

    def _delete_prefix(self, prefix: str) -> int:
        keys = [
            o.object_name
            for o in self.client.list_objects(self.bucket, prefix=check_key(prefix), recursive=True)
            if o.object_name
        ]
        return self._delete(keys)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, prefix)

    async def presigned_url(
        self, key: str, ttl_s: int, *, content_type: str, filename: str
    ) -> str | None:
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100] or "file"
        return await asyncio.to_thread(
            self.signer.presigned_get_object,
            self.bucket,
            check_key(key),
            expires=timedelta(seconds=ttl_s),
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": f'inline; filename="{safe_name}"',
            },
        )

    async def ping(self) -> bool:
        try:
            return await asyncio.to_thread(self.client.bucket_exists, self.bucket)
        except Exception:
            return False


def parse_s3_url(url: str) -> tuple[str, bool, str | None, str | None, str | None]:
    """`http(s)://[key:secret@]host[:port][/bucket]` -> endpoint, secure, key, secret, bucket."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("S3_URL must look like http(s)://[key:secret@]host[:port][/bucket]")
    endpoint = parts.hostname + (f":{parts.port}" if parts.port else "")
    bucket = parts.path.strip("/") or None
    return (
        endpoint,
        parts.scheme == "https",
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        bucket,
    )


class GuardedStore:
    """Any backend, with its failures (network, permissions, disk) turned into a clear
    503 for the user and a logged exception for the operator; `ObjectMissing` passes."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.backend = inner.backend

    async def _guard(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except ObjectMissing:
            raise
        except Exception:
            log.exception("object store %s failed (%s)", what, self.backend)
            raise RpcError(
                ErrorCode.UNAVAILABLE, "file storage is not available right now; try again"
            ) from None

    async def ensure(self) -> None:
        await self.inner.ensure()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._guard("put", self.inner.put(key, data, content_type))

    async def get(self, key: str) -> bytes:
        return await self._guard("get", self.inner.get(key))

    async def exists(self, key: str) -> bool:
        return await self._guard("exists", self.inner.exists(key))

    async def delete(self, keys: list[str]) -> int:
        return await self._guard("delete", self.inner.delete(keys))

    async def delete_prefix(self, prefix: str) -> int:
        return await self._guard("delete_prefix", self.inner.delete_prefix(prefix))

    async def presigned_url(
        self, key: str, ttl_s: int, *, content_type: str, filename: str
    ) -> str | None:
        return await self._guard(
            "presign",
            self.inner.presigned_url(key, ttl_s, content_type=content_type, filename=filename),
        )

    async def ping(self) -> bool:
        return await self.inner.ping()
