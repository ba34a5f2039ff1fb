"""The /v1/files routes through the real gateway, signed in through the sandbox."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

from tests.fixtures import storage as corpus
from tests.fixtures.auth import auth_env, sign_in


def stack(start_service: Any, sandbox: Any, **storage_env: str) -> str:
    env = auth_env(sandbox)
    start_service("auth", **env)
    start_service("storage", **storage_env)
    return str(start_service("gateway", GATEWAY_HTTP_PORT="0", **env).url)


async def oversize_chunked_upload(url: str, token: str) -> None:
    """A chunked upload (no Content-Length) of a config file: 413 arrives while most of
    the body has not even been sent."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    boundary = "bcboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nconfig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.json"\r\n'
        "Content-Type: application/json\r\n\r\n{"
    ).encode()
    writer.write(
        (
            "POST /v1/files HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    writer.write(chunk(head))
    sent = len(head)
    # 1.5 MiB of a declared 100 MiB body, then stop sending and wait for the answer.
    for _ in range(24):
        writer.write(chunk(b" " * 65536))
        sent += 65536
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    assert b" 413 " in status_line, status_line
    # The body may arrive in a later segment than the headers: read exactly what is declared.
    headers = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)).lower()
    length = int(headers.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    body = await asyncio.wait_for(reader.readexactly(length), timeout=10)
    assert b"config files may be at most 1 MiB" in body
    writer.close()
    assert sent < 2 * 1024 * 1024


async def test_upload_list_download_delete_through_the_gateway(
    start_service: Any, sandbox: Any, tmp_path: Any
) -> None:
    url = stack(start_service, sandbox, STORAGE_FS_ROOT=str(tmp_path / "objects"))
    alice = await sign_in(url, sandbox)
    async with httpx.AsyncClient(base_url=url, headers=alice.headers, timeout=30) as api:
        assert (await httpx.AsyncClient(base_url=url).get("/v1/files")).status_code == 401
        png = corpus.png(640, 480)
        created = await api.post(
            "/v1/files", files={"file": ("me.png", png, "image/png")}, data={"kind": "avatar"}
        )
        assert created.status_code == 201, created.text
        info = created.json()
        assert sorted(int(v["name"]) for v in info["variants"]) == [128, 256, 512, 1024]
        again = await api.post(
            "/v1/files?kind=avatar", files={"file": ("again.png", png, "image/png")}
        )
        assert again.status_code == 200
        assert again.json()["id"] == info["id"]
        assert again.json()["deduplicated"] is True

        listing = (await api.get("/v1/files")).json()
        assert [f["id"] for f in listing["files"]] == [info["id"]]
        content = await api.get(f"/v1/files/{info['id']}/content", params={"variant": "128"})
        assert content.status_code == 200
        assert content.headers["content-type"] == "image/webp"
        assert content.headers["x-content-type-options"] == "nosniff"
        assert Image.open(io.BytesIO(content.content)).size == (128, 128)

        lying = await api.post(
            "/v1/files",
            files={"file": ("x.png", corpus.svg(), "image/png")},
            data={"kind": "avatar"},
        )
        assert lying.status_code == 422
        assert "SVG" in lying.json()["error"]["message"]
        no_kind = await api.post("/v1/files", files={"file": ("a.png", png, "image/png")})
        assert no_kind.status_code == 422
        declared_big = await api.post(
            "/v1/files?kind=config",
            files={
                "file": ("big.json", b"{" + b" " * (1024 * 1024 + 10) + b"}", "application/json")
            },
        )
        assert declared_big.status_code == 413
        assert declared_big.json()["error"]["details"]["limit_bytes"] == 1024 * 1024

        bob = await sign_in(url, sandbox)
        theirs = await api.get(f"/v1/files/{info['id']}", headers=bob.headers)
        assert theirs.status_code == 404

        await oversize_chunked_upload(url, alice.access_token)

        deleted = await api.delete(f"/v1/files/{info['id']}")
        assert deleted.status_code == 200
        assert deleted.json()["removed_objects"] == 4
        assert (await api.get(f"/v1/files/{info['id']}")).status_code == 404
        assert corpus.stored_keys({"backend": "fs", "root": tmp_path / "objects"}) == set()


async def test_s3_downloads_redirect_to_a_presigned_url(
    start_service: Any, sandbox: Any, s3_url: str
) -> None:
    url = stack(start_service, sandbox, S3_URL=s3_url, STORAGE_S3_BUCKET="bc-gateway-test")
    alice = await sign_in(url, sandbox)
    async with httpx.AsyncClient(base_url=url, headers=alice.headers, timeout=30) as api:
        created = await api.post(
            "/v1/files?kind=avatar", files={"file": ("a.gif", corpus.animated_gif(), "image/gif")}
        )
        assert created.status_code == 201, created.text
        assert created.json()["animated"] is True
        file_id = created.json()["id"]
        redirect = await api.get(f"/v1/files/{file_id}/content", params={"variant": "512"})
        assert redirect.status_code == 307
        location = redirect.headers["location"]
        assert location.startswith(s3_url)
        assert "X-Amz-Expires=300" in location
        async with httpx.AsyncClient() as anonymous:
            fetched = await anonymous.get(location)
        assert fetched.status_code == 200
        assert Image.open(io.BytesIO(fetched.content)).size == (512, 512)
