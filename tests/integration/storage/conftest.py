"""storage-service integration fixtures: the service as a process, on either backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from services.bus.rpc import RpcClient
from storage_service.objects import parse_s3_url


@pytest.fixture
async def rpc(nc: Any) -> AsyncIterator[RpcClient]:
    """An RPC client on the admin connection (acts as gateway/command/auth would)."""
    return RpcClient(nc, "test", timeout_s=20)


@pytest.fixture
def start_storage(
    start_service: Callable[..., Any], tmp_path: Path, s3_url: str
) -> Callable[..., dict[str, Any]]:
    """Start storage-service on 'fs' (a fresh folder) or 's3' (moto, a fresh bucket)."""
    counter = iter(range(1000))

    def start(backend: str = "fs", **env: str) -> dict[str, Any]:
        n = next(counter)
        if backend == "fs":
            root = tmp_path / f"objects-{n}"
            start_service("storage", STORAGE_FS_ROOT=str(root), **env)
            return {"backend": "fs", "root": root}
        bucket = f"bc-{tmp_path.name.lower().replace('_', '-')[-40:]}-{n}"
        start_service("storage", S3_URL=s3_url, STORAGE_S3_BUCKET=bucket, **env)
        endpoint, secure, *_ = parse_s3_url(s3_url)
        client = Minio(endpoint, access_key="k", secret_key="s", secure=secure, region="us-east-1")
        return {"backend": "s3", "bucket": bucket, "client": client}

    return start
