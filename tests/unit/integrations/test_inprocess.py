"""Where a sync handler's calls run in process: the placement rules, with literal timings."""

from __future__ import annotations

import pytest

from wsgate.integrations.sync_calls import (
    BACKOFF as _BACKOFF,
    MOST_NEEDED as _MOST_NEEDED,
    PROBATION as _PROBATION,
    QUICK as _QUICK,
    WAITED as _WAITED,
    Placement as _Placement,
)

QUICK = (_QUICK / 10, _QUICK / 10)  # wall, cpu: at once, all of it on the CPU


def proven() -> _Placement:
    placement = _Placement()
    for _ in range(_PROBATION):
        placement.observe(*QUICK)
    return placement


def test_a_route_starts_on_threads_and_moves_after_its_probation() -> None:
    placement = _Placement()
    for _ in range(_PROBATION - 1):
        placement.observe(*QUICK)
    assert not placement.inline
    placement.observe(*QUICK)
    assert placement.inline


@pytest.mark.parametrize(
    ("wall", "cpu"),
    [
        (_QUICK * 2, _QUICK * 2),  # too long, even all on the CPU
        (_QUICK, _QUICK - _WAITED * 1.5),  # short, but it waited (I/O, a sleep, a lock)
    ],
)
def test_a_call_that_is_not_quick_starts_the_count_again(wall: float, cpu: float) -> None:
    placement = _Placement()
    for _ in range(_PROBATION - 1):
        placement.observe(*QUICK)
    placement.observe(wall, cpu)
    placement.observe(*QUICK)
    assert not placement.inline and placement.streak == 1


def test_a_slow_call_on_a_thread_undoes_a_move_not_yet_made() -> None:
    placement = proven()
    placement.observe(_QUICK * 50, 0.0)  # a call sent before the move, judged after it
    assert not placement.inline and placement.needed == _PROBATION


def test_each_return_to_threads_lengthens_the_next_probation() -> None:
    placement = proven()
    placement.demote()
    assert not placement.inline and placement.needed == _PROBATION * _BACKOFF
    for _ in range(_PROBATION * _BACKOFF - 1):
        placement.observe(*QUICK)
    assert not placement.inline
    placement.observe(*QUICK)
    assert placement.inline
    for _ in range(20):
        placement.demote()
    assert placement.needed == _MOST_NEEDED


@pytest.mark.parametrize(
    ("began", "slow"), [((), False), ((9.9995,), False), ((9.9995, 9.99), True)]
)
def test_slow_on_thread_looks_at_the_calls_running_now(
    began: tuple[float, ...], slow: bool
) -> None:
    placement = _Placement()
    placement.running = {thread: start for thread, start in enumerate(began)}
    assert placement.slow_on_thread(10.0) is slow
