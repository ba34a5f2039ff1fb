"""storage-service settings: environment variables prefixed `STORAGE_`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from proto.storage import DEFAULT_MAX_AVATAR_BYTES, DEFAULT_MAX_CONFIG_BYTES
from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STORAGE_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "storage"

    # Upload limits (the gateway reads the same two variables while the body streams in).
    max_avatar_bytes: int = Field(DEFAULT_MAX_AVATAR_BYTES, ge=1024, le=15 * 1024 * 1024)
    max_config_bytes: int = Field(DEFAULT_MAX_CONFIG_BYTES, ge=256, le=15 * 1024 * 1024)
    # Decoded size limits of an avatar (width x height); above them the upload is refused
    # (422, "decompression bomb"). JPEGs (50 Mpx: 48 Mpx phone photos pass) are decoded
    # scaled down; PNG/GIF/WebP are decoded whole, hence 16.7 Mpx (4096x4096, ~64 MiB RGBA).
    max_image_pixels: int = Field(50_000_000, ge=10_000)
    max_lossless_pixels: int = Field(4096 * 4096, ge=10_000)
    min_avatar_side: int = Field(32, ge=1)
    keep_original: bool = False  # also store the uploaded avatar bytes as they came
    webp_quality: int = Field(85, ge=1, le=100)
    # libwebp effort 0 (fast) .. 6 (smallest); 2 is ~3x faster than 4 for ~4% more bytes.
    webp_method: int = Field(2, ge=0, le=6)
    # Config files: nesting depth and total number of values.
    max_config_depth: int = Field(32, ge=2, le=500)
    max_config_nodes: int = Field(50_000, ge=10)
    # Per-workspace quota over every stored variant, and number of files.
    quota_bytes: int = Field(100 * 1024 * 1024, ge=0)
    quota_files: int = Field(500, ge=0)
    # Image work runs off the event loop, in a thread pool (default) or a process pool.
    processing_pool: Literal["thread", "process"] = "thread"
    processing_workers: int = Field(2, ge=1, le=64)
    # Filesystem backend folder (default: <BOTCENTER_DATA_DIR>/objects); unused with S3_URL.
    fs_root: Path | None = None
    # S3 backend (selected by S3_URL = http(s)://[key:secret@]host[:port][/bucket]).
    s3_bucket: str = "botcenter"
    s3_region: str = "us-east-1"
    # Credentials when S3_URL carries none (development falls back to a fixed local pair).
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    # Where browsers reach S3 when it differs from S3_URL (presigned URLs are signed for it).
    s3_public_url: str | None = None
    presign_ttl_s: int = Field(300, ge=10, le=7 * 24 * 3600)
    # Which avatar variant is sent to Discord.
    apply_variant: Literal["512", "1024"] = "1024"
    # Must stay under STORAGE_RPC_TIMEOUT_S (the deadline of the whole request).
    apply_timeout_s: float = Field(8.0, gt=0, le=120)
