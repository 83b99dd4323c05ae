"""Reporting finished requests and connection events: the log line and the observers' records.

The data plane calls :class:`Reporter` once per request; with no observer subscribed it only
writes the log line (when that level is enabled) and builds no record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Literal

from wsgate.core.events import ConnectionFacts
from wsgate.core.routing import CONNECT, DISCONNECT, RouteMatch
from wsgate.core.session import Closing
from wsgate.observability.hooks import ConnectionEvent, ErrorKind, Observer, RequestRecord
from wsgate.observability.logs import log_event
from wsgate.server.connection import LiveConnection, RouteTarget, now_ms

if TYPE_CHECKING:  # OpenTelemetry is an optional extra, imported only when configured
    from wsgate.observability.otel import RequestSpan, RequestTracer

__all__ = ["Reporter", "frame_step"]

logger = logging.getLogger(__name__)

_EVENT_TYPES: Final[dict[str, Literal["CONNECT", "MESSAGE", "DISCONNECT"]]] = {
    CONNECT: "CONNECT",
    DISCONNECT: "DISCONNECT",
}


class Reporter:
    """Logs each finished request, hands observers its record and ends its span."""

    def __init__(self, observers: list[Observer], tracer: RequestTracer | None = None) -> None:
        self.observers = observers  # shared with the data plane: subscribers may come later
        self.tracer = tracer

    def begin(
        self,
        facts: ConnectionFacts,
        route_key: str | None,
        request_id: str,
        incoming: Iterable[tuple[str, str]] = (),
    ) -> RequestSpan | None:
        """Start a request's span (None without OpenTelemetry); ``request`` ends it."""
        if self.tracer is None:
            return None
        return self.tracer.begin(
            f"WebSocket {route_key or '(no route)'}",
            {
                "wsgate.api_id": facts.api_id,
                "wsgate.stage": facts.stage,
                "wsgate.connection_id": facts.connection_id,
                "wsgate.request_id": request_id,
                "wsgate.route_key": route_key,
                "wsgate.event_type": _EVENT_TYPES.get(route_key or "", "MESSAGE"),
                "client.address": facts.source_ip,
                "user_agent.original": facts.user_agent,
            },
            incoming,
        )

    def request(
        self,
        facts: ConnectionFacts,
        request_id: str,
        route_key: str | None,
        target: RouteTarget | None,
        started: float,
        request_ms: int,
        status: int,
        problem: str | None,
        kind: ErrorKind | None,
        *,
        message_id: str | None = None,
        message_bytes: int = 0,
        closing: Closing | None = None,
        match: RouteMatch | None = None,
        sent: bool = False,
        details: list[dict[str, Any]] | None = None,
        span: RequestSpan | None = None,
        authorization: str | None = None,
    ) -> None:
        """Log a finished request, end its span and, when anyone observes, hand them its record."""
        if target is not None:
            _log_request(facts, request_id, target, started, status, problem)
        if self.tracer is not None:
            span = span or self.begin(facts, route_key, request_id)
            assert span is not None
            extra = {"wsgate.integration": target.integration_name} if target is not None else {}
            span.end(status, problem, kind, extra)
        if not self.observers:  # the hot path builds no record
            return
        latency_ms = (time.monotonic() - started) * 1000
        event_type = _EVENT_TYPES.get(route_key or "", "MESSAGE")
        record = RequestRecord(
            request_id=request_id,
            connection_id=facts.connection_id,
            event_type=event_type,
            route_key=route_key,
            stage=facts.stage,
            api_id=facts.api_id,
            domain_name=facts.domain_name,
            source_ip=facts.source_ip,
            user_agent=facts.user_agent,
            connected_at_ms=facts.connected_at,
            request_time_ms=request_ms,
            status=status,
            latency_ms=latency_ms,
            integration=target.integration_name if target is not None else None,
            integration_latency_ms=latency_ms if target is not None else None,
            error=problem,
            error_kind=kind,
            message_id=message_id,
            message_bytes=message_bytes,
            disconnect_status_code=closing.disconnect_status_code if closing else None,
            disconnect_reason=closing.disconnect_reason if closing else None,
            selection=match.selection_value if match is not None else None,
            outcome=match.outcome.value if match is not None else None,
            reply_sent=sent,
            details=tuple(details or ()),
            authorization=authorization,
            authorizer=facts.authorizer,
            caller=facts.caller,
        )
        for observer in self.observers:
            observer.on_request(record)

    def connection(self, conn: LiveConnection, closing: Closing | None) -> None:
        """Tell observers that a connection opened (``closing`` None) or ended."""
        event = ConnectionEvent(
            connection_id=conn.facts.connection_id,
            stage=conn.stage.name,
            api_id=conn.facts.api_id,
            source_ip=conn.facts.source_ip,
            at_ms=now_ms(),
            opened=closing is None,
            disconnect_status_code=closing.disconnect_status_code if closing else None,
            disconnect_reason=closing.disconnect_reason if closing else None,
        )
        for observer in self.observers:
            observer.on_connection(event)


def _log_request(
    facts: ConnectionFacts,
    request_id: str,
    target: RouteTarget,
    started: float,
    status: int,
    problem: str | None,
) -> None:
    level = logging.INFO if problem is None else logging.WARNING
    if not logger.isEnabledFor(level):  # the hot path skips building the record
        return
    log_event(
        logger,
        level,
        "request" if problem is None else f"request failed: {problem}",
        requestId=request_id,
        connectionId=facts.connection_id,
        routeKey=target.route_key,
        integration=target.integration_name,
        status=status,
        latencyMs=round((time.monotonic() - started) * 1000, 3),
    )


def frame_step(frame: str | bytes | None, delivered: bool, two_way: bool) -> dict[str, Any]:
    """The trace step saying what went back to the client, if anything."""
    if frame is None:
        why = "the integration answered nothing" if two_way else "the route has no route response"
        return {"step": "no frame sent", "why": why}
    size = len(frame.encode()) if isinstance(frame, str) else len(frame)
    step: dict[str, Any] = {
        "step": "frame sent" if delivered else "frame not sent: the connection is gone",
        "kind": "text" if isinstance(frame, str) else "binary",
        "bytes": size,
    }
    if isinstance(frame, str):
        step["text"] = frame[:_TRACED_FRAME_TEXT]
    return step


_TRACED_FRAME_TEXT: Final = 1024
