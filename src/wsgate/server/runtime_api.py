"""The Lambda Runtime API listener of one execution environment (loopback only).

Each environment of a ``provided`` or Node.js function gets its own listener on
``127.0.0.1`` and a port the system picks, handed to the runtime as ``AWS_LAMBDA_RUNTIME_API``:
the port alone tells environments apart, and one environment serves one invocation at a time,
as in Lambda. What a request means and how it is answered is decided in
:mod:`wsgate.integrations.runtime_protocol`; the environment behind the listener
(:mod:`wsgate.integrations.runtime_runner`) supplies invocations and takes the answers.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

from aiohttp import web

from wsgate.integrations.runtime_protocol import (
    ERROR_TYPE_HEADER,
    MAX_PAYLOAD_BYTES,
    Verdict,
    read_endpoint,
)

__all__ = ["Invocation", "RuntimeApiListener", "RuntimeEnvironment"]

logger = logging.getLogger(__name__)

_GONE = Verdict(500, {"errorMessage": "Internal Server Error", "errorType": "InternalServerError"})
_NOT_FOUND = Verdict(404, {"errorMessage": "Not Found", "errorType": "NotFound"})
_SHUTDOWN_GRACE = 0.5  # a runtime blocked in /next is answered 500 and cut off after this


class Invocation(NamedTuple):
    """What ``/next`` hands a runtime: its headers and the event."""

    headers: dict[str, str]
    body: bytes


class RuntimeEnvironment(Protocol):
    """The execution environment a listener serves."""

    async def next_invocation(self) -> Invocation | None:
        """Wait for the next invocation; None when the environment is going away."""

    def post_answer(
        self, kind: str, request_id: str, body: bytes, error_type: str | None
    ) -> Verdict:
        """Take a response (``kind`` "response") or an error (``kind`` "error")."""

    def post_init_error(self, body: bytes, error_type: str | None) -> Verdict:
        """Take the runtime's report that its initialisation failed."""


class RuntimeApiListener:
    """An HTTP listener on 127.0.0.1 serving the Runtime API to one environment."""

    def __init__(self, environment: RuntimeEnvironment) -> None:
        self._environment = environment
        self._runner: web.ServerRunner | None = None
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a port the system picks."""
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=_SHUTDOWN_GRACE)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and drop the runtime's connections."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        endpoint = read_endpoint(request.method, request.path)
        if endpoint is None:
            return _reply(_NOT_FOUND)
        if endpoint.kind == "next":
            invocation = await self._environment.next_invocation()
            if invocation is None:
                return _reply(_GONE)
            return web.Response(status=200, body=invocation.body, headers=invocation.headers)
        body = await _read_body(request)
        error_type = request.headers.get(ERROR_TYPE_HEADER)
        if endpoint.kind == "init_error":
            verdict = self._environment.post_init_error(body, error_type)
        else:
            verdict = self._environment.post_answer(
                endpoint.kind, endpoint.request_id, body, error_type
            )
        return _reply(verdict)


async def _read_body(request: web.BaseRequest) -> bytes:
    """The body, cut one byte past the limit (enough to tell that it is too large)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_PAYLOAD_BYTES:
        chunk = await request.content.read(MAX_PAYLOAD_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reply(verdict: Verdict) -> web.Response:
    return web.Response(
        status=verdict.status, body=verdict.encode(), content_type="application/json"
    )
