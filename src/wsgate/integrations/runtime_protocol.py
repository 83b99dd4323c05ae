"""Lambda's Runtime API (version 2018-06-01), the part that needs no socket.

A runtime process (a ``provided`` bootstrap, the bundled Node.js runtime) polls
``GET /2018-06-01/runtime/invocation/next`` for work and posts each answer back. This module
reads those requests and decides the answers: which endpoint a request names, the status and
body Lambda's own endpoint (RAPID) gives, the headers of an invocation, and Lambda's error
document rebuilt from whatever a runtime posted. The listener in
:mod:`wsgate.server.runtime_api` only carries bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from wsgate.integrations.lambda_context import ErrorPayload, make_error_payload

__all__ = [
    "ACCEPTED",
    "ERROR_TYPE_HEADER",
    "MAX_PAYLOAD_BYTES",
    "Endpoint",
    "Verdict",
    "build_trace_id",
    "error_document",
    "invocation_headers",
    "judge_answer",
    "judge_init_error",
    "read_endpoint",
    "response_too_large",
]

# RAPID's limit on a posted response: 6 MiB and a little slack for the envelope.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100
_PREFIX = "/2018-06-01/runtime/"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"

EndpointKind = Literal["next", "response", "error", "init_error"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Runtime API endpoint a request named; ``request_id`` for the per-invocation ones."""

    kind: EndpointKind
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the Runtime API answers a runtime: the status and a small JSON body."""

    status: int
    body: dict[str, str]

    def encode(self) -> bytes:
        """The body as sent."""
        return json.dumps(self.body).encode()


ACCEPTED = Verdict(202, {"status": "OK"})
_INVALID_REQUEST_ID = Verdict(
    400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
)
_TOO_LARGE = Verdict(
    413,
    {
        "errorMessage": f"Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).",
        "errorType": "RequestEntityTooLarge",
    },
)
_INIT_DONE = Verdict(
    403,
    {
        "errorMessage": "State transition from Ready to InitError failed",
        "errorType": "InvalidStateTransition",
    },
)


def read_endpoint(method: str, path: str) -> Endpoint | None:
    """The endpoint ``method path`` names; None for anything else (a 404)."""
    if not path.startswith(_PREFIX):
        return None
    rest = path[len(_PREFIX) :]
    if method == "GET":
        return Endpoint("next") if rest == "invocation/next" else None
    if method != "POST":
        return None
    if rest == "init/error":
        return Endpoint("init_error")
    parts = rest.split("/")
    if len(parts) == 3 and parts[0] == "invocation" and parts[1] and parts[2] == "response":
        return Endpoint("response", parts[1])
    if len(parts) == 3 and parts[0] == "invocation" and parts[1] and parts[2] == "error":
        return Endpoint("error", parts[1])
    return None


def judge_answer(request_id: str, current: str | None, size: int) -> Verdict:
    """Lambda's answer to a response or error posted for ``request_id``.

    Args:
        request_id: the id in the path.
        current: the invocation the environment is serving and has not answered yet.
        size: the posted body's length.

    RAPID answers an id that is not the one in flight (unknown, or answered already) with 400
    ``InvalidRequestID``, and a body over its limit with 413.
    """
    if current is None or request_id != current:
        return _INVALID_REQUEST_ID
    if size > MAX_PAYLOAD_BYTES:
        return _TOO_LARGE
    return ACCEPTED


def judge_init_error(initialized: bool) -> Verdict:
    """Lambda's answer to ``/init/error``: accepted only before the first ``/next``."""
    return _INIT_DONE if initialized else ACCEPTED


def response_too_large() -> tuple[str, str]:
    """The ``errorType`` and ``errorMessage`` of an invocation whose response was too large."""
    return (
        "Function.ResponseSizeTooLarge",
        f"Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).",
    )


def error_document(body: bytes, error_type: str | None, request_id: str = "") -> ErrorPayload:
    """Lambda's error document from what a runtime posted to ``/error`` or ``/init/error``.

    Runtimes send ``errorMessage``, ``errorType`` and a stack as ``stackTrace`` (Python, the
    Runtime API's schema) or ``trace`` (Node.js). A body that is not such an object still fails
    the invocation, with the ``Lambda-Runtime-Function-Error-Type`` header's type.
    """
    fallback = error_type or "Unhandled"
    try:
        posted = json.loads(body) if body else None
    except ValueError:
        posted = None
    if not isinstance(posted, dict):
        text = body.decode("utf-8", "replace") if posted is None else json.dumps(posted)
        return make_error_payload(fallback, text, (), request_id)
    stack = posted.get("stackTrace", posted.get("trace"))
    lines = [str(line) for line in stack] if isinstance(stack, list) else []
    kind = posted.get("errorType")
    message = posted.get("errorMessage")
    return make_error_payload(
        kind if isinstance(kind, str) and kind else fallback,
        message if isinstance(message, str) else "",
        lines,
        request_id,
    )


def invocation_headers(
    request_id: str, deadline_ms: int, function_arn: str, trace_id: str | None = None
) -> dict[str, str]:
    """The headers of ``/next``'s answer (API Gateway sends no client context or identity)."""
    headers = {
        "Lambda-Runtime-Aws-Request-Id": request_id,
        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": function_arn,
        "Content-Type": "application/json",
    }
    if trace_id:
        headers["Lambda-Runtime-Trace-Id"] = trace_id
    return headers


def build_trace_id(now_s: int, random_hex: str) -> str:
    """An X-Ray trace header as Lambda passes one to every invocation (not sampled)."""
    return f"Root=1-{now_s:08x}-{random_hex[:24]};Parent={random_hex[24:40]};Sampled=0"
