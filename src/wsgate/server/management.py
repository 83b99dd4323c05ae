"""The ``@connections`` management API (§7 of the AWS reference), and its fan-out extensions.

``POST|GET|DELETE /{stage}/@connections/{connectionId}`` with AWS's status codes and
``x-amzn-ErrorType`` headers, so that boto3's ``apigatewaymanagementapi`` client raises the same
exception classes as against AWS. Any path prefix before the stage is accepted; ``%40connections``
is accepted for ``@connections``; ids are percent-decoded. On a gateway of several nodes each
call reaches the node that holds the connection (:class:`~wsgate.server.cluster.Cluster`).

Beyond AWS, in the same style (see :mod:`wsgate.server.fanout`): groups, sending to many
connections at once with a delivery report, and a paged listing of the connections.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

from aiohttp import web

from wsgate.core.addressing import ManagementPath
from wsgate.core.ids import is_valid_id
from wsgate.errors import (
    ConnectionNotFound,
    ManagementError,
    NodeUnreachable,
    RegistryUnavailable,
    SignatureError,
)
from wsgate.observability.hooks import ManagementCall
from wsgate.observability.logs import log_event
from wsgate.observability.tracing import TraceStore
from wsgate.security.credentials import CredentialStore
from wsgate.server import fanout
from wsgate.server.cluster import Cluster
from wsgate.server.dataplane import DataPlane
from wsgate.server.signatures import verify_request
from wsgate.server.stamps import new_id, now_ms

if TYPE_CHECKING:  # OpenTelemetry is an optional extra, imported only when configured
    from wsgate.observability.otel import RequestTracer

__all__ = ["ConnectionsApi"]

logger = logging.getLogger(__name__)

# One table from errors to the wire: status and error shape name (AWS's where AWS has one).
_ERRORS: Final[dict[type[Exception], tuple[int, str]]] = {
    ConnectionNotFound: (410, "GoneException"),
    RegistryUnavailable: (503, "ServiceUnavailableException"),
    NodeUnreachable: (504, "GatewayTimeoutException"),
}

_MESSAGES: Final[dict[type[Exception], str]] = {
    RegistryUnavailable: "the connection registry is unavailable, and the connection is not "
    "on this node: {}",
}


class ConnectionsApi:
    """Answers management requests for one node."""

    def __init__(
        self,
        dataplane: DataPlane,
        cluster: Cluster,
        tracer: RequestTracer | None = None,
        *,
        signers: CredentialStore | None = None,
        region: str = "us-east-1",
        traces: TraceStore | None = None,
    ) -> None:
        self._dataplane = dataplane
        self._cluster = cluster
        self._tracer = tracer
        # With keys here, every call must be SigV4-signed by one (managementAuthorization).
        self._signers = signers
        self._region = region
        # Recent calls are traced beside the data plane's requests (admin listener only).
        self.traces = traces

    async def handle(
        self, request: web.BaseRequest, path: ManagementPath, *, trusted: bool = False
    ) -> web.Response:
        """Answer one request; every failure becomes AWS's status and error type.

        ``trusted``: the caller proved who it is otherwise (the admin listener's token), so no
        signature is asked for.
        """
        request_id = new_id()
        started = time.monotonic()
        connection_id = path.connection_id
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
            response = await self._checked(request, path, trusted)
        except ManagementError as error:
            response = _error_response(error.status, error.error_type, error.message)
            problem = error.message or error.error_type
        except tuple(_ERRORS) as error:
            status, error_type = _ERRORS[type(error)]
            message = _MESSAGES.get(type(error), "{}").format(error) if status != 410 else None
            response = _error_response(status, error_type, message)
            problem = message or error_type
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
            path=path.kind,
            connectionId=connection_id or None,
            status=response.status,
            latencyMs=round((time.monotonic() - started) * 1000, 3),
        )
        return response

    async def _checked(
        self, request: web.BaseRequest, path: ManagementPath, trusted: bool
    ) -> web.Response:
        body: bytes | None = None
        if self._signers is not None and not trusted:
            body = await fanout.read_body(request)  # the signature covers the body
            self._verify(request, body)
        stage = path.stage
        if not stage or stage not in self._dataplane.stages:
            # AWS's answer for a wrong stage in endpoint_url (§11.2).
            raise ManagementError(403, "ForbiddenException", f"no stage {stage!r} on this API")
        if path.kind == "connection":
            return await self._connection(request, stage, path.connection_id, body)
        return await fanout.answer(self._cluster, request, path, body)

    @property
    def signed(self) -> bool:
        """True when calls must be SigV4-signed (``managementAuthorization: AWS_IAM``)."""
        return self._signers is not None

    def _verify(self, request: web.BaseRequest, body: bytes) -> None:
        """Check the call's SigV4 signature for ``execute-api`` (§6.4, §7.3).

        Raises:
            ManagementError: AWS's 403 for a missing, malformed, stale or wrong signature.
        """
        assert self._signers is not None
        try:
            verify_request(request, body, self._signers, self._region)
        except SignatureError as error:
            raise ManagementError(error.status, error.error_type, error.message) from error

    async def _connection(
        self, request: web.BaseRequest, stage: str, connection_id: str, body: bytes | None
    ) -> web.Response:
        if request.method not in ("POST", "GET", "DELETE"):
            raise ManagementError(
                403, "ForbiddenException", f"{request.method} is not supported on @connections"
            )
        if not connection_id:
            raise ManagementError(403, "ForbiddenException", "missing connection id")
        if not is_valid_id(connection_id):
            raise ManagementError(400, "BadRequestException", "Invalid connectionId")
        cluster = self._cluster
        if request.method == "POST":
            data = body if body is not None else await fanout.read_body(request)
            # Every attempt of one SDK call carries the same invocation id (boto3 and the
            # JavaScript SDK send it): a retry after a lost answer is delivered once.
            retry_id = request.headers.get("amz-sdk-invocation-id") or None
            await cluster.post(stage, connection_id, fanout.as_frame(data), idempotency_id=retry_id)
            return web.Response(status=200, content_type="application/json", text="{}")
        if request.method == "DELETE":
            await cluster.delete(stage, connection_id)
            return web.Response(status=204)
        return web.json_response(await cluster.describe(stage, connection_id))


def _error_response(status: int, error_type: str, message: str | None) -> web.Response:
    # botocore reads the error code from x-amzn-ErrorType; without it a 410 is a bare ClientError.
    response = web.json_response({"message": message}, status=status)
    response.headers["x-amzn-ErrorType"] = error_type
    return response
