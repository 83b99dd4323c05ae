"""Running a coroutine's first step in place, then finishing it in a task, an await, or from the
callbacks of detached futures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wsgate.eager import Detached, Pending, expire_later, run_first_step


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


async def _adds(results: list[int], *futures: asyncio.Future[int]) -> None:
    total = 0
    for future in futures:
        total += await future
    results.append(total)


async def _detached_then_other(results: list[int], future: Detached) -> None:
    first = await future
    await asyncio.sleep(0)  # not a detached future: a task finishes the work
    results.append(first + 1)


async def _fails_after(future: Detached) -> None:
    await future
    raise ValueError("after the answer")


def _detach(coroutine: Any) -> asyncio.Future[BaseException | None]:
    """Run the first step, go on without a task; the future gets what ended the work."""
    _, pending = run_first_step(coroutine)
    assert isinstance(pending, Pending) and pending.detached
    ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    pending.continue_detached(ended.set_result)
    return ended


@pytest.mark.parametrize(("future_type", "detached"), [(Detached, True), (asyncio.Future, False)])
async def test_pending_knows_a_detached_wait(future_type: type, detached: bool) -> None:
    future = future_type(loop=asyncio.get_running_loop())
    results: list[int] = []
    _, pending = run_first_step(_adds(results, future))
    assert isinstance(pending, Pending) and pending.detached is detached
    future.set_result(1)
    await pending.resume()
    assert results == [1]


async def test_detached_work_finishes_from_callbacks() -> None:
    loop = asyncio.get_running_loop()
    first, second = Detached(loop=loop), Detached(loop=loop)
    results: list[int] = []
    ended = _detach(_adds(results, first, second))
    first.set_result(2)
    second.set_result(3)
    assert await ended is None
    assert results == [5]


async def test_detached_work_that_waits_on_something_else_finishes_in_a_task() -> None:
    future = Detached(loop=asyncio.get_running_loop())
    results: list[int] = []
    ended = _detach(_detached_then_other(results, future))
    future.set_result(1)
    assert await ended is None
    assert results == [2]


async def test_detached_work_reports_its_error() -> None:
    future = Detached(loop=asyncio.get_running_loop())
    ended = _detach(_fails_after(future))
    future.set_result(1)
    error = await ended
    assert isinstance(error, ValueError) and str(error) == "after the answer"


async def test_expire_later_fails_a_wait_in_time() -> None:
    loop = asyncio.get_running_loop()
    late, answered = Detached(loop=loop), Detached(loop=loop)
    handles = [expire_later(loop, 0.01, late), expire_later(loop, 0.01, answered)]
    answered.set_result(7)
    with pytest.raises(TimeoutError):
        await late
    assert await answered == 7
    for handle in handles:
        handle.cancel()
