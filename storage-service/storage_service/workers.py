"""Runs the CPU work of processing.py off the event loop: a thread pool (default; Pillow
releases the GIL while decoding, resizing and encoding) or a process pool."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def _warm() -> None:
    # Import the heavy modules once per worker process, not on the first upload.
    import storage_service.processing  # noqa: F401


class Processor:
    def __init__(self, pool: Literal["thread", "process"] = "thread", workers: int = 2) -> None:
        self.pool = pool
        self.workers = workers
        self._executor: Executor
        if pool == "process":
            self._executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm,
            )
        else:
            self._executor = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="storage-cpu"
            )

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
