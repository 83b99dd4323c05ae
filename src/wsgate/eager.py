"""Start a coroutine at once and pay for a Task only if it has to wait.

Most messages on a fast route finish without ever waiting (an in-process handler that answers
straight away, a frame that fits the send buffer). Creating a Task for each costs more than the
work itself, so the data plane runs a coroutine's first step in place, as Python 3.12's eager
tasks do, and hands only the rest of a coroutine that did suspend to the event loop.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["Pending", "run_first_step"]

T = TypeVar("T")


class Pending:
    """A coroutine suspended after its first step; ``resume()`` gives an awaitable for the rest."""

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    def resume(self) -> Coroutine[Any, Any, Any]:
        """A coroutine that finishes the work; await it or wrap it in a Task, once."""
        return _continue(self._coroutine, self._waiting_on)


def run_first_step(coroutine: Coroutine[Any, Any, T]) -> tuple[bool, T | Pending]:
    """Run ``coroutine`` until it finishes or first waits.

    Returns ``(True, result)`` when it finished, ``(False, Pending)`` when it is waiting. An
    exception raised during the first step propagates to the caller.
    """
    try:
        waiting_on = coroutine.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, Pending(coroutine, waiting_on)


@types.coroutine
def _continue(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    # Hand the event loop what the coroutine is waiting on (a future with its blocking flag set,
    # or None for a bare yield), exactly as the coroutine would have inside a Task; then delegate.
    while True:
        try:
            sent = yield waiting_on
        except BaseException as error:  # cancellation or a timeout: deliver it to the coroutine
            try:
                waiting_on = coroutine.throw(error)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waiting_on = coroutine.send(sent)
        except StopIteration as stop:
            return stop.value
