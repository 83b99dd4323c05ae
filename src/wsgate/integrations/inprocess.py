"""In-process isolation: the handler imported into the gateway and run on its loop or threads.

See :mod:`wsgate.integrations.function` for what this mode shares with the gateway.

A sync handler starts on handler threads, so that one doing blocking I/O never holds up the
loop. Once a route's calls have shown that they return at once without waiting
(``PROBATION`` calls in a row, each under ``QUICK`` and off the CPU for at most ``WAITED``
of it), that route's calls run on the loop itself, one at a time, as an async handler's first
step does: a thread hop costs more than such a call. They do not while one of the route's calls
has been on a thread for longer than a quick call (it may be one that blocks, not judged yet).
The loop counts as one more call running: a call for it waits while ``concurrency`` calls are
on threads, so the cap holds. A call on the loop that takes longer than ``BLOCKED`` sends the
route back to threads, and the route must then show ``BACKOFF`` times as many quick calls to
return. What this cannot help: a route that has shown itself quick and then blocks holds the
loop up once.

A function whose calls reach for the network never runs on the loop: a network call there holds
every connection up, and one to this gateway (a handler posting to ``@connections``) would wait
for the loop it holds. Sockets are watched through Python's audit events while a handler runs.
A call on the loop that reaches for the network gets an exception at that point; its function
is moved to threads for good and the call is made again there, from the start (what it did
before its first network call is done twice).
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import inspect
import logging
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wsgate.eager import Detached, Pending, expire_later, run_first_step
from wsgate.errors import FunctionError, IntegrationTimeout, IntegrationUnavailable
from wsgate.integrations.base import IntegrationRequest, IntegrationResult, answered
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
    is_awaitable,
    load_json,
    timeout_error_message,
)
from wsgate.integrations.sync_calls import (
    BLOCKED,
    HandlerThreads,
    Placement,
    RunOnThread,
    Watch,
    current_call,
    watch_the_network,
)
from wsgate.integrations.worker import Handler, exception_payload, load_handler

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["InProcessRunner"]

logger = logging.getLogger(__name__)

# The wsgate package itself: never the function's code, even when it sits under code_uri.
_WSGATE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
        self._threads = HandlerThreads(config.concurrency, f"wsgate-{name}")
        self._concurrency = config.concurrency
        self._running = 0  # async handler calls in flight
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._pending: set[asyncio.Future[Any]] = set()
        self._placements: dict[str | None, Placement] = {}
        # Sync calls sent to threads and not back yet, and calls for the loop that wait for
        # them to be fewer than ``concurrency``: a call on the loop is one more running.
        self._thread_calls = 0
        self._thread_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._networked = False  # a call reached for the network: never on the loop
        self._closed = False

    async def start(self) -> None:
        """Apply the function's variables where unset, put its code on sys.path, import it."""
        self._closed = False
        watch_the_network()
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
                placement = self._placement(request.event)
                if placement.inline and self._thread_calls >= self._concurrency:
                    await self._wait_for_threads(deadline)  # the cap holds, the loop included
                    now = time.monotonic()
                # Not while a call of the same route, not judged yet, is slow on a thread.
                if (
                    placement.inline
                    and not self._networked
                    and not (placement.threaded and placement.slow_on_thread(now))
                ):
                    try:
                        result = self._call_inline(handler, request.event, context, placement, now)
                    except RunOnThread:
                        pass  # made again below, on a thread
                    else:
                        if is_awaitable(result):  # a sync def that returned a coroutine
                            result = await self._finish_awaitable(result, context, deadline)
                        return answered(result)
                placement.threaded += 1
                self._thread_calls += 1
                try:
                    return answered(
                        await self._call_threaded(
                            handler, request.event, context, placement, deadline
                        )
                    )
                finally:
                    placement.threaded -= 1
                    self._thread_calls -= 1
                    if self._thread_waiters:
                        self._wake_thread_waiters()
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
                return answered(result if _is_plain(result) else self._marshal(result))
            finally:
                self._running -= 1
                if self._waiters:
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
        self._placements.clear()  # new code proves itself again
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
        """Wake the first call still waiting for a slot."""
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

    async def _wait_for_threads(self, deadline: float) -> None:
        """Wait until fewer than ``concurrency`` calls are on threads (or queued for them)."""
        loop = asyncio.get_running_loop()
        while self._thread_calls >= self._concurrency:
            waiter = Detached(loop=loop)  # woken on the loop, it goes on without a task
            expiry = expire_later(loop, deadline - time.monotonic(), waiter)
            self._thread_waiters.append(waiter)
            self._pending.add(waiter)
            try:
                await waiter
            finally:
                self._pending.discard(waiter)
                expiry.cancel()

    def _wake_thread_waiters(self) -> None:
        # Calls on the loop run one at a time and leave the thread count as it is: all go.
        if self._thread_calls < self._concurrency:
            waiters, self._thread_waiters = self._thread_waiters, collections.deque()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _placement(self, event: Any) -> Placement:
        try:
            route_key = event["requestContext"]["routeKey"]
        except (KeyError, TypeError):
            route_key = None  # an event of another kind (an authorizer's): one placement
        placement = self._placements.get(route_key)
        if placement is None:
            placement = self._placements[route_key] = Placement()
        return placement

    def _call_inline(
        self,
        handler: Handler,
        event: Any,
        context: LambdaContext,
        placement: Placement,
        started: float,
    ) -> Any:
        """Run a sync handler on the loop, for a route whose calls have returned at once.

        Raises:
            RunOnThread: the handler reached for the network (whatever it then did with the
                exception it got): the call is to be made again on a thread.
        """
        watch = current_call.watch = Watch(inline=True)
        error: BaseException | None = None
        try:
            result = handler(event, context)
        except (Exception, SystemExit) as exc:
            error = exc
        finally:
            current_call.watch = None
            took = time.monotonic() - started
            if took > BLOCKED:
                placement.demote()
                logger.warning(
                    "function %s held the event loop for %.0f ms; its calls on this route run "
                    "on threads again",
                    self.name,
                    took * 1000,
                )
        if watch.networked:
            self._networked = True
            logger.warning(
                "function %s reached for the network on the event loop; its calls run on "
                "threads from now on, and this one is made again there",
                self.name,
            )
            raise RunOnThread
        if error is not None:
            raise self._error(error, context.aws_request_id) from error
        return result if is_awaitable(result) else self._marshal(result)

    async def _call_threaded(
        self,
        handler: Handler,
        event: Any,
        context: LambdaContext,
        placement: Placement,
        deadline: float,
    ) -> Any:
        loop = asyncio.get_running_loop()
        future = self._threads.submit(loop, self._call_sync, handler, event, context, placement)
        # The future is detached and the timeout a timer: no task per call (wsgate.eager).
        expiry = expire_later(loop, deadline - time.monotonic(), future)
        self._pending.add(future)
        try:
            result = await future
        finally:
            self._pending.discard(future)
            expiry.cancel()
        if is_awaitable(result):  # a sync def that returned a coroutine
            result = await self._finish_awaitable(result, context, deadline)
        return result

    async def _finish_awaitable(
        self, awaitable: Any, context: LambdaContext, deadline: float
    ) -> Any:
        """Await what a sync handler returned under the timeout, in a task of its own: the
        caller may be going on without one (a detached wait)."""
        return await asyncio.ensure_future(self._await_in_time(awaitable, context, deadline))

    async def _await_in_time(self, awaitable: Any, context: LambdaContext, deadline: float) -> Any:
        async with asyncio.timeout_at(_loop_time(deadline)):
            return await self._await_result(awaitable, context)

    def _call_sync(
        self, handler: Handler, event: Any, context: LambdaContext, placement: Placement
    ) -> Any:
        # Runs on a handler thread: the traceback and JSON work stay off the loop too.
        thread = threading.get_ident()
        wall, cpu = time.monotonic(), time.thread_time()
        placement.running[thread] = wall
        watch = current_call.watch = Watch(inline=False)
        try:
            result = handler(event, context)
        except (Exception, SystemExit) as exc:
            raise self._error(exc, context.aws_request_id) from exc
        finally:
            current_call.watch = None
            if watch.networked:
                self._networked = True
            del placement.running[thread]
            placement.observe(time.monotonic() - wall, time.thread_time() - cpu)
        return result if is_awaitable(result) else self._marshal(result)

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
