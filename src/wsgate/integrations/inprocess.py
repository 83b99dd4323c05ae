"""In-process isolation: the handler imported into the gateway and run on its loop or threads.

See :mod:`wsgate.integrations.function` for what this mode shares with the gateway.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import inspect
import logging
import os
import queue
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wsgate.eager import Pending, run_first_step
from wsgate.errors import FunctionError, IntegrationTimeout, IntegrationUnavailable
from wsgate.integrations.base import IntegrationRequest, IntegrationResult
from wsgate.integrations.lambda_context import (
    EXIT_ERROR,
    MARSHAL_ERROR,
    TIMEOUT_ERROR,
    LambdaContext,
    build_function_info,
    build_log_stream_name,
    dump_json,
    exit_error_message,
    function_error,
    load_json,
    timeout_error_message,
)
from wsgate.integrations.worker import Handler, exception_payload, load_handler

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["InProcessRunner"]

logger = logging.getLogger(__name__)

# The wsgate package itself: never the function's code, even when it sits under code_uri.
_WSGATE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


class InProcessRunner:
    """The handler imported into the gateway; see :mod:`wsgate.integrations.function`."""

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
        self._concurrency = config.concurrency
        self._running = 0  # async handler calls in flight
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
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
        """Run the handler once under both timeouts (see :mod:`wsgate.integrations.function`)."""
        if self._closed:
            raise IntegrationUnavailable(self.name, "the function is stopped")
        handler = self._handler or self._retry_load()
        function_limit = self._timeout
        limit = min(function_limit, request.timeout_ms / 1000)
        now = time.monotonic()
        deadline = now + limit
        context = LambdaContext(self._info, request.invocation_id, now + function_limit)
        try:
            if not self._is_async:
                async with asyncio.timeout(limit):
                    return IntegrationResult(
                        await self._call_threaded(handler, request.event, context)
                    )
            if self._running >= self._concurrency:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    await self._wait_for_slot()
            self._running += 1
            try:
                # Most handlers answer without waiting: their first step is the whole call, and
                # they pay for no timer and no extra coroutine.
                try:
                    finished, result = run_first_step(handler(request.event, context))
                except (Exception, SystemExit) as exc:
                    raise self._error(exc, context.aws_request_id) from exc
                if not finished:
                    assert isinstance(result, Pending)
                    result = await self._finish_async(result, context, deadline)
                return IntegrationResult(self._marshal(result))
            finally:
                self._release_slot()
        except TimeoutError as exc:
            raise self._timeout_error(request, context) from exc

    def _timeout_error(self, request: IntegrationRequest, context: LambdaContext) -> Exception:
        if self._timeout <= request.timeout_ms / 1000:
            now = datetime.now(UTC)
            message = timeout_error_message(now, context.aws_request_id, self._timeout)
            return FunctionError(self.name, TIMEOUT_ERROR, message)
        return IntegrationTimeout(self.name, f"no answer within {request.timeout_ms} ms")

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

    async def _finish_async(self, pending: Pending, context: LambdaContext, deadline: float) -> Any:
        """Finish a handler that had to wait, under the timeout."""
        # Our timeout cancels the handler; CancelledError passes the except below and the
        # context manager turns it into TimeoutError. A handler's own errors become Lambda's.
        async with asyncio.timeout_at(_loop_time(deadline)):
            try:
                return await pending.resume()
            except (Exception, SystemExit) as exc:
                raise self._error(exc, context.aws_request_id) from exc

    def _release_slot(self) -> None:
        self._running -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def _wait_for_slot(self) -> None:
        # Calls past the concurrency cap wait their turn, first come first served.
        while self._running >= self._concurrency:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

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
        if value is None or _is_plain(value):
            return value
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
    for path in {sys.prefix, sys.base_prefix, sys.exec_prefix, _WSGATE_DIR}
)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_plain(value: Any) -> bool:
    """True for the usual answer, a flat object of JSON scalars, which needs no round trip."""
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if type(key) is not str or type(item) not in _SCALARS:
            return False
    return True


def _loop_time(monotonic_deadline: float) -> float:
    """Convert a time.monotonic() deadline to the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


def _is_user_code(path: str, root: str) -> bool:
    """True for a module file of the function: under its root, not a library or wsgate."""
    if not path.startswith(root + os.sep):
        return False
    return "site-packages" not in path and not path.startswith(_NOT_USER_CODE)
