"""Uploads in flight: how many one user, one address and the replica may have at once, and
where an upload's bytes wait while a (possibly slow) client sends them.

- `UploadSlots`: a slot is taken after sign-in and before the body is read, and held until
  storage-service has answered; beyond a cap the upload is refused at once with 429
  (naming the cap), so one user or one address cannot pin the replica's memory, disk and
  connections with stalled uploads.
- `Spool`: the bytes stay in memory up to `GATEWAY_UPLOAD_SPOOL_BYTES`, then go to an
  anonymous temporary file (written from a worker thread). They come back into memory
  once, when the body is complete, because the NATS message to storage-service carries
  them (`read_all`), and stay there until the RPC returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import IO

from fastapi import FastAPI
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from gateway.settings import Settings
from proto.errors import RETRY_AFTER, ErrorCode
from services.errors import RpcError

UPLOADS_IN_FLIGHT = Gauge(
    "botcenter_gateway_uploads_in_flight", "Uploads being received or stored by this replica."
)
UPLOADS_REFUSED = MetricCounter(
    "botcenter_gateway_uploads_refused_total",
    "Uploads refused because a concurrency cap was reached, by cap (user, address, replica).",
    ["cap"],
)
UPLOADS_SPOOLED = MetricCounter(
    "botcenter_gateway_uploads_spooled_total",
    "Uploads that went over the in-memory threshold and were spooled to a temporary file.",
)


class UploadSlots:
    """Concurrent uploads per user, per client address and per replica."""

    def __init__(self, *, per_user: int, per_address: int, total: int) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.total = total
        self._users: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()
        self._count = 0

    def _refuse(self, cap: str, message: str, limit: int) -> RpcError:
        UPLOADS_REFUSED.labels(cap).inc()
        return RpcError(
            ErrorCode.RATE_LIMITED,
            message,
            details={RETRY_AFTER: 1.0, "cap": cap, "limit": limit},
        )

    @contextlib.contextmanager
    def hold(self, user: str, address: str) -> Iterator[None]:
        caps = (
            (
                "user",
                self._users[user],
                self.per_user,
                f"you already have {self.per_user} uploads in progress; "
                "wait for one to finish (GATEWAY_MAX_UPLOADS_PER_USER)",
            ),
            (
                "address",
                self._addresses[address],
                self.per_address,
                f"your address already has {self.per_address} uploads in progress; "
                "wait for one to finish (GATEWAY_MAX_UPLOADS_PER_ADDRESS)",
            ),
            (
                "replica",
                self._count,
                self.total,
                f"this server is receiving {self.total} uploads already; try again shortly "
                "(GATEWAY_MAX_UPLOADS)",
            ),
        )
        for cap, held, limit, message in caps:
            if held >= limit:
                raise self._refuse(cap, message, limit)
        self._users[user] += 1
        self._addresses[address] += 1
        self._count += 1
        UPLOADS_IN_FLIGHT.inc()
        try:
            yield
        finally:
            self._count -= 1
            UPLOADS_IN_FLIGHT.dec()
            for counts, key in ((self._users, user), (self._addresses, address)):
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]


def upload_slots(app: FastAPI) -> UploadSlots:
    """The app's slots (one set per replica), made from its settings on first use."""
    slots: UploadSlots | None = getattr(app.state, "upload_slots", None)
    if slots is None:
        settings = app.state.runtime.settings
        assert isinstance(settings, Settings)
        slots = UploadSlots(
            per_user=settings.max_uploads_per_user,
            per_address=settings.max_uploads_per_address,
            total=settings.max_uploads,
        )
        app.state.upload_slots = slots
    return slots


class Spool:
    """An upload's bytes: in memory up to `threshold`, then in an anonymous temporary file."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.size = 0
        self._memory = bytearray()
        self._file: IO[bytes] | None = None

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    async def write(self, data: bytes | bytearray) -> None:
        if not data:
            return
        self.size += len(data)
        if self._file is None and len(self._memory) + len(data) <= self.threshold:
            self._memory += data
            return
        if self._file is None:
            UPLOADS_SPOOLED.inc()
            pending = bytes(self._memory) + bytes(data)
            self._memory = bytearray()
            self._file = await asyncio.to_thread(_open_spool_file)
            await asyncio.to_thread(self._file.write, pending)
            return
        await asyncio.to_thread(self._file.write, bytes(data))

    async def read_all(self) -> bytes:
        if self._file is None:
            return bytes(self._memory)
        file = self._file

        def read() -> bytes:
            file.seek(0)
            return file.read()

        return await asyncio.to_thread(read)

    def close(self) -> None:
        self._memory = bytearray()
        if self._file is not None:
            self._file.close()  # anonymous: the space is freed with the descriptor
            self._file = None


def _open_spool_file() -> IO[bytes]:
    return tempfile.TemporaryFile(prefix="bc-upload-")
