"""NATS KV buckets through the kernel: a changed TTL setting reaches an existing bucket."""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

from services.bus.kv import Store, ensure_bucket
from tests.fixtures.infra import connect_admin


async def test_a_shorter_ttl_setting_applies_to_a_bucket_created_with_a_longer_one(infra) -> None:
    nc = await connect_admin(infra)
    try:
        js = nc.jetstream()
        name = f"test_ttl_{uuid4().hex[:8]}"
        # An earlier deployment created the bucket with a long TTL ...
        await ensure_bucket(js, name, ttl_s=60.0)
        # ... and the setting is now 1 s: keys written from now on must expire on the new clock.
        store = Store(await ensure_bucket(js, name, ttl_s=1.0))
        assert (await js.stream_info(f"KV_{name}")).config.max_age == 1.0
        assert await store.create("lease", b"holder") is not None
        give_up = time.monotonic() + 10
        while await store.get("lease") is not None:
            assert time.monotonic() < give_up, "the key outlived the new 1 s TTL"
            await asyncio.sleep(0.1)
        # A bucket already at the wanted TTL is left as it is, and keeps working.
        again = Store(await ensure_bucket(js, name, ttl_s=1.0))
        assert await again.create("lease", b"next") is not None
    finally:
        await nc.close()
