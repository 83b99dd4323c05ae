"""One Lambda execution environment: the child process behind a process-isolated function.

Started by :mod:`wsgate.integrations.process_pool` as ``python -m wsgate.integrations.worker``. It
talks to the gateway over its stdin and stdout with frames of a 4-byte big-endian body length,
a 1-byte kind and a JSON body::

    gateway -> worker   INIT    {"info": FunctionInfo, "handler": "mod.fn", "task_root": dir}
                        INVOKE  [request_id, event, deadline]
    worker -> gateway   READY   (empty)   the cold start (module import) was attempted
                        RESULT  the handler's return value
                        ERROR   Lambda's error document
                        SKIPPED (empty)   the INVOKE waited past its deadline and did not run

One invocation runs at a time, as in Lambda, and every INVOKE gets one answer, in order. The
gateway may send several INVOKEs at once; the worker reads them together and runs them one after
the other. ``deadline`` is a ``time.monotonic()`` reading (the clock is the machine's, shared by
every process): an INVOKE read after it is skipped, as the gateway no longer waits for it. Each
answer is written as soon as it is ready, so the gateway always knows which invocation runs.

The worker exits when its stdin closes. Handler code may print freely: the protocol pipes are
moved to private descriptors at start and descriptor 1 is pointed at stderr, which the gateway
shares.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from wsgate.integrations.callback import REDIRECTS_VARIABLE, decode_redirects, install_redirects
from wsgate.integrations.lambda_context import (
    HANDLER_NOT_FOUND,
    IMPORT_MODULE_ERROR,
    MARSHAL_ERROR,
    USER_CODE_SYNTAX_ERROR,
    ErrorPayload,
    FunctionInfo,
    LambdaContext,
    dump_json,
    is_awaitable,
    load_json,
    make_error_payload,
)

__all__ = [
    "ERROR",
    "FRAME_HEADER",
    "INIT",
    "INVOKE",
    "READY",
    "RESULT",
    "SKIPPED",
    "HandlerFault",
    "encode_frame",
    "exception_payload",
    "load_handler",
    "main",
    "marshal_result",
]

FRAME_HEADER = struct.Struct(">IB")
INIT, INVOKE, READY, RESULT, ERROR, SKIPPED = 1, 2, 3, 4, 5, 6
_READ_SIZE = 1 << 16

Handler = Callable[[Any, LambdaContext], Any]
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


# Not in errors.py's tree: it lives and dies in the worker process; the gateway sees its payload.
class HandlerFault(Exception):
    """The runtime itself refuses the handler (Lambda's ``FaultException``)."""

    def __init__(self, payload: ErrorPayload) -> None:
        self.payload = payload
        super().__init__(f"{payload['errorType']}: {payload['errorMessage']}")


def encode_frame(kind: int, body: bytes) -> bytes:
    """One protocol frame."""
    return FRAME_HEADER.pack(len(body), kind) + body


def load_handler(handler: str) -> Handler:
    """Import ``module.function`` as Lambda's Python runtime does, with its error types.

    Raises:
        HandlerFault: the module cannot be imported or has no such function.
        Exception: whatever the module's own top-level code raised.
    """
    module_name, _, function_name = handler.rpartition(".")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise HandlerFault(make_error_payload(IMPORT_MODULE_ERROR, message)) from exc
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise HandlerFault(make_error_payload(USER_CODE_SYNTAX_ERROR, message, trace)) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise HandlerFault(make_error_payload(HANDLER_NOT_FOUND, message))
    return function  # type: ignore[no-any-return]


def exception_payload(exc: BaseException, request_id: str = "") -> ErrorPayload:
    """Lambda's error document for an exception raised by user code."""
    if isinstance(exc, HandlerFault):
        return {**exc.payload, "requestId": request_id}
    frames = traceback.extract_tb(exc.__traceback__)
    # Like awslambdaric, start the trace at the first frame of user code, not the runtime's.
    while len(frames) > 1 and os.path.dirname(frames[0].filename) == _RUNTIME_DIR:
        del frames[0]
    return make_error_payload(
        type(exc).__name__, str(exc), traceback.format_list(frames), request_id
    )


def marshal_result(value: object, request_id: str = "") -> tuple[int, bytes]:
    """The frame kind and body answering one invocation that returned ``value``."""
    try:
        return RESULT, dump_json(value)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        return ERROR, dump_json(make_error_payload(MARSHAL_ERROR, message, (), request_id))


class _Runtime:
    """The handler, its cold start, and the loop async handlers run on."""

    def __init__(self, info: FunctionInfo, handler: str) -> None:
        self._info = info
        self._handler_name = handler
        self._handler: Handler | None = None
        self._init_error: ErrorPayload | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def cold_start(self) -> None:
        """Import the handler; a failure is kept for the next invocation to report."""
        try:
            self._handler = load_handler(self._handler_name)
            self._init_error = None
        except Exception as exc:
            self._init_error = exception_payload(exc)
            _log_error(self._init_error)

    def invoke(self, request_id: str, event: object) -> tuple[int, bytes]:
        """Run the handler once; never raises for anything the handler does short of exiting."""
        _RequestIdFilter.request_id = request_id
        if self._handler is None:
            # Lambda reports a failed init to the invocation that triggered it, then retries
            # the init on the next one.
            if self._init_error is None:
                importlib.invalidate_caches()
                self.cold_start()
            if self._handler is None:
                failure, self._init_error = self._init_error, None
                assert failure is not None  # cold_start sets one or the other
                return ERROR, dump_json({**failure, "requestId": request_id})
        context = LambdaContext(self._info, request_id, time.monotonic() + self._info.timeout)
        try:
            result = self._handler(event, context)
            if is_awaitable(result):
                result = self._run(result)
        except Exception as exc:
            error = exception_payload(exc, request_id)
            _log_error(error)
            return ERROR, dump_json(error)
        return marshal_result(result, request_id)

    def _run(self, awaitable: Any) -> Any:
        # One loop for the worker's life: clients cached at module level stay bound to it.
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        return self._loop.run_until_complete(awaitable)


class _RequestIdFilter(logging.Filter):
    """Adds ``aws_request_id`` to log records, as Lambda's root handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _setup_logging() -> None:
    # Lambda's root logger has a handler, so logging.getLogger().setLevel(INFO) is enough for
    # handler code to be heard; reproduce it with Lambda's text format.
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def _log_error(error: ErrorPayload) -> None:
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in error["stackTrace"])
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def _claim_protocol_pipes() -> tuple[int, IO[bytes]]:
    """Move the protocol pipes off descriptors 0 and 1 so user code cannot corrupt them."""
    inbound, outbound = os.dup(0), os.dup(1)  # dup'ed descriptors are not inherited
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return inbound, open(outbound, "wb")


def _die_with_parent() -> None:
    # stdin EOF ends an idle worker, but one stuck in a handler must die with the gateway too.
    if sys.platform != "linux":
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _FrameReader:
    """Reads frames off a descriptor, taking whatever the pipe holds in each read."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._start = 0  # where the next frame begins in the buffer

    def next(self) -> tuple[int, bytes] | None:
        """The next frame; None at end of input (or a frame cut short by it)."""
        buffer = self._buffer
        while True:
            start = self._start
            held = len(buffer) - start
            if held >= FRAME_HEADER.size:
                length, kind = FRAME_HEADER.unpack_from(buffer, start)
                end = start + FRAME_HEADER.size + length
                if end <= len(buffer):
                    self._start = end
                    return kind, bytes(buffer[start + FRAME_HEADER.size : end])
                wanted = end - len(buffer)
            else:
                wanted = FRAME_HEADER.size - held
            if start:
                del buffer[:start]
                self._start = 0
            chunk = os.read(self._fd, max(_READ_SIZE, wanted))
            if not chunk:
                return None
            buffer += chunk


def main() -> None:
    """Serve invocations until the gateway closes stdin."""
    inbound, outbound = _claim_protocol_pipes()
    _die_with_parent()
    _setup_logging()
    # Before the handler's module runs: clients it makes at import time call back too.
    install_redirects(decode_redirects(os.environ.get(REDIRECTS_VARIABLE)))
    frames = _FrameReader(inbound)
    frame = frames.next()
    if frame is None or frame[0] != INIT:
        return
    init = load_json(frame[1])
    task_root = init["task_root"]
    os.chdir(task_root)
    sys.path[:] = [task_root, *(entry for entry in sys.path if entry not in ("", task_root))]
    # Lambda's task root is read-only; skipping .pyc files also keeps quick edits visible.
    sys.dont_write_bytecode = True
    runtime = _Runtime(FunctionInfo.from_dict(init["info"]), init["handler"])
    runtime.cold_start()
    outbound.write(encode_frame(READY, b""))
    outbound.flush()
    while (frame := frames.next()) is not None:
        request_id, event, deadline = load_json(frame[1])
        if time.monotonic() > deadline:
            kind, body = SKIPPED, b""
        else:
            kind, body = runtime.invoke(request_id, event)
            sys.stdout.flush()
        outbound.write(encode_frame(kind, body))
        outbound.flush()


if __name__ == "__main__":
    main()
