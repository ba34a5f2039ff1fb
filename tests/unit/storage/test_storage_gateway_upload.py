"""The gateway's streaming multipart reader for /v1/files, fed chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.requests import Request

from gateway.routes.files import UploadLimits, _read_upload, upload_limits
from gateway.uploads import Spool
from proto.errors import ErrorCode
from services.errors import RpcError

BOUNDARY = "xyzBOUNDARY"


def form(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


class Feed:
    """An ASGI receive that hands out the body in chunks and counts what was taken."""

    def __init__(self, body: bytes, chunk: int = 4096) -> None:
        self.chunks: Iterator[bytes] = (body[i : i + chunk] for i in range(0, len(body), chunk))
        self.taken = 0
        self.total = len(body)

    async def __call__(self) -> dict[str, object]:
        data = next(self.chunks, None)
        if data is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.taken += len(data)
        return {"type": "http.request", "body": data, "more_body": self.taken < self.total}


def request(feed: Feed, content_length: int | None = None) -> Request:
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    return Request({"type": "http", "method": "POST", "headers": headers}, feed)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "gateway.routes.files._limits",
        UploadLimits(max_avatar_bytes=64_000, max_config_bytes=8_000),
    )


async def test_reads_kind_and_file() -> None:
    body = form(("kind", None, None, b"config"), ("file", "a.json", "application/json", b"{}"))
    upload = await _read_upload(request(Feed(body)), None, Spool(1024))
    assert (upload.kind, upload.filename, upload.content_type) == (
        "config",
        "a.json",
        "application/json",
    )
    assert await upload.spool.read_all() == b"{}"


async def test_over_the_kind_limit_stops_reading_early() -> None:
    big = b" " * 1_000_000
    feed = Feed(form(("kind", None, None, b"config"), ("file", "a.json", "application/json", big)))
    with pytest.raises(RpcError) as info:
        await _read_upload(request(feed), None, Spool(1024))
    assert info.value.code is ErrorCode.TOO_LARGE
    assert info.value.details == {"limit_bytes": 8_000}
    assert feed.taken < 20_000  # of ~1 MB


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    feed = Feed(form(("file", "a.json", "application/json", b"{}")))
    with pytest.raises(RpcError) as info:
        await _read_upload(request(feed, content_length=10_000_000), "config", Spool(1024))
    assert info.value.code is ErrorCode.TOO_LARGE
    assert feed.taken == 0


async def test_kind_after_the_file_still_applies_its_limit() -> None:
    body = form(
        ("file", "a.json", "application/json", b" " * 9_000), ("kind", None, None, b"config")
    )
    with pytest.raises(RpcError) as info:
        await _read_upload(request(Feed(body)), None, Spool(1024))
    assert info.value.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    ("body", "query_kind", "expect"),
    [
        (form(("file", "a.png", "image/png", b"x")), None, "kind=avatar or kind=config"),
        (form(("kind", None, None, b"avatar")), None, "no `file` field"),
        (
            form(("kind", None, None, b"video"), ("file", "a.png", "image/png", b"x")),
            None,
            "kind must be",
        ),
        (
            form(("kind", None, None, b"config"), ("file", "a.png", "image/png", b"x")),
            "avatar",
            "disagree",
        ),
        (
            form(("file", "a.png", "image/png", b"x"), ("file", "b.png", "image/png", b"y")),
            "avatar",
            "one file per request",
        ),
        (b"--" + BOUNDARY.encode() + b"\r\ngarbage without headers end", "avatar", ""),
    ],
    ids=["no-kind", "no-file", "bad-kind", "kind-mismatch", "two-files", "malformed"],
)
async def test_bad_forms_are_422(body: bytes, query_kind: str | None, expect: str) -> None:
    with pytest.raises(RpcError) as info:
        await _read_upload(request(Feed(body)), query_kind, Spool(1024))  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.VALIDATION
    assert expect in info.value.message


async def test_a_file_over_the_spool_threshold_waits_on_disk_not_in_memory() -> None:
    data = bytes(range(256)) * 200  # 51,200 bytes, over a 1,024-byte threshold
    body = form(("kind", None, None, b"avatar"), ("file", "a.png", "image/png", data))
    spool = Spool(1024)
    upload = await _read_upload(request(Feed(body)), None, spool)
    assert spool.on_disk
    assert spool.size == upload.size == len(data)
    assert await spool.read_all() == data
    spool.close()
    assert not spool.on_disk


async def test_a_small_file_stays_in_memory() -> None:
    spool = Spool(1024)
    body = form(("kind", None, None, b"config"), ("file", "a.json", "application/json", b"{}"))
    await _read_upload(request(Feed(body)), None, spool)
    assert not spool.on_disk
    assert await spool.read_all() == b"{}"


def test_limits_come_from_the_storage_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.routes.files._limits", None)
    monkeypatch.setenv("STORAGE_MAX_CONFIG_BYTES", "2048")
    assert upload_limits().of("config") == 2048
    assert upload_limits().of("avatar") == 8 * 1024 * 1024
