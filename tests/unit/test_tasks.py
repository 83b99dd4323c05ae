"""Background tasks stop even when a cancellation is swallowed once (Python 3.11's wait_for)."""

from __future__ import annotations

import asyncio
import logging

from wsgate.tasks import cancel_and_wait


async def test_a_task_that_swallows_one_cancel_still_stops():
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 1:
                    continue  # what a wait_for racing its inner call does on 3.11
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait([task], timeout=2)
    assert task.cancelled() and swallowed == 2


async def test_failures_are_retrieved_and_stuck_tasks_reported(caplog):
    release = asyncio.Event()

    async def fails() -> None:
        raise ValueError("boom")

    async def stuck() -> None:
        while not release.is_set():  # swallows every cancel until released
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    failing, stubborn = asyncio.create_task(fails()), asyncio.create_task(stuck())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="wsgate.tasks"):
        await cancel_and_wait([failing, stubborn], timeout=0.3)
    assert "1 background tasks did not stop" in caplog.text
    assert isinstance(failing.exception(), ValueError)
    release.set()
    await stubborn
