"""cancel_and_wait stops a task even when it loses a cancellation."""

from __future__ import annotations

import asyncio

from services.tasks import cancel_and_wait, run_every


async def test_a_task_that_swallows_one_cancellation_is_still_stopped() -> None:
    swallowed = 0

    async def loop_that_loses_a_cancel() -> None:
        # What a retry loop does when a library turned the cancellation into a timeout.
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(loop_that_loses_a_cancel())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, "test", retry_s=0.05) is True
    assert task.cancelled()
    assert swallowed == 1


async def test_a_task_that_never_stops_is_given_up_on_and_the_caller_goes_on() -> None:
    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, "test", retry_s=0.02, give_up_s=0.2) is False
    assert not task.done()
    # The test's own clean-up: a loop that ignores cancel ends when its coroutine is closed.
    task.get_coro().close()  # type: ignore[union-attr]


async def test_a_finished_or_failing_task_needs_no_cancel() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, "test") is True
    assert isinstance(task.exception(), RuntimeError)


async def test_a_repeated_job_survives_a_failed_run_and_ends_when_stopping() -> None:
    stopping = asyncio.Event()
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        if len(runs) == 3:
            stopping.set()

    await asyncio.wait_for(run_every(0.01, stopping, "test job", job), timeout=5)
    assert runs == [0, 1, 2]
