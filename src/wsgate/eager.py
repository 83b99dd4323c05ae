"""Start a coroutine at once and pay for a Task only if it has to wait.

Most messages on a fast route finish without ever waiting (an in-process handler that answers
straight away, a frame that fits the send buffer). Creating a Task for each costs more than the
work itself, so the data plane runs a coroutine's first step in place, as Python 3.12's eager
tasks do, and hands only the rest of a coroutine that did suspend to the event loop.

A coroutine that waits on a :class:`Detached` future needs no Task even then: its awaiter
promises that nothing on the way back asks for the current task (no ``asyncio.timeout``, which
cancels the task it was entered in), so :meth:`Pending.continue_detached` resumes it straight
from the future's callback. Worker processes and handler threads answer through such futures,
and a busy connection then costs no Task per message.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["Detached", "Pending", "expire_later", "run_first_step"]

T = TypeVar("T")


class Detached(asyncio.Future[Any]):
    """A future whose awaiter can go on without a Task (see the module docstring).

    Await it only where no code between the await and the end of the work needs the current
    task: a timeout for it is a timer that fails it, not ``asyncio.timeout``.
    """

    __slots__ = ()


def expire_later(
    loop: asyncio.AbstractEventLoop, delay: float, future: asyncio.Future[Any]
) -> asyncio.TimerHandle:
    """The timeout of a detached wait: fail ``future`` with TimeoutError after ``delay``
    seconds unless it is done by then. Cancel the handle once the wait is over."""
    return loop.call_later(delay, _expire, future)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Pending:
    """A coroutine suspended after its first step; ``resume()`` gives an awaitable for the rest."""

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    @property
    def detached(self) -> bool:
        """True when the coroutine waits on a :class:`Detached` future."""
        return type(self._waiting_on) is Detached

    def resume(self) -> Coroutine[Any, Any, Any]:
        """A coroutine that finishes the work; await it or wrap it in a Task, once."""
        return _continue(self._coroutine, self._waiting_on)

    def continue_detached(self, done: Callable[[BaseException | None], None]) -> None:
        """Finish the work from future callbacks, without a Task; only when ``detached``.

        ``done`` is called once at the end, with the exception that ended the work, if any.
        Should the coroutine later wait on anything but a detached future, a Task finishes it.
        """
        _Driver(self._coroutine, done).wait(self._waiting_on)


class _Driver:
    """Steps a coroutine each time the detached future it waits on is done."""

    __slots__ = ("_coroutine", "_done")

    def __init__(
        self,
        coroutine: Coroutine[Any, Any, Any],
        done: Callable[[BaseException | None], None],
    ) -> None:
        self._coroutine = coroutine
        self._done = done

    def wait(self, future: Detached) -> None:
        future.add_done_callback(self._step)

    def _step(self, _: object) -> None:
        # The future is done: Future.__await__ picks up its result (or raises) on send(None).
        try:
            waiting_on = self._coroutine.send(None)
        except StopIteration:
            self._done(None)
            return
        except BaseException as error:
            self._done(error)
            return
        if type(waiting_on) is Detached:
            waiting_on.add_done_callback(self._step)
            return
        task = asyncio.ensure_future(_continue(self._coroutine, waiting_on))
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._done(None if task.cancelled() else task.exception())


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
