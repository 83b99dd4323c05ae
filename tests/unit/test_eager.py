"""Running a coroutine's first step in place, then finishing it in a task or an await."""

from __future__ import annotations

import asyncio

import pytest

from wsgate.eager import Pending, run_first_step


async def _quick() -> int:
    return 5


async def _two_steps() -> int:
    await asyncio.sleep(0)
    await asyncio.sleep(0.001)
    return 7


async def _fails_later() -> None:
    await asyncio.sleep(0)
    raise ValueError("later")


async def _fails_at_once() -> None:
    raise KeyError("now")


async def _sleeps() -> None:
    await asyncio.sleep(10)


async def _catches_cancel() -> str:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        return "cleaned up"
    return "not reached"


async def test_finished_in_first_step() -> None:
    assert run_first_step(_quick()) == (True, 5)


async def test_error_in_first_step_propagates() -> None:
    with pytest.raises(KeyError):
        run_first_step(_fails_at_once())


@pytest.mark.parametrize("in_task", [False, True])
async def test_suspended_work_finishes(in_task: bool) -> None:
    finished, pending = run_first_step(_two_steps())
    assert not finished and isinstance(pending, Pending)
    rest = pending.resume()
    assert await (asyncio.ensure_future(rest) if in_task else rest) == 7


async def test_later_error_reaches_the_awaiter() -> None:
    _, pending = run_first_step(_fails_later())
    assert isinstance(pending, Pending)
    with pytest.raises(ValueError, match="later"):
        await pending.resume()


async def test_timeout_and_cancellation_reach_the_coroutine() -> None:
    _, pending = run_first_step(_sleeps())
    assert isinstance(pending, Pending)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await pending.resume()
    _, later = run_first_step(_catches_cancel())
    assert isinstance(later, Pending)
    task = asyncio.ensure_future(later.resume())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task == "cleaned up"
