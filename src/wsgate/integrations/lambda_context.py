"""What a local function sees of Lambda: its context object, environment and error shapes.

Everything here is pure: clocks, ids and the parent environment arrive as arguments, so the
worker process, the in-process runner and the unit tests share one definition of Lambda's
contract. The names and messages follow the Python runtime interface client
(``awslambdaric``), which is what real handlers run under.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypedDict

from wsgate.errors import FunctionError
from wsgate.types import JSONValue

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

try:  # orjson is a fast path only; stdlib json decides what is valid (as Lambda's runtime does)
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "EXIT_ERROR",
    "FUNCTION_VERSION",
    "HANDLER_NOT_FOUND",
    "IMPORT_MODULE_ERROR",
    "MARSHAL_ERROR",
    "TIMEOUT_ERROR",
    "USER_CODE_SYNTAX_ERROR",
    "ErrorPayload",
    "FunctionInfo",
    "LambdaContext",
    "build_environment",
    "build_function_info",
    "build_log_stream_name",
    "dump_json",
    "exit_error_message",
    "function_error",
    "is_awaitable",
    "load_json",
    "make_error_payload",
    "new_invocation_id",
    "timeout_error_message",
]

FUNCTION_VERSION = "$LATEST"
# errorType values Lambda itself reports (awslambdaric's FaultException and the sandbox).
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
MARSHAL_ERROR = "Runtime.MarshalError"
EXIT_ERROR = "Runtime.ExitError"
TIMEOUT_ERROR = "Sandbox.Timedout"
# Lambda's runtime is a Go process; it names fatal signals the way Go's syscall package does.
_SIGNAL_NAMES = {
    4: "illegal instruction",
    6: "aborted",
    7: "bus error",
    8: "floating point exception",
    9: "killed",
    11: "segmentation fault",
    15: "terminated",
}


class ErrorPayload(TypedDict):
    """Lambda's error document, as the Invoke API returns it for an unhandled error."""

    errorMessage: str
    errorType: str
    requestId: str
    stackTrace: list[str]


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """The per-sandbox facts a context carries; sent once to each worker at start."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    log_group_name: str
    log_stream_name: str
    timeout: float
    function_version: str = FUNCTION_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the parent sends to a worker."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunctionInfo:
        """Rebuild the info from :meth:`to_dict`'s output (unknown keys are ignored)."""
        return cls(**{field.name: data[field.name] for field in fields(cls) if field.name in data})


class LambdaContext:
    """The ``context`` argument of a handler, with the attributes of Lambda's Python runtime.

    ``deadline`` is a reading of ``clock`` (``time.monotonic`` by default) at which the
    function's own timeout expires; ``get_remaining_time_in_millis`` counts down to it.
    """

    __slots__ = (
        "_aws_request_id",
        "_clock",
        "_deadline",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
    )

    def __init__(
        self,
        info: FunctionInfo,
        aws_request_id: str | None,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # None: drawn when first read (most handlers never read it, and the data plane's
        # fast path should not pay for a UUID per message).
        self._aws_request_id = aws_request_id
        self.function_name = info.function_name
        self.function_version = info.function_version
        self.invoked_function_arn = info.invoked_function_arn
        self.memory_limit_in_mb = info.memory_limit_in_mb
        self.log_group_name = info.log_group_name
        self.log_stream_name = info.log_stream_name
        # API Gateway invokes without a Cognito identity or mobile client context.
        self.identity: object = None
        self.client_context: object = None
        self.tenant_id: str | None = None
        self._deadline = deadline
        self._clock = clock

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        aws_request_id: str,
        now: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> LambdaContext:
        """Build a context from a :meth:`FunctionInfo.to_dict` mapping, started at ``now``."""
        info = FunctionInfo.from_dict(data)
        return cls(info, aws_request_id, now + info.timeout, clock)

    @property
    def aws_request_id(self) -> str:
        """Lambda's id for this invocation: a random UUID of its own."""
        if self._aws_request_id is None:
            self._aws_request_id = new_invocation_id()
        return self._aws_request_id

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda would stop this invocation (never negative)."""
        remaining = int((self._deadline - self._clock()) * 1000)
        return remaining if remaining > 0 else 0

    def log(self, message: object) -> None:
        """Write to the function's log, as ``context.log`` does in Lambda (stdout)."""
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r}, "
            f"invoked_function_arn={self.invoked_function_arn!r})"
        )


def new_invocation_id() -> str:
    """A fresh random UUID (version 4): Lambda's ``aws_request_id`` for one invocation.

    Lambda gives every invocation an id of its own, unrelated to API Gateway's
    ``requestContext.requestId``. Drawn in batches: one system call per 256 invocations.
    """
    if not _spare_invocation_ids:
        _spare_invocation_ids.extend(_format_uuids(os.urandom(16 * _UUID_BATCH).hex()))
    return _spare_invocation_ids.pop()


def _format_uuids(digits: str) -> list[str]:
    # RFC 9562 version 4: the version nibble is 4, the variant's top bits are 10.
    return [
        f"{d[:8]}-{d[8:12]}-4{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:32]}"
        for d in (digits[i : i + 32] for i in range(0, len(digits), 32))
    ]


_UUID_BATCH = 256
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_spare_invocation_ids: list[str] = []


def build_log_stream_name(now: datetime, instance_id: str) -> str:
    """Lambda's log stream name for one execution environment: ``YYYY/MM/DD/[$LATEST]hex``."""
    return f"{now:%Y/%m/%d}/[{FUNCTION_VERSION}]{instance_id}"


def build_function_info(
    function_name: str,
    config: FunctionConfig,
    *,
    region: str,
    account_id: str,
    log_stream_name: str,
) -> FunctionInfo:
    """The facts one sandbox of ``function_name`` exposes through its context."""
    return FunctionInfo(
        function_name=function_name,
        invoked_function_arn=f"arn:aws:lambda:{region}:{account_id}:function:{function_name}",
        memory_limit_in_mb=config.memory_size,
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name=log_stream_name,
        timeout=config.timeout,
    )


def build_environment(
    info: FunctionInfo,
    config: FunctionConfig,
    *,
    region: str,
    base: Mapping[str, str],
    runtime_dir: str,
    python_version: Sequence[int] = sys.version_info[:2],
) -> dict[str, str]:
    """The environment of one sandbox: ``base``, the function's variables, then Lambda's own.

    Lambda's reserved variables win over both, as Lambda refuses to let a function set them;
    credentials are the exception: dummy ones are added only when none are set, so boto3
    clients can sign requests to the local gateway while real ones pass through.
    ``AWS_EXECUTION_ENV`` names the function's runtime (``AWS_Lambda_nodejs20.x``), the local
    Python for Python functions, and is absent for custom runtimes, as in Lambda.
    """
    environment = dict(base)
    environment.update(config.environment)
    environment.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": info.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": info.function_version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info.memory_limit_in_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": info.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": info.log_stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": config.code_uri,
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "TZ": ":UTC",
            "_HANDLER": config.handler,
        }
    )
    if config.family == "python":
        environment["AWS_EXECUTION_ENV"] = "AWS_Lambda_python{}.{}".format(*python_version[:2])
    elif config.family == "nodejs":
        environment["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{config.runtime}"
    else:
        environment.pop("AWS_EXECUTION_ENV", None)
    environment.setdefault("AWS_ACCESS_KEY_ID", "wsgate")
    environment.setdefault("AWS_SECRET_ACCESS_KEY", "wsgate")
    return environment


def make_error_payload(
    error_type: str,
    error_message: str,
    stack: Sequence[str] = (),
    request_id: str = "",
) -> ErrorPayload:
    """Lambda's error document (``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``)."""
    return {
        "errorMessage": error_message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": list(stack),
    }


def function_error(integration: str, payload: Mapping[str, Any]) -> FunctionError:
    """Turn an error document (possibly malformed: it crossed a process boundary) into an error."""
    stack = payload.get("stackTrace")
    return FunctionError(
        integration,
        error_type=str(payload.get("errorType") or "Unhandled"),
        error_message=str(payload.get("errorMessage") or ""),
        stack=[str(line) for line in stack] if isinstance(stack, list) else None,
    )


def timeout_error_message(now: datetime, request_id: str, timeout: float) -> str:
    """Lambda's message for an invocation stopped at the function's timeout."""
    stamp = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
    return f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds"


def exit_error_message(request_id: str | None, returncode: int | None) -> str:
    """Lambda's message for a runtime process that died (``request_id`` None: during init)."""
    if returncode is None:
        reason = "exit status unknown"
    elif returncode >= 0:
        reason = f"exit status {returncode}"
    else:
        reason = "signal: " + _SIGNAL_NAMES.get(-returncode, f"signal {-returncode}")
    prefix = f"RequestId: {request_id} " if request_id is not None else ""
    return f"{prefix}Error: Runtime exited with error: {reason}"


def _encode_default(value: object) -> object:
    # Lambda's marshaller writes Decimal as a number (DynamoDB hands them out); all else fails.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ORJSON_OPTIONS = (
    # Without these orjson would accept datetimes and dataclasses that Lambda rejects.
    _orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS if _orjson else 0
)


# What handlers return, none of them awaitable: inspect.isawaitable checks an ABC (slowly).
_NEVER_AWAITABLE: Final = frozenset({dict, list, str, int, float, bool, type(None)})


def is_awaitable(value: object) -> bool:
    """``inspect.isawaitable``, answered at once for a handler's usual answer (a dict)."""
    return type(value) not in _NEVER_AWAITABLE and inspect.isawaitable(value)


def dump_json(value: JSONValue) -> bytes:
    """Serialise a handler's result as Lambda would accept it.

    Raises:
        TypeError, ValueError: the value is not JSON-serialisable (Lambda's MarshalError);
            the message is stdlib json's, as in Lambda.
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(value, default=_encode_default, option=_ORJSON_OPTIONS)
        except TypeError:
            pass  # non-str keys, huge ints or a bad type: stdlib json decides and words it
    return json.dumps(
        value, default=_encode_default, allow_nan=False, separators=(",", ":")
    ).encode()


def load_json(data: bytes) -> JSONValue:
    """Parse JSON produced by :func:`dump_json` (or by the gateway).

    Raises:
        ValueError: the data is not valid JSON.
    """
    return _orjson.loads(data) if _orjson is not None else json.loads(data)
