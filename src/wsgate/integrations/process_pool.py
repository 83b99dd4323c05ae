"""Process isolation: a pool of worker processes, each one Lambda execution environment.

The parent side of :mod:`wsgate.integrations.worker`: this module starts the workers (each a
:class:`~wsgate.integrations.environment.Worker`, which speaks the frame protocol over its
pipes), hands calls to a worker that can take them or queues them, and replaces a worker that
times out or dies (see :mod:`wsgate.integrations.function` for the behaviour).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import wsgate
from wsgate.eager import Detached
from wsgate.errors import (
    FunctionError,
    IntegrationBadResponse,
    IntegrationTimeout,
    IntegrationUnavailable,
)
from wsgate.integrations.base import IntegrationRequest, IntegrationResult, answered
from wsgate.integrations.environment import PIPELINE, PoolCall, Worker, expire_due
from wsgate.integrations.lambda_context import (
    TIMEOUT_ERROR,
    FunctionInfo,
    build_environment,
    build_function_info,
    build_log_stream_name,
    dump_json,
    function_error,
    load_json,
    new_invocation_id,
)
from wsgate.integrations.worker import INIT, INVOKE, RESULT, encode_frame
from wsgate.types import JSONObject

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["ProcessRunner"]

logger = logging.getLogger(__name__)

# Lambda gives the init phase (the handler module's import) ten seconds.
_INIT_LIMIT = 10.0
_STOP_GRACE = 2.0  # between SIGTERM and SIGKILL at stop
_WORKER_MODULE = "wsgate.integrations.worker"
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(wsgate.__file__)))


class ProcessRunner:
    """A pool of worker processes, each running one invocation at a time, like Lambda's.

    Calls go to an idle worker, else to a new one up to ``concurrency``. When every worker is
    busy and none can start, a call may join a worker whose current invocation has only just
    begun (``Worker.can_take``), and waits in that worker's pipe instead of in the pool.

    Subclasses run other runtimes in the same pool by overriding how a worker is made
    (``_new_worker``), started (``_launch``) and sent an invocation (``_invocation_frame``).
    """

    _runtime_dir = _RUNTIME_DIR

    def __init__(
        self, name: str, function_name: str, config: FunctionConfig, *, region: str, account_id: str
    ) -> None:
        self.name = name
        self.timeout = config.timeout
        self._function_name = function_name
        self._config = config
        self._region = region
        self._account_id = account_id
        self._workers: set[Worker] = set()
        # Every process not yet reaped, pooled or not (killed, retiring): stop() waits for all.
        self._processes: set[Worker] = set()
        self._idle: list[Worker] = []
        self._waiters: deque[PoolCall] = deque()  # calls waiting for a worker, oldest first
        self._queue_timer: asyncio.TimerHandle | None = None
        self._queue_due = math.inf
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # How this runtime reaches the gateway back (integrations/callback.py); under the
        # function's own variables, over the gateway's.
        self.callback_environment: Mapping[str, str] = {}

    async def start(self) -> None:
        """Nothing to do: workers start when calls need them."""
        self._closed = False

    async def invoke(self, request: IntegrationRequest) -> IntegrationResult:
        """Run one invocation on a free worker (see :mod:`wsgate.integrations.function`)."""
        if self._closed:
            raise IntegrationUnavailable(self.name, "the function is stopped")
        invocation_id = request.invocation_id or new_invocation_id()
        limit = request.timeout_ms / 1000
        frame = self._invocation_frame(invocation_id, request.event, time.monotonic() + limit)
        loop = asyncio.get_running_loop()
        # A detached future, failed at the deadline by whoever holds the call: the data plane
        # needs no task per message to wait for the answer (wsgate.eager).
        call = PoolCall(invocation_id, frame, Detached(loop=loop), loop.time() + limit)
        self._dispatch(call)
        try:
            kind, body = await call.future
        except TimeoutError as exc:  # a call given up while queued leaves the queue (no trace)
            reason = f"no answer within {request.timeout_ms} ms"
            raise IntegrationTimeout(self.name, reason) from exc
        try:
            value = load_json(body)
        except ValueError as exc:
            raise IntegrationBadResponse(self.name, "the function's answer is not JSON") from exc
        if kind == RESULT:
            return answered(value)
        raise function_error(self.name, value if isinstance(value, dict) else {})

    def _invocation_frame(self, invocation_id: str, event: JSONObject, deadline: float) -> bytes:
        """What a worker is sent to run one invocation.

        ``deadline`` is the ``time.monotonic()`` reading (one clock for every process on the
        machine) past which the gateway no longer waits: a worker skips the call then.
        """
        return encode_frame(INVOKE, dump_json([invocation_id, event, deadline]))

    def _dispatch(self, call: PoolCall) -> None:
        """Send a call to a worker that can take it now, or queue it (and start a worker)."""
        if self._idle and not self._waiters:
            self._idle.pop().send(call)
            return
        worker = None if self._waiters else self._busy_worker()
        if worker is not None:
            worker.send(call)
            return
        self._waiters.append(call)
        if call.deadline < self._queue_due:
            self._arm_queue(call.deadline)
        if len(self._workers) < self._config.concurrency:
            self._spawn_if_needed()

    def _arm_queue(self, when: float) -> None:
        if self._queue_timer is not None:
            self._queue_timer.cancel()
        self._queue_due = when
        self._queue_timer = asyncio.get_running_loop().call_at(when, self._on_queue_timer)

    def _on_queue_timer(self) -> None:
        """Fail the queued calls whose integration timeout passed, and drop them."""
        self._queue_timer = None
        self._queue_due = math.inf
        now = asyncio.get_running_loop().time()
        earliest = expire_due(self._waiters, now)
        self._waiters = deque(call for call in self._waiters if not call.future.done())
        if self._waiters:
            self._arm_queue(earliest)

    def _busy_worker(self) -> Worker | None:
        """A serving worker that can take one more call, once no more workers can start."""
        if self._starting or len(self._workers) < self._config.concurrency:
            return None
        now = asyncio.get_running_loop().time()
        chosen: Worker | None = None
        for worker in self._workers:
            if worker.serving and not worker.retired and not worker.dead and worker.can_take(now):
                if len(worker.calls) <= 1:
                    return worker
                if chosen is None or len(worker.calls) < len(chosen.calls):
                    chosen = worker
        return chosen

    def reload(self) -> None:
        """Retire every worker: idle ones now, busy and starting ones when they come free."""
        for worker in self._workers:
            worker.retired = True
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()
            self._workers.discard(worker)

    async def stop(self) -> None:
        """Fail pending calls, then SIGTERM the workers and SIGKILL those that linger."""
        self._closed = True
        while self._waiters:
            call = self._waiters.popleft()
            if not call.future.done():
                call.future.set_exception(IntegrationUnavailable(self.name, "the function stopped"))
        if self._queue_timer is not None:
            self._queue_timer.cancel()
            self._queue_timer, self._queue_due = None, math.inf
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        workers = list(self._processes | self._workers)
        self._workers.clear()
        self._idle.clear()
        for worker in workers:
            worker.fail_calls(IntegrationUnavailable(self.name, "the function stopped"))
            worker.terminate()
        closing = {worker.closed for worker in workers if worker.spawned}
        if closing:
            _, lingering = await asyncio.wait(closing, timeout=_STOP_GRACE)
            for worker in workers:
                if worker.closed in lingering:
                    worker.kill()
            if lingering:
                await asyncio.wait(lingering, timeout=_STOP_GRACE)

    def release(self, worker: Worker) -> None:
        """A worker answered (or started): hand it the longest waiting calls it can take, or
        park it once it holds none."""
        if worker.dead:
            return
        if worker.retired or self._closed:
            if not worker.calls:  # a retiring worker finishes what it holds first
                worker.close()
                self.discard(worker)
            return
        worker.serving = True
        waiters = self._waiters
        if waiters and (not worker.calls or worker.can_take(worker.loop_time())):
            # As many as it has room for now; each one not given up while it waited.
            room = max(1, worker.room - len(worker.calls))
            while waiters and room:
                call = waiters.popleft()
                if not call.future.done():
                    worker.send(call)
                    room -= 1
        if not worker.calls:
            self._idle.append(worker)

    def requeue(self, calls: deque[PoolCall]) -> None:
        """Put calls a lost worker held but never began back at the head of the queue."""
        for call in reversed(calls):
            if not call.future.done():
                self._waiters.appendleft(call)
                if call.deadline < self._queue_due:
                    self._arm_queue(call.deadline)
        for worker in list(self._idle):
            if self._waiters:
                self._idle.remove(worker)
                self.release(worker)
        self._spawn_if_needed()

    def discard(self, worker: Worker) -> None:
        """Forget a worker that is gone or going; start a replacement if calls wait."""
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._spawn_if_needed()

    def forget(self, worker: Worker) -> None:
        """Drop a worker whose process is reaped and pipes closed."""
        self._processes.discard(worker)

    def _spawn_if_needed(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        while self._starting < len(self._waiters) and len(self._workers) < self._config.concurrency:
            worker = self._new_worker(loop)
            self._workers.add(worker)
            self._processes.add(worker)
            self._starting += 1
            task = loop.create_task(self._boot(worker), name=f"wsgate-worker-{self.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _new_worker(self, loop: asyncio.AbstractEventLoop) -> Worker:
        return Worker(self, loop, depth=PIPELINE)

    async def _launch(
        self, worker: Worker, info: FunctionInfo, environment: dict[str, str]
    ) -> None:
        """Start the worker's process and its cold start.

        Raises:
            OSError: the process cannot be started.
        """
        await asyncio.get_running_loop().subprocess_exec(
            lambda: worker,
            *(sys.executable, "-m", _WORKER_MODULE),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # handler logs go straight to the gateway's stderr
            env=environment,
            cwd=self._config.code_uri,
            # Out of the gateway's process group: Ctrl-C reaches the gateway, which then
            # stops its workers in order.
            start_new_session=True,
        )
        init = {"info": info.to_dict(), "handler": self._config.handler}
        worker.start(encode_frame(INIT, dump_json({**init, "task_root": self._config.code_uri})))

    async def _boot(self, worker: Worker) -> None:
        error: Exception | None = None
        try:
            info, environment = self._sandbox()
            await self._launch(worker, info, environment)
            async with asyncio.timeout(_INIT_LIMIT):
                if not await worker.ready:
                    error = worker.exit_error(None)
        except TimeoutError:
            message = f"Init timed out after {_INIT_LIMIT:.2f} seconds"
            error = FunctionError(self.name, TIMEOUT_ERROR, message)
            worker.kill()
        except OSError as exc:
            error = IntegrationUnavailable(self.name, f"cannot start a worker: {exc}")
            self.forget(worker)
        finally:
            self._starting -= 1
        if error is None:
            self.release(worker)
            return
        logger.warning("a worker of function %s failed to start: %s", self._function_name, error)
        while self._waiters:  # Lambda reports a failed init to the invocation that waited for it
            call = self._waiters.popleft()
            if not call.future.done():
                call.future.set_exception(error)
                break
        self.discard(worker)

    def _sandbox(self) -> tuple[FunctionInfo, dict[str, str]]:
        # Each worker is its own execution environment, with its own log stream.
        stream = build_log_stream_name(datetime.now(UTC), uuid.uuid4().hex)
        info = build_function_info(
            self._function_name,
            self._config,
            region=self._region,
            account_id=self._account_id,
            log_stream_name=stream,
        )
        environment = build_environment(
            info,
            self._config,
            region=self._region,
            base={**os.environ, **self.callback_environment},
            runtime_dir=self._runtime_dir,
        )
        # The worker must import this very wsgate, even when it is not installed (a checkout).
        path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = f"{path}{os.pathsep}{_PACKAGE_ROOT}" if path else _PACKAGE_ROOT
        return info, environment
