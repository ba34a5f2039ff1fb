"""Gateway transport compression: one compressor per connection, as Discord does.

`zlib-stream` ends every frame with a Z_SYNC_FLUSH (clients buffer until they see
00 00 ff ff); `zstd-stream` flushes a block per frame so each frame decodes on its own.
Windows are kept small on purpose: a default zstd context costs ~800 KiB and a default zlib
one ~260 KiB, which would dominate memory at 1,000 sessions; clients decode any window size.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import zstandard

ZLIB_SUFFIX = b"\x00\x00\xff\xff"
COMPRESSIONS = ("zlib-stream", "zstd-stream")
_ZSTD_PARAMS = zstandard.ZstdCompressionParameters.from_level(
    1, window_log=10, hash_log=6, chain_log=6, search_log=1
)


class FrameEncoder(Protocol):
    binary: bool

    def encode(self, text: str) -> bytes | str: ...


class PlainEncoder:
    binary = False

    def encode(self, text: str) -> str:
        return text


class ZlibStreamEncoder:
    binary = True

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 10, 2)

    def encode(self, text: str) -> bytes:
        data = text.encode()
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamEncoder:
    binary = True

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor(compression_params=_ZSTD_PARAMS).compressobj()

    def encode(self, text: str) -> bytes:
        data = text.encode()
        return self._compressor.compress(data) + self._compressor.flush(
            zstandard.COMPRESSOBJ_FLUSH_BLOCK
        )


def make_encoder(compress: str | None) -> FrameEncoder:
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    if compress == "zstd-stream":
        return ZstdStreamEncoder()
    return PlainEncoder()
