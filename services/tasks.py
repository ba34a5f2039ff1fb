"""Background tasks: a job repeated until the service stops, and stopping a task for sure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


async def run_every(
    interval_s: float, stopping: asyncio.Event, what: str, job: Callable[[], Awaitable[object]]
) -> None:
    """`job` at once, then every `interval_s` until `stopping` is set; a failed run is
    logged and the next one tries again (a background job must not die of one error)."""
    while not stopping.is_set():
        try:
            await job()
        except Exception:
            log.exception("%s failed; the next run tries again", what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)


async def cancel_and_wait(
    task: asyncio.Task[Any], what: str, *, retry_s: float = 0.5, give_up_s: float = 15.0
) -> bool:
    """Cancel `task` and wait for it to end, cancelling again every `retry_s`.

    One cancel is not always enough: on Python 3.11 `asyncio.wait_for` drops a
    cancellation that arrives as its inner call completes, and a library may turn one into a
    timeout its retry loop swallows. A caller awaiting such a task would wait forever (the
    fleet did, holding its reconcile lock, so no bot of the replica started again). Returns
    False, and logs, if the task is still running after `give_up_s`: the caller goes on.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_s
    cancels = 0
    while not task.done():
        if loop.time() >= deadline:
            log.error("%s ignored %d cancellations; left running", what, cancels)
            return False
        task.cancel()
        cancels += 1
        await asyncio.wait({task}, timeout=retry_s)
    if cancels > 1:
        log.warning("%s needed %d cancellations to stop", what, cancels)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
    return True
