"""The gateway's side of one execution environment: a worker process, its pipes, its calls.

:class:`Worker` speaks the frame protocol of :mod:`wsgate.integrations.worker` over the process's
stdin and stdout, holds the invocations sent to it in order, times them, and tells its pool
(:class:`~wsgate.integrations.process_pool.ProcessRunner`) when it answers, times out or dies.
Runtime API environments (:mod:`wsgate.integrations.runtime_runner`) are workers too, fed one
invocation at a time over HTTP instead of frames.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from wsgate.errors import FunctionError, IntegrationTimeout
from wsgate.integrations.lambda_context import (
    EXIT_ERROR,
    TIMEOUT_ERROR,
    exit_error_message,
    timeout_error_message,
)
from wsgate.integrations.worker import READY, SKIPPED

__all__ = ["PIPELINE", "Pool", "PoolCall", "Worker", "expire_due"]

_HEADER_SIZE = 5  # worker.FRAME_HEADER.size; unpacked by hand on the hot path
# A busy worker holds invocations (one running, the rest in its pipe) worth about this much
# work at its recent pace (seconds), and at most PIPELINE of them; it takes one more only
# while the one it runs began less than _FRESH seconds ago.
_HOLD = 0.002
PIPELINE = 512
_FRESH = 0.002


class Pool(Protocol):
    """What a worker asks of the pool it belongs to (``ProcessRunner``)."""

    name: str  # the integration's, for errors
    timeout: float  # the function's timeout, in seconds

    def release(self, worker: Worker) -> None:
        """The worker answered a call, or is ready: hand it more, or park it."""

    def requeue(self, calls: deque[PoolCall]) -> None:
        """Calls the worker held but never began: send them to another worker."""

    def discard(self, worker: Worker) -> None:
        """The worker is gone or going: forget it, start another if calls wait."""

    def forget(self, worker: Worker) -> None:
        """The worker's process is reaped."""


class PoolCall:
    """One invocation on its way through the pool: queued, then sent to a worker.

    ``deadline`` (loop time) is its integration timeout: whoever holds the call then (the
    pool's queue, or a worker) fails its future with TimeoutError, and no timer per call.
    """

    __slots__ = ("deadline", "frame", "future", "request_id")

    def __init__(
        self, request_id: str, frame: bytes, future: asyncio.Future[Any], deadline: float
    ) -> None:
        self.request_id = request_id
        self.frame = frame
        self.future = future
        self.deadline = deadline


def expire_due(calls: Iterable[PoolCall], now: float) -> float:
    """Fail the calls in ``calls`` whose deadline has passed; the earliest deadline left."""
    earliest = math.inf
    for call in calls:
        if call.future.done():
            continue
        if call.deadline <= now:
            call.future.set_exception(TimeoutError())
        elif call.deadline < earliest:
            earliest = call.deadline
    return earliest


class Worker(asyncio.SubprocessProtocol):
    """One execution environment: a worker process and the invocations it holds.

    It runs one invocation at a time, as Lambda does. A pipe worker may also hold up to
    ``depth`` invocations: the one it runs and the next ones, waiting in its pipe, so that a
    busy function's calls reach it in one write and its answers come back without a round trip
    each. How many it takes (``room``) follows its pace: about ``_HOLD`` seconds of work, so a
    slow function's calls wait in the pool for whichever worker frees first. Answers come in
    the order sent, so the first call held is the one running.
    """

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop, depth: int = 1) -> None:
        self._pool = pool
        self._loop = loop
        self.depth = depth
        self.room = 1  # calls it may hold now, by its pace
        self._pace = _HOLD  # seconds per invocation, a moving average of what the pool saw
        self.ready: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.retired = False
        self.dead = False
        self.serving = False  # started, and handed calls by the pool since
        self.calls: deque[PoolCall] = deque()  # sent and not answered; the first one runs
        self.began = 0.0  # loop time at which the first of ``calls`` began
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._buffer = bytearray()
        self._outbox: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._due = math.inf  # when the timer fires
        self._eof = self._exited = self._gone = False

    @property
    def _request_id(self) -> str:
        """The id of the invocation running (the first one held), or ``""``."""
        return self.calls[0].request_id if self.calls else ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.SubprocessTransport, transport)
        self._stdin = cast(asyncio.WriteTransport, self._transport.get_pipe_transport(0))

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        buffer = self._buffer
        if not buffer and len(data) >= _HEADER_SIZE:
            # Fast path: a whole frame in one read, the usual case for small answers.
            length = int.from_bytes(data[:4], "big")
            if len(data) == _HEADER_SIZE + length:
                self._on_frame(data[4], bytes(data[_HEADER_SIZE:]))
                return
        buffer += data
        start, size = 0, len(buffer)
        while size - start >= _HEADER_SIZE:
            end = start + _HEADER_SIZE + int.from_bytes(buffer[start : start + 4], "big")
            if size < end:
                break
            kind, body = buffer[start + 4], bytes(buffer[start + _HEADER_SIZE : end])
            start = end
            self._on_frame(kind, body)
        del buffer[:start]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._eof = True
            self._check_gone()

    def process_exited(self) -> None:
        self._exited = True
        self._check_gone()

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_gone()
        if self._transport is not None:
            self._transport.close()
        self._finish()

    def _finish(self) -> None:
        """The process is reaped: the worker is closed for good."""
        if not self.closed.done():
            self.closed.set_result(None)
        self._pool.forget(self)

    @property
    def spawned(self) -> bool:
        """True once the process exists (and until its transport is closed)."""
        return self._transport is not None and not self.closed.done()

    def start(self, init: bytes) -> None:
        """Send the INIT frame; the worker answers READY after its cold start."""
        assert self._stdin is not None
        self._stdin.write(init)

    def loop_time(self) -> float:
        """The event loop's clock, which ``began`` and deadlines read."""
        return self._loop.time()

    def can_take(self, now: float) -> bool:
        """True when a busy worker may take one more call now: it has room, and what it runs
        began so recently (``_FRESH``) that the call will not wait behind a slow one."""
        return len(self.calls) < self.room and now - self.began < _FRESH

    def send(self, call: PoolCall) -> None:
        """Hand the worker one invocation; its answer settles ``call.future``."""
        calls = self.calls
        calls.append(call)
        if len(calls) == 1:
            self._begin(self._loop.time())
        elif call.deadline < self._due:
            self._arm(call.deadline)
        self._deliver(call.frame)

    def _begin(self, now: float) -> None:
        # The first call held has begun: the function's timeout counts from now. One timer
        # serves every call held, and when it fires early it sleeps again until the next due
        # time: no timer per call.
        self.began = now
        if self._timer is None:
            self._arm(min(self.began + self._pool.timeout, self.calls[0].deadline))

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._due = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _deliver(self, frame: bytes) -> None:
        # Frames of one loop turn leave in one write: one wake-up of the worker for them all.
        if not self._outbox:
            self._loop.call_soon(self._flush)
        self._outbox.append(frame)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if frames and not self.dead and self._stdin is not None:
            self._stdin.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def fail_calls(self, error: Exception) -> None:
        """Fail every invocation the worker holds with ``error``."""
        self._stop_timer()
        calls, self.calls = self.calls, deque()
        for call in calls:
            if not call.future.done():
                call.future.set_exception(error)

    def close(self) -> None:
        """Ask the worker to exit (it does at stdin EOF) and forget it."""
        self.dead = True
        self._outbox.clear()
        if self._stdin is not None:
            self._stdin.close()

    def terminate(self) -> None:
        """Close stdin and send SIGTERM (a wedged handler ignores EOF)."""
        self.close()
        self._send_sigterm()

    def _send_sigterm(self) -> None:
        if self._transport is not None and self._transport.get_returncode() is None:
            try:
                self._transport.terminate()
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the worker and take it out of the pool at once."""
        self.dead = True
        self._pool.discard(self)
        if self._transport is not None and self._transport.get_returncode() is None:
            try:
                self._transport.kill()
            except ProcessLookupError:
                pass

    def exit_error(self, request_id: str | None) -> FunctionError:
        """Lambda's error for a runtime that exited, with the worker's exit status."""
        code = self._transport.get_returncode() if self._transport is not None else None
        return FunctionError(self._pool.name, EXIT_ERROR, exit_error_message(request_id, code))

    def _on_frame(self, kind: int, body: bytes) -> None:
        if kind == READY:
            if not self.ready.done():
                self.ready.set_result(True)
            return
        calls = self.calls
        if not calls:
            return  # an answer after a timeout already failed the call
        future = calls.popleft().future
        now = self._loop.time()
        if self.depth > 1:
            self._pace += (now - self.began - self._pace) / 8
            self.room = min(self.depth, max(1, int(_HOLD / max(self._pace, 1e-9))))
        if calls:
            self._begin(now)
        else:
            self._stop_timer()
        if not future.done():
            if kind == SKIPPED:  # it waited in the pipe past its integration timeout
                future.set_exception(IntegrationTimeout(self._pool.name, "no answer in time"))
            else:
                future.set_result((kind, body))
        self._pool.release(self)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = math.inf

    def _on_timer(self) -> None:
        self._timer = None
        self._due = math.inf
        if not self.calls:
            return
        now = self._loop.time()
        # Calls past their integration timeout fail; the worker still runs (or skips) them.
        earliest = expire_due(self.calls, now)
        ends = self.began + self._pool.timeout
        if now < ends:
            self._arm(min(ends, earliest))
            return
        # Lambda stops the whole sandbox at the function's timeout; so do we.
        message = timeout_error_message(datetime.now(UTC), self._request_id, self._pool.timeout)
        self._fail_running(FunctionError(self._pool.name, TIMEOUT_ERROR, message))
        self.kill()

    def _fail_running(self, error: Exception) -> None:
        """Fail the call running with ``error``; the pool sends the ones after it elsewhere,
        since none of them has begun."""
        self._stop_timer()
        calls, self.calls = self.calls, deque()
        running = calls.popleft()
        if not running.future.done():
            running.future.set_exception(error)
        self._pool.requeue(calls)

    def _check_gone(self) -> None:
        # Wait for both: the answer's bytes may still be in the pipe when the exit is seen.
        if self._eof and self._exited:
            self._on_gone()

    def _on_gone(self) -> None:
        if self._gone:
            return
        self._gone = self.dead = True
        if self.calls:
            self._fail_running(self.exit_error(self._request_id))
        self._pool.discard(self)
        if not self.ready.done():
            self.ready.set_result(False)
