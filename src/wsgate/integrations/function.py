"""AWS_PROXY integrations backed by local Python functions, run the way Lambda runs them.

``FunctionConfig.isolation`` picks one of two runners:

``process`` (the default)
    A pool of up to ``concurrency`` worker processes (:mod:`wsgate.integrations.worker`), each one
    Lambda execution environment: started when calls need it, kept warm, serving one invocation
    at a time with the function's own environment variables. Extra calls wait for a free worker,
    and the wait counts against the integration timeout. A worker that passes the function's
    timeout is killed (``Sandbox.Timedout``); one that dies mid-call reports
    ``Runtime.ExitError``; either way the pool replaces it and the gateway carries on.

``inprocess``
    The handler is imported into the gateway itself, for speed. Async handlers are awaited on
    the gateway's loop (cancelled at the first timeout to expire); sync handlers run on up to
    ``concurrency`` daemon threads so they never stall it. The function shares the gateway's
    process and environment: its ``environment`` is copied into ``os.environ`` at start for
    names not already set, and never applied per call; Lambda's reserved variables are not set.
    A timeout cannot stop a sync handler's thread, only stop waiting for it, and ``stop`` fails
    the calls waiting on threads but leaves in-flight async handlers to their own timeouts.

With ``reload=True`` the code directory is watched: a change to a ``.py`` file retires the
process workers (in-flight calls finish first) or re-imports the in-process modules.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections import deque
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
    MARSHAL_ERROR,
    TIMEOUT_ERROR,
    FunctionInfo,
    LambdaContext,
    build_environment,
    build_function_info,
    build_log_stream_name,
    dump_json,
    exit_error_message,
    function_error,
    load_json,
    timeout_error_message,
)
from wsgate.integrations.worker import (
    INIT,
    INVOKE,
    READY,
    RESULT,
    Handler,
    encode_frame,
    exception_payload,
    load_handler,
)

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["FunctionIntegration"]

logger = logging.getLogger(__name__)

# Lambda gives the init phase (the handler module's import) ten seconds.
_INIT_LIMIT = 10.0
_STOP_GRACE = 2.0
_WORKER_MODULE = "wsgate.integrations.worker"
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(wsgate.__file__)))
_HEADER_SIZE = 5  # worker.FRAME_HEADER.size; unpacked by hand on the hot path


class FunctionIntegration:
    """A local function standing in for a Lambda function behind an AWS_PROXY integration.

    Process isolation (the default) gives each call a Lambda-like sandbox; in-process isolation
    is faster but shares the gateway's process and environment (see the module docstring).

    Args:
        name: the integration's name, used in errors.
        function_name: the function's name (``AWS_LAMBDA_FUNCTION_NAME``, the ARN, log names).
        config: the function's config; ``code_uri`` must be an absolute directory.
        region, account_id: used in the ARN and the environment.
        reload: watch ``code_uri`` and pick up edited ``.py`` files.
    """

    def __init__(
        self,
        name: str,
        function_name: str,
        config: FunctionConfig,
        *,
        region: str,
        account_id: str,
        reload: bool = False,
    ) -> None:
        self.name = name
        self.function_name = function_name
        self._config = config
        self._reload = reload
        runner_class = _InProcessRunner if config.isolation == "inprocess" else _ProcessRunner
        self._runner: _ProcessRunner | _InProcessRunner = runner_class(
            name, function_name, config, region=region, account_id=account_id
        )
        self._watcher: asyncio.Task[None] | None = None
        self._stop_watching = asyncio.Event()

    async def start(self) -> None:
        """Load the function (in-process) and start watching its code when asked to."""
        await self._runner.start()
        if self._reload and self._watcher is None:
            self._stop_watching.clear()
            self._watcher = asyncio.create_task(self._watch(), name=f"wsgate-reload-{self.name}")
            # One turn of the loop lets awatch register its watches before start() returns, so
            # an edit made right after start is not missed.
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """Stop watching and stop the runner; pending calls raise IntegrationUnavailable."""
        if self._watcher is not None:
            self._stop_watching.set()
            watcher, self._watcher = self._watcher, None
            try:
                await asyncio.wait_for(watcher, _STOP_GRACE)
            except TimeoutError:
                pass  # wait_for has cancelled it
        await self._runner.stop()

    async def invoke(self, request: IntegrationRequest) -> IntegrationResult:
        """Invoke the function once (see :meth:`wsgate.integrations.base.Integration.invoke`)."""
        return await self._runner.invoke(request)

    async def _watch(self) -> None:
        from watchfiles import PythonFilter, awatch

        try:
            async for changes in awatch(
                self._config.code_uri, watch_filter=PythonFilter(), stop_event=self._stop_watching
            ):
                changed = sorted(
                    os.path.relpath(path, self._config.code_uri) for _, path in changes
                )
                logger.info("reloading function %s: %s changed", self.function_name, changed[0])
                self._runner.reload()
        except Exception:
            logger.exception("watching %s for function %s failed", self._config.code_uri, self.name)


class _Worker(asyncio.SubprocessProtocol):
    """One execution environment: a worker process and the invocation it is serving."""

    def __init__(self, pool: _ProcessRunner, loop: asyncio.AbstractEventLoop) -> None:
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
        assert self._stdin is not None
        call = self._call = self._loop.create_future()
        self._request_id = request_id
        self._stdin.write(frame)
        self._timer = self._loop.call_later(timeout, self._on_timeout)
        return call

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


class _ProcessRunner:
    """A pool of worker processes, one invocation per worker, like Lambda's environments."""

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

    async def start(self) -> None:
        """Nothing to do: workers start when calls need them."""
        self._closed = False

    async def invoke(self, request: IntegrationRequest) -> IntegrationResult:
        """Run one invocation on a free worker (see :class:`FunctionIntegration`)."""
        if self._closed:
            raise IntegrationUnavailable(self.name, "the function is stopped")
        frame = encode_frame(INVOKE, dump_json([request.request_id, request.event]))
        try:
            async with asyncio.timeout(request.timeout_ms / 1000):
                worker = self._idle.pop() if self._idle else await self._acquire()
                kind, body = await worker.send(request.request_id, frame, self.timeout)
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
            worker = _Worker(self, loop)
            self._workers.add(worker)
            self._processes.add(worker)
            self._starting += 1
            task = loop.create_task(self._boot(worker), name=f"wsgate-worker-{self.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _boot(self, worker: _Worker) -> None:
        error: Exception | None = None
        try:
            info, environment = self._sandbox()
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
            worker.start(
                encode_frame(INIT, dump_json({**init, "task_root": self._config.code_uri}))
            )
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
            info, self._config, region=self._region, base=os.environ, runtime_dir=_RUNTIME_DIR
        )
        # The worker must import this very wsgate, even when it is not installed (a checkout).
        path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = f"{path}{os.pathsep}{_PACKAGE_ROOT}" if path else _PACKAGE_ROOT
        return info, environment


class _HandlerThreads:
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

    def submit(self, loop: asyncio.AbstractEventLoop, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` on a thread; returns an asyncio future of its result."""
        future = loop.create_future()
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
                    _settle(loop, future, _set_exception, exc)
                else:
                    _settle(loop, future, _set_result, result)
            self._idle.release()


def _settle(loop: asyncio.AbstractEventLoop, future: Any, setter: Any, value: Any) -> None:
    try:
        loop.call_soon_threadsafe(setter, future, value)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class _InProcessRunner:
    """The handler imported into the gateway; see :class:`FunctionIntegration`."""

    def __init__(
        self, name: str, function_name: str, config: FunctionConfig, *, region: str, account_id: str
    ) -> None:
        self.name = name
        self._config = config
        self._timeout = config.timeout
        self._root = os.path.realpath(config.code_uri)
        self._info = build_function_info(
            function_name,
            config,
            region=region,
            account_id=account_id,
            log_stream_name=build_log_stream_name(datetime.now(UTC), uuid.uuid4().hex),
        )
        self._handler: Handler | None = None
        self._is_async = False
        self._init_error: FunctionError | None = None
        self._threads = _HandlerThreads(config.concurrency, f"wsgate-{name}")
        self._slots = asyncio.Semaphore(config.concurrency)
        self._pending: set[asyncio.Future[Any]] = set()
        self._closed = False

    async def start(self) -> None:
        """Apply the function's variables where unset, put its code on sys.path, import it."""
        self._closed = False
        for key, value in self._config.environment.items():
            os.environ.setdefault(key, value)
        if self._config.code_uri not in sys.path:
            sys.path.insert(0, self._config.code_uri)
        self._load()

    async def invoke(self, request: IntegrationRequest) -> IntegrationResult:
        """Run the handler once under both timeouts (see :class:`FunctionIntegration`)."""
        if self._closed:
            raise IntegrationUnavailable(self.name, "the function is stopped")
        handler = self._handler or self._retry_load()
        function_limit = self._timeout
        integration_limit = request.timeout_ms / 1000
        context = LambdaContext(self._info, request.request_id, time.monotonic() + function_limit)
        try:
            async with asyncio.timeout(min(function_limit, integration_limit)):
                if self._is_async:
                    async with self._slots:
                        result = await self._call_async(handler, request.event, context)
                else:
                    result = await self._call_threaded(handler, request.event, context)
        except TimeoutError as exc:
            if function_limit <= integration_limit:
                message = timeout_error_message(
                    datetime.now(UTC), request.request_id, self._timeout
                )
                raise FunctionError(self.name, TIMEOUT_ERROR, message) from exc
            reason = f"no answer within {request.timeout_ms} ms"
            raise IntegrationTimeout(self.name, reason) from exc
        return IntegrationResult(result)

    def reload(self) -> None:
        """Drop the function's modules from sys.modules and import the handler afresh."""
        for module_name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if path and _is_user_code(os.path.realpath(path), self._root):
                del sys.modules[module_name]
        importlib.invalidate_caches()
        self._load()

    async def stop(self) -> None:
        """Fail calls waiting on handler threads and let the threads go."""
        self._closed = True
        for future in self._pending:
            if not future.done():
                future.set_exception(IntegrationUnavailable(self.name, "the function stopped"))
        self._pending.clear()
        self._threads.shutdown()

    async def _call_async(self, handler: Handler, event: Any, context: LambdaContext) -> Any:
        try:
            result = await handler(event, context)
        except (Exception, SystemExit) as exc:
            raise self._error(exc, context.aws_request_id) from exc
        return self._marshal(result)

    async def _await_result(self, awaitable: Any, context: LambdaContext) -> Any:
        try:
            result = await awaitable
        except (Exception, SystemExit) as exc:
            raise self._error(exc, context.aws_request_id) from exc
        return self._marshal(result)

    async def _call_threaded(self, handler: Handler, event: Any, context: LambdaContext) -> Any:
        future = self._threads.submit(
            asyncio.get_running_loop(), self._call_sync, handler, event, context
        )
        self._pending.add(future)
        try:
            result = await future
        finally:
            self._pending.discard(future)
        if inspect.isawaitable(result):  # a sync def that returned a coroutine
            result = await self._await_result(result, context)
        return result

    def _call_sync(self, handler: Handler, event: Any, context: LambdaContext) -> Any:
        # Runs on a handler thread: the traceback and JSON work stay off the loop too.
        try:
            result = handler(event, context)
        except (Exception, SystemExit) as exc:
            raise self._error(exc, context.aws_request_id) from exc
        return result if inspect.isawaitable(result) else self._marshal(result)

    def _error(self, exc: BaseException, request_id: str) -> FunctionError:
        if isinstance(exc, SystemExit):
            # In Lambda sys.exit() ends the runtime; here it must not end the gateway.
            code = exc.code if isinstance(exc.code, int) else 1
            return FunctionError(self.name, EXIT_ERROR, exit_error_message(request_id, code))
        return function_error(self.name, exception_payload(exc, request_id))

    def _marshal(self, value: Any) -> Any:
        # Round-trip through JSON: the gateway gets plain JSON values, and a result Lambda could
        # not return fails here as it would there.
        if value is None:
            return None
        try:
            return load_json(dump_json(value))
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            raise FunctionError(self.name, MARSHAL_ERROR, message) from exc

    def _load(self) -> None:
        try:
            handler = load_handler(self._config.handler)
        except Exception as exc:
            self._handler = None
            self._init_error = function_error(self.name, exception_payload(exc))
            logger.warning("function %s failed to load: %s", self.name, self._init_error)
            return
        self._handler, self._is_async, self._init_error = handler, _is_async(handler), None
        path = getattr(sys.modules.get(handler.__module__), "__file__", None)
        if path and not os.path.realpath(path).startswith(self._root + os.sep):
            # Two in-process functions whose modules share a name (app.py) share one module.
            logger.warning(
                "function %s: handler module %s is not under %s", self.name, path, self._root
            )

    def _retry_load(self) -> Handler:
        # Like Lambda: the first call reports the failed init, the next one tries again.
        if self._init_error is None:
            importlib.invalidate_caches()
            self._load()
        if self._handler is not None:
            return self._handler
        error, self._init_error = self._init_error, None
        raise error or IntegrationUnavailable(self.name, "the handler could not be loaded")


def _is_async(handler: Handler) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an instance with an async __call__
    )


_NOT_USER_CODE = tuple(
    os.path.realpath(path) + os.sep
    for path in {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(_RUNTIME_DIR)}
)


def _is_user_code(path: str, root: str) -> bool:
    """True for a module file of the function: under its root, not a library or wsgate."""
    if not path.startswith(root + os.sep):
        return False
    return "site-packages" not in path and not path.startswith(_NOT_USER_CODE)
