"""Process isolation: a pool of worker processes, each one Lambda execution environment.

The parent side of :mod:`wsgate.integrations.worker`: this module starts the workers, speaks the
frame protocol over their pipes, queues calls for a free worker, and kills and replaces a worker
that times out or dies (see :mod:`wsgate.integrations.function` for the behaviour).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import wsgate
from wsgate.errors import (
    FunctionError,
    IntegrationBadResponse,
    IntegrationTimeout,
    IntegrationUnavailable,
)
from wsgate.integrations.base import IntegrationRequest, IntegrationResult
from wsgate.integrations.lambda_context import (
    EXIT_ERROR,
    TIMEOUT_ERROR,
    FunctionInfo,
    build_environment,
    build_function_info,
    build_log_stream_name,
    dump_json,
    exit_error_message,
    function_error,
    load_json,
    new_invocation_id,
    timeout_error_message,
)
from wsgate.integrations.worker import INIT, INVOKE, READY, RESULT, encode_frame
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
_HEADER_SIZE = 5  # worker.FRAME_HEADER.size; unpacked by hand on the hot path


class _Worker(asyncio.SubprocessProtocol):
    """One execution environment: a worker process and the invocation it is serving."""

    def __init__(self, pool: ProcessRunner, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self._loop = loop
        self.ready: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.retired = False
        self.dead = False
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._buffer = bytearray()
        self._call: asyncio.Future[tuple[int, bytes]] | None = None
        self._request_id = ""
        self._timer: asyncio.TimerHandle | None = None
        self._eof = self._exited = self._gone = False

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
        while len(buffer) >= _HEADER_SIZE:
            end = _HEADER_SIZE + int.from_bytes(buffer[:4], "big")
            if len(buffer) < end:
                return
            kind, body = buffer[4], bytes(buffer[_HEADER_SIZE:end])
            del buffer[:end]
            self._on_frame(kind, body)

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

    def send(self, request_id: str, frame: bytes, timeout: float) -> asyncio.Future[Any]:
        """Start one invocation; the future gets the answer's (kind, body)."""
        call = self._call = self._loop.create_future()
        self._request_id = request_id
        self._deliver(frame)
        self._timer = self._loop.call_later(timeout, self._on_timeout)
        return call

    def _deliver(self, frame: bytes) -> None:
        assert self._stdin is not None
        self._stdin.write(frame)

    def fail_call(self, error: Exception) -> None:
        """Fail the invocation in flight, if any, with ``error``."""
        call, self._call = self._call, None
        if self._timer is not None:
            self._timer.cancel()
        if call is not None and not call.done():
            call.set_exception(error)

    def close(self) -> None:
        """Ask the worker to exit (it does at stdin EOF) and forget it."""
        self.dead = True
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
        call, self._call = self._call, None
        if call is None:
            return  # an answer after a timeout already failed the call
        if self._timer is not None:
            self._timer.cancel()
        if not call.done():
            call.set_result((kind, body))
        self._pool.release(self)

    def _on_timeout(self) -> None:
        # Lambda stops the whole sandbox at the function's timeout; so do we.
        self._timer = None
        message = timeout_error_message(datetime.now(UTC), self._request_id, self._pool.timeout)
        self.fail_call(FunctionError(self._pool.name, TIMEOUT_ERROR, message))
        self.kill()

    def _check_gone(self) -> None:
        # Wait for both: the answer's bytes may still be in the pipe when the exit is seen.
        if self._eof and self._exited:
            self._on_gone()

    def _on_gone(self) -> None:
        if self._gone:
            return
        self._gone = self.dead = True
        self._pool.discard(self)
        if not self.ready.done():
            self.ready.set_result(False)
        if self._call is not None:
            self.fail_call(self.exit_error(self._request_id))


class ProcessRunner:
    """A pool of worker processes, one invocation per worker, like Lambda's environments.

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
        self._workers: set[_Worker] = set()
        # Every process not yet reaped, pooled or not (killed, retiring): stop() waits for all.
        self._processes: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._waiters: deque[asyncio.Future[_Worker]] = deque()
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
        frame = self._invocation_frame(invocation_id, request.event)
        try:
            async with asyncio.timeout(request.timeout_ms / 1000):
                worker = self._idle.pop() if self._idle else await self._acquire()
                kind, body = await worker.send(invocation_id, frame, self.timeout)
        except TimeoutError as exc:
            reason = f"no answer within {request.timeout_ms} ms"
            raise IntegrationTimeout(self.name, reason) from exc
        try:
            value = load_json(body)
        except ValueError as exc:
            raise IntegrationBadResponse(self.name, "the function's answer is not JSON") from exc
        if kind == RESULT:
            return IntegrationResult(value)
        raise function_error(self.name, value if isinstance(value, dict) else {})

    def _invocation_frame(self, invocation_id: str, event: JSONObject) -> bytes:
        """What a worker is sent to run one invocation."""
        return encode_frame(INVOKE, dump_json([invocation_id, event]))

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
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(IntegrationUnavailable(self.name, "the function stopped"))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        workers = list(self._processes | self._workers)
        self._workers.clear()
        self._idle.clear()
        for worker in workers:
            worker.fail_call(IntegrationUnavailable(self.name, "the function stopped"))
            worker.terminate()
        closing = {worker.closed for worker in workers if worker.spawned}
        if closing:
            _, lingering = await asyncio.wait(closing, timeout=_STOP_GRACE)
            for worker in workers:
                if worker.closed in lingering:
                    worker.kill()
            if lingering:
                await asyncio.wait(lingering, timeout=_STOP_GRACE)

    def release(self, worker: _Worker) -> None:
        """Hand a free worker to the longest waiting call, or park it."""
        if worker.dead:
            return
        if worker.retired or self._closed:
            worker.close()
            self.discard(worker)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    def discard(self, worker: _Worker) -> None:
        """Forget a worker that is gone or going; start a replacement if calls wait."""
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._spawn_if_needed()

    def forget(self, worker: _Worker) -> None:
        """Drop a worker whose process is reaped and pipes closed."""
        self._processes.discard(worker)

    async def _acquire(self) -> _Worker:
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._spawn_if_needed()
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # handed a worker just as the call gave up
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

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

    def _new_worker(self, loop: asyncio.AbstractEventLoop) -> _Worker:
        return _Worker(self, loop)

    async def _launch(
        self, worker: _Worker, info: FunctionInfo, environment: dict[str, str]
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

    async def _boot(self, worker: _Worker) -> None:
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
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
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
