"""Where a sync handler's calls run in process: handler threads, or the gateway's event loop.

:class:`HandlerThreads` run calls handed over through one queue and hand the answers back in
batches (one wake-up of the loop per batch). :class:`Placement` decides, per route, when a
route's calls have shown that they return at once and may run on the loop. The network watch
keeps every function that reaches for the network off the loop (:mod:`.inprocess` explains
why and how).
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
from typing import Any, Final

from wsgate.eager import Detached

__all__ = [
    "BACKOFF",
    "BLOCKED",
    "MOST_NEEDED",
    "PROBATION",
    "QUICK",
    "WAITED",
    "HandlerThreads",
    "NetworkOnLoop",
    "Placement",
    "RunOnThread",
    "Watch",
    "current_call",
    "watch_the_network",
]

PROBATION = 32  # quick calls in a row, on threads, before a route's calls run on the loop
QUICK = 0.001  # seconds: a quick call returns within this ...
WAITED = 0.0005  # ... and spends at most this off the CPU (sleeping, or waiting for I/O)
BLOCKED = 0.002  # seconds: a call on the loop that takes longer sends its route to threads
BACKOFF = 8  # each return to threads multiplies the quick calls needed next time
MOST_NEEDED = 1 << 20
# The audit events of a handler reaching for the network (connections, name lookups, datagrams).
_NETWORK_EVENTS: Final = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
    }
)


class Watch:
    """What one handler call did with the network, seen from the thread it runs on."""

    __slots__ = ("inline", "networked")

    def __init__(self, *, inline: bool) -> None:
        self.inline = inline
        self.networked = False


class NetworkOnLoop(Exception):
    """A handler running on the event loop reached for the network: it is run on a thread."""


class RunOnThread(Exception):
    """The call on the loop was abandoned; make it again on a handler thread."""


current_call = threading.local()  # .watch: the Watch of the handler call this thread runs, or None
_audit_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _NETWORK_EVENTS:
        watch: Watch | None = getattr(current_call, "watch", None)
        if watch is not None:
            watch.networked = True
            if watch.inline:
                raise NetworkOnLoop(f"{event} from a handler running on the event loop")


def watch_the_network() -> None:
    global _audit_installed
    if not _audit_installed:  # audit hooks cannot be removed: one for the process
        sys.addaudithook(_audit)
        _audit_installed = True


class HandlerThreads:
    """Daemon threads for in-process sync handlers.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so one wedged handler
    would hang the gateway's shutdown. Results come back through ``call_soon_threadsafe`` onto
    futures the runner owns, so ``stop`` can fail them.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        # Answers not yet on the loop: the first one of a batch wakes the loop, once.
        self._answers: list[tuple[Any, Any, Any]] = []
        self._answers_lock = threading.Lock()

    def submit(self, loop: asyncio.AbstractEventLoop, function: Any, *args: Any) -> Detached:
        """Run ``function(*args)`` on a thread; returns a detached future of its result."""
        future = Detached(loop=loop)
        self._jobs.put((loop, future, function, args))
        if not self._idle.acquire(blocking=False) and len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return future

    def shutdown(self) -> None:
        """Let idle threads exit; busy ones exit when their handler returns."""
        for _ in self._threads:
            self._jobs.put(None)
        self._threads.clear()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, function, args = job
            if not future.done():  # the caller gave up (or stop failed it) while it was queued
                try:
                    result = function(*args)
                except BaseException as exc:
                    self._settle(loop, future, _set_exception, exc)
                else:
                    self._settle(loop, future, _set_result, result)
            self._idle.release()

    def _settle(
        self, loop: asyncio.AbstractEventLoop, future: Any, setter: Any, value: Any
    ) -> None:
        with self._answers_lock:
            first = not self._answers
            self._answers.append((future, setter, value))
        if first:
            try:
                loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

    def _deliver(self) -> None:
        """On the loop: settle every answer that came in since the last wake-up."""
        with self._answers_lock:
            answers, self._answers = self._answers, []
        for future, setter, value in answers:
            setter(future, value)


class Placement:
    """Where one route's calls of a sync handler run: on handler threads, or on the loop.

    ``observe`` runs on handler threads and the rest on the loop; the GIL keeps each update
    whole, and a lost count only delays a move.
    """

    __slots__ = ("inline", "needed", "running", "streak", "threaded")

    def __init__(self) -> None:
        self.inline = False
        self.needed = PROBATION
        self.streak = 0  # quick calls in a row
        self.threaded = 0  # calls sent to threads and not back yet
        self.running: dict[int, float] = {}  # thread id -> when its call of this route began

    def slow_on_thread(self, now: float) -> bool:
        """True while a call of this route has run on a thread for longer than a quick one."""
        return any(now - began > QUICK for began in tuple(self.running.values()))

    def observe(self, wall: float, cpu: float) -> None:
        """Count one call made on a thread, which took ``wall`` seconds and ``cpu`` on the CPU."""
        if wall <= QUICK and wall - cpu <= WAITED:
            self.streak += 1
            if self.streak >= self.needed:
                self.inline = True
        else:
            self.streak = 0
            self.inline = False

    def demote(self) -> None:
        """A call held the loop up: back to threads, and a longer probation next time."""
        self.inline = False
        self.streak = 0
        self.needed = min(self.needed * BACKOFF, MOST_NEEDED)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
