"""The ``@connections`` management API (§7 of the AWS reference).

``POST|GET|DELETE /{stage}/@connections/{connectionId}`` with AWS's status codes and
``x-amzn-ErrorType`` headers, so that boto3's ``apigatewaymanagementapi`` client raises the same
exception classes as against AWS. Any path prefix before the stage is accepted; ``%40connections``
is accepted for ``@connections``; the id is percent-decoded.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

from aiohttp import web

from wsgate.core.ids import is_valid_id
from wsgate.errors import ConnectionNotFound, ManagementError
from wsgate.observability.hooks import ManagementCall
from wsgate.observability.logs import log_event
from wsgate.observability.tracing import TraceStore
from wsgate.server.admission import Gatekeeper
from wsgate.server.connection import LiveConnection, new_id, now_ms
from wsgate.server.dataplane import DataPlane

if TYPE_CHECKING:  # OpenTelemetry is an optional extra, imported only when configured
    from wsgate.observability.otel import RequestTracer

__all__ = ["MAX_POST_BYTES", "ConnectionsApi", "describe_connection", "match_management_path"]

logger = logging.getLogger(__name__)

MAX_POST_BYTES: Final = 128 * 1024  # PostToConnection's Data max (131072 bytes)
_PATH: Final = re.compile(r"^(?P<prefix>.*?)/(?:@|%40)connections(?:/(?P<id>[^/]*))?/?$", re.I)

# One table from errors to the wire: status and AWS's error shape name.
_ERRORS: Final[dict[type[Exception], tuple[int, str]]] = {
    ConnectionNotFound: (410, "GoneException"),
}


def match_management_path(raw_path: str) -> tuple[str, str | None] | None:
    """Split a raw request path into (prefix before ``/@connections``, raw id); None if not one."""
    match = _PATH.match(raw_path.split("?", 1)[0])
    if match is None:
        return None
    return match["prefix"], match["id"]


class ConnectionsApi:
    """Answers management requests for one data plane."""

    def __init__(
        self,
        dataplane: DataPlane,
        tracer: RequestTracer | None = None,
        *,
        signed: Gatekeeper | None = None,
    ) -> None:
        self._dataplane = dataplane
        self._tracer = tracer
        # With a gatekeeper here, every call must be SigV4-signed (managementAuthorization).
        self._signed = signed
        # Recent calls are traced beside the data plane's requests (admin listener only).
        self.traces: TraceStore | None = None

    async def handle(self, request: web.Request, prefix: str, raw_id: str | None) -> web.Response:
        """Answer one request; every failure becomes AWS's status and error type."""
        request_id = new_id()
        started = time.monotonic()
        connection_id = unquote(raw_id) if raw_id else ""
        # A backend that traces its call continues its trace here.
        span = (
            self._tracer.begin(
                f"@connections {request.method}",
                {"wsgate.connection_id": connection_id, "wsgate.request_id": request_id},
                request.headers.items(),
            )
            if self._tracer is not None
            else None
        )
        problem: str | None = None
        try:
            response = await self._checked(request, prefix, connection_id)
        except ManagementError as error:
            response = _error_response(error.status, error.error_type, error.message)
            problem = error.message or error.error_type
        except tuple(_ERRORS) as error:
            status, error_type = _ERRORS[type(error)]
            response = _error_response(status, error_type, None)
            problem = error_type
        response.headers["x-amzn-RequestId"] = request_id
        if span is not None:
            span.end(response.status, problem, "client" if problem else None)
        if self.traces is not None:
            self.traces.on_management(
                ManagementCall(
                    request_id=request_id,
                    method=request.method,
                    path=request.raw_path.split("?", 1)[0],
                    connection_id=connection_id or None,
                    status=response.status,
                    error_type=response.headers.get("x-amzn-ErrorType"),
                    error=problem,
                    latency_ms=(time.monotonic() - started) * 1000,
                    time_ms=now_ms(),
                )
            )
        log_event(
            logger,
            logging.INFO,
            "management request",
            requestId=request_id,
            method=request.method,
            connectionId=connection_id or None,
            status=response.status,
            latencyMs=round((time.monotonic() - started) * 1000, 3),
        )
        return response

    async def _checked(self, request: web.Request, prefix: str, connection_id: str) -> web.Response:
        if self._signed is None:
            return await self._answer(request, prefix, connection_id, None)
        body = await _read_body(request)  # the signature covers the body
        self._signed.verify_management(request, body)
        return await self._answer(request, prefix, connection_id, body)

    async def _answer(
        self, request: web.Request, prefix: str, connection_id: str, body: bytes | None
    ) -> web.Response:
        stage = prefix.rstrip("/").rsplit("/", 1)[-1]
        if not stage or stage not in self._dataplane.stages:
            # AWS's answer for a wrong stage in endpoint_url (§11.2).
            raise ManagementError(403, "ForbiddenException", f"no stage {stage!r} on this API")
        if request.method not in ("POST", "GET", "DELETE"):
            raise ManagementError(
                403, "ForbiddenException", f"{request.method} is not supported on @connections"
            )
        if not connection_id:
            raise ManagementError(403, "ForbiddenException", "missing connection id")
        if not is_valid_id(connection_id):
            raise ManagementError(400, "BadRequestException", "Invalid connectionId")
        if request.method == "POST":
            data = body if body is not None else await _read_body(request)
            await self._dataplane.post(stage, connection_id, _as_frame(data))
            return web.Response(status=200, content_type="application/json", text="{}")
        if request.method == "DELETE":
            self._dataplane.delete(stage, connection_id)
            return web.Response(status=204)
        return web.json_response(self._describe(stage, connection_id))

    def _describe(self, stage: str, connection_id: str) -> dict[str, object]:
        return describe_connection(self._dataplane.find(stage, connection_id))


def describe_connection(conn: LiveConnection) -> dict[str, object]:
    """A connection as ``GetConnection`` describes it: connectedAt, identity, lastActiveAt."""
    return {
        "connectedAt": _iso(conn.facts.connected_at),
        "identity": {"sourceIp": conn.facts.source_ip, "userAgent": conn.facts.user_agent},
        "lastActiveAt": _iso(conn.session.last_active_at_ms),
    }


async def _read_body(request: web.Request) -> bytes:
    """Read at most the allowed payload; larger bodies get 413 before they are buffered."""
    too_large = ManagementError(
        413, "PayloadTooLargeException", f"Message too long. Max size is {MAX_POST_BYTES} bytes"
    )
    if request.content_length is not None and request.content_length > MAX_POST_BYTES:
        raise too_large
    chunks = bytearray()
    while True:
        chunk = await request.content.read(MAX_POST_BYTES + 1 - len(chunks))
        if not chunk:
            return bytes(chunks)
        chunks.extend(chunk)
        if len(chunks) > MAX_POST_BYTES:
            raise too_large


def _as_frame(data: bytes) -> str | bytes:
    """Valid UTF-8 goes out as a text frame, anything else as binary."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _iso(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _error_response(status: int, error_type: str, message: str | None) -> web.Response:
    # botocore reads the error code from x-amzn-ErrorType; without it a 410 is a bare ClientError.
    response = web.json_response({"message": message}, status=status)
    response.headers["x-amzn-ErrorType"] = error_type
    return response
