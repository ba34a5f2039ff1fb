"""Benchmark: avatar uploads through storage-service, thread pool vs process pool.

Embedded PostgreSQL + NATS (as `make run`), storage-service as its own process on the
filesystem store, once with STORAGE_PROCESSING_POOL=thread and once with =process (2
workers each). The client sends distinct photos (2400x1800 JPEG, 1600x1600 PNG) over NATS
exactly as the gateway does, 8 in flight, while a probe calls `rpc.storage.status` every
20 ms: its latency shows whether the service's event loop stays responsive while images
are being decoded, resized and encoded. Also: the bare CPU cost of one avatar in-process.

    python -m bench storage_avatars
    python bench/storage_avatars.py [--uploads 32]
"""

from __future__ import annotations

import asyncio
import io
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nats
from PIL import Image

from bench._infra import command_line, embedded_infra
from proto.base import Empty
from proto.storage import UPLOAD, UploadFile
from proto.system import SPECS as STATUS_SPECS
from services.bus.rpc import RpcClient
from services.devstack.stack import Infra, start_service
from storage_service.processing import process_avatar

STATUS = next(s for s in STATUS_SPECS if s.subject == "rpc.storage.status")
INFLIGHT = 8


def photo(i: int, kind: str) -> tuple[bytes, str, str]:
    """A photo-like picture (gradient + noise), distinct per i so nothing deduplicates."""
    w, h = (2400, 1800) if kind == "jpeg" else (1600, 1600)
    base = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    noise = Image.effect_noise((w, h), 40).convert("RGB")
    img = Image.blend(base, noise, 0.35)
    img.putpixel((i % w, 0), (i % 256, 7, 7))
    out = io.BytesIO()
    if kind == "jpeg":
        img.save(out, format="JPEG", quality=88)
        return out.getvalue(), f"p{i}.jpg", "image/jpeg"
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue(), f"p{i}.png", "image/png"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def drive(infra: Infra, pool: str, files: list[tuple[bytes, str, str]]) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bc-bench-objects-"))
    env = {
        **infra.service_env("storage"),
        "STORAGE_PROCESSING_POOL": pool,
        "STORAGE_PROCESSING_WORKERS": "2",
        "STORAGE_FS_ROOT": str(root),
        "STORAGE_QUOTA_FILES": "100000",
        "STORAGE_QUOTA_BYTES": str(10**12),
        "STORAGE_RPC_TIMEOUT_S": "120",
    }
    proc = start_service("storage", env)
    nc = await nats.connect(infra.admin_nats_url)
    client = RpcClient(nc, "bench", timeout_s=120)
    user = uuid.uuid4()
    try:
        # Warm-up: worker start (process pool spawns), first imports, DB pool.
        for data, name, ctype in files[:2]:
            await client.call(
                UPLOAD,
                UploadFile(kind="avatar", filename="w" + name, content_type=ctype),
                user_id=uuid.uuid4(),
                body=data,
            )
        sequential: list[float] = []
        for data, name, ctype in files[:4]:
            t0 = time.perf_counter()
            await client.call(
                UPLOAD,
                UploadFile(kind="avatar", filename=name, content_type=ctype),
                user_id=user,
                body=data,
            )
            sequential.append((time.perf_counter() - t0) * 1000)

        probes: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                await client.call(STATUS, Empty(), timeout_s=30)
                probes.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.02)

        sem = asyncio.Semaphore(INFLIGHT)
        latencies: list[float] = []

        async def one(data: bytes, name: str, ctype: str) -> None:
            async with sem:
                t0 = time.perf_counter()
                await client.call(
                    UPLOAD,
                    UploadFile(kind="avatar", filename="c" + name, content_type=ctype),
                    user_id=user,
                    body=data,
                )
                latencies.append((time.perf_counter() - t0) * 1000)

        prober = asyncio.create_task(probe())
        t0 = time.perf_counter()
        await asyncio.gather(*(one(*f) for f in files[4:]))
        elapsed = time.perf_counter() - t0
        done.set()
        await prober
        return {
            "pool": pool,
            "sequential_ms_p50": round(statistics.median(sequential), 1),
            "uploads": len(latencies),
            "uploads_per_s": round(len(latencies) / elapsed, 2),
            "upload_ms_p50": pct(latencies, 0.5),
            "upload_ms_p99": pct(latencies, 0.99),
            "status_probe_ms_p50": pct(probes, 0.5),
            "status_probe_ms_p99": pct(probes, 0.99),
            "status_probe_ms_max": round(max(probes), 2),
        }
    finally:
        await nc.close()
        proc.stop()
        shutil.rmtree(root, ignore_errors=True)


def cpu_cost() -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in ("jpeg", "png"):
        data, name, ctype = photo(999, kind)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            process_avatar(data, name, ctype, max_pixels=25_000_000)
            runs.append((time.perf_counter() - t0) * 1000)
        out[f"one_{kind}_ms"] = round(min(runs), 1)
        out[f"{kind}_upload_bytes"] = len(data)
    return out


def main(uploads: int = 32) -> dict[str, Any]:
    files = [photo(i, "jpeg" if i % 2 == 0 else "png") for i in range(uploads + 4)]
    figures: dict[str, Any] = {"inflight": INFLIGHT, "workers": 2, **cpu_cost()}
    with embedded_infra("bc-bench-storage-", durable=False) as infra:
        for pool in ("thread", "process"):
            result = asyncio.run(drive(infra, pool, files))
            figures[pool] = result
            print(result, flush=True)
    print(figures)
    return figures


if __name__ == "__main__":
    command_line(main)
