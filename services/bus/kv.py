"""NATS KV helpers for leases and membership: create (compare-and-set), CAS update, watch."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

_log = logging.getLogger(__name__)
_default_replicas = 1


def set_default_replicas(replicas: int) -> None:
    """Replicas of every stream and bucket this process creates (`NATS_STREAM_REPLICAS`):
    1 for one server, 3 for a production cluster."""
    global _default_replicas
    _default_replicas = replicas


def default_replicas() -> int:
    return _default_replicas


async def ensure_bucket(
    js: JetStreamContext,
    name: str,
    *,
    ttl_s: float | None = None,
    history: int = 1,
    replicas: int | None = None,
) -> KeyValue:
    try:
        kv = await js.key_value(name)
    except BucketNotFoundError:
        # nats-py enables per-message TTL on the bucket's stream, so create()/update()
        # may give each key its own TTL (NATS server 2.11+).
        config = KeyValueConfig(
            bucket=name,
            history=history,
            ttl=ttl_s,
            storage=StorageType.FILE,
            replicas=replicas or _default_replicas,
        )
        return await js.create_key_value(config)
    if ttl_s is not None:
        await _align_ttl(js, name, ttl_s)
    return kv


async def _align_ttl(js: JetStreamContext, name: str, ttl_s: float) -> None:
    """A bucket keeps the TTL it was created with: without this, changing a lease TTL
    setting would leave leases expiring on the old clock (failover as slow as before)."""
    info = await js.stream_info(f"KV_{name}")
    config = info.config
    if config.max_age is not None and abs(config.max_age - ttl_s) < 1e-3:
        return
    _log.warning(
        "bucket %s: TTL %.3gs -> %.3gs (setting changed)", name, config.max_age or 0, ttl_s
    )
    config.max_age = ttl_s
    if config.duplicate_window is None or config.duplicate_window > ttl_s:
        config.duplicate_window = ttl_s  # the server refuses a window longer than max_age
    await js.update_stream(config)


class Store:
    """A KV bucket with the three operations leases need, returning revisions or None."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, key: str) -> tuple[bytes, int] | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        return entry.value, entry.revision or 0

    async def create(self, key: str, value: bytes, *, ttl_s: float | None = None) -> int | None:
        """Write only if the key does not exist; the new revision, or None if it does."""
        try:
            return await self.kv.create(key, value, msg_ttl=ttl_s)
        except KeyWrongLastSequenceError:
            return None

    async def update(self, key: str, value: bytes, revision: int) -> int | None:
        """Write only if the key is still at `revision`; the new revision, or None.

        For expiring keys (leases, heartbeats) give the bucket a TTL: every write restarts
        the key's clock, because the bucket keeps one message per key.
        """
        try:
            return await self.kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            return None

    async def put(self, key: str, value: bytes) -> int:
        return await self.kv.put(key, value)

    async def delete(self, key: str, *, revision: int | None = None) -> bool:
        try:
            await self.kv.delete(key, last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def keys(self) -> list[str]:
        try:
            return await self.kv.keys()
        except Exception as exc:  # nats-py raises NoKeysError for an empty bucket
            if type(exc).__name__ == "NoKeysError":
                return []
            raise

    async def watch(self, pattern: str = ">") -> AsyncIterator[tuple[str, bytes | None, int]]:
        """Yield (key, value or None when deleted, revision) for every change."""
        watcher = await self.kv.watch(pattern, include_history=False)
        try:
            async for entry in watcher:
                if entry is None:
                    continue
                yield (
                    entry.key,
                    entry.value if entry.operation is None else None,
                    entry.revision or 0,
                )
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
