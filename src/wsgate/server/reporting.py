"""Reporting finished requests and connection events: the log line and the observers' records.

The data plane calls :class:`Reporter` once per request; with no observer subscribed it only
writes the log line (when that level is enabled) and builds no record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from wsgate.core.events import ConnectionFacts
from wsgate.core.outcomes import Outcome, Phase, phase_of
from wsgate.core.routing import RouteMatch
from wsgate.core.session import Closing
from wsgate.integrations.base import Call
from wsgate.observability.hooks import ConnectionEvent, Observer, RequestRecord
from wsgate.observability.logs import log_event
from wsgate.server.connection import LiveConnection
from wsgate.server.stamps import now_ms

if TYPE_CHECKING:  # OpenTelemetry is an optional extra, imported only when configured
    from wsgate.observability.otel import RequestSpan, RequestTracer

__all__ = ["Reporter", "frame_step"]

logger = logging.getLogger(__name__)

_EVENT_TYPES: Final[dict[Phase, Literal["CONNECT", "MESSAGE", "DISCONNECT"]]] = {
    Phase.CONNECT: "CONNECT",
    Phase.MESSAGE: "MESSAGE",
    Phase.DISCONNECT: "DISCONNECT",
}


class Reporter:
    """Logs each finished request, hands observers its record and ends its span."""

    def __init__(self, observers: Sequence[Observer], tracer: RequestTracer | None = None) -> None:
        self.observers = tuple(observers)
        self.tracer = tracer

    @property
    def silent(self) -> bool:
        """True when a successful request would leave no trace: no observer, no span, no log."""
        return not self.observers and self.tracer is None and not logger.isEnabledFor(logging.INFO)

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
                "wsgate.event_type": _EVENT_TYPES[phase_of(route_key or "")],
                "client.address": facts.source_ip,
                "user_agent.original": facts.user_agent,
            },
            incoming,
        )

    def request(
        self,
        call: Call,
        outcome: Outcome,
        *,
        integration: str | None,
        started: float,
        match: RouteMatch | None = None,
        sent: bool = False,
        span: RequestSpan | None = None,
        authorization: str | None = None,
    ) -> None:
        """Log a finished request, end its span and, when anyone observes, hand them its record.

        Args:
            call: the request (``integration`` None: refused before any integration ran).
            started: when it began, on the monotonic clock.
            match: how its route was selected (messages).
            sent: a reply went back to the client.
            authorization: what the authorizer or SigV4 decided (``$connect``).
        """
        facts = call.facts
        route_key = call.route_key or None
        if integration is not None:
            _log_request(call, integration, started, outcome)
        if self.tracer is not None:
            span = span or self.begin(facts, route_key, call.request_id)
            assert span is not None
            extra = {"wsgate.integration": integration} if integration is not None else {}
            span.end(outcome.status, outcome.problem, outcome.error_kind, extra)
        if not self.observers:  # the hot path builds no record
            return
        latency_ms = (time.monotonic() - started) * 1000
        disconnect = outcome.phase is Phase.DISCONNECT
        record = RequestRecord(
            request_id=call.request_id,
            connection_id=facts.connection_id,
            event_type=_EVENT_TYPES[outcome.phase],
            route_key=route_key,
            stage=facts.stage,
            api_id=facts.api_id,
            domain_name=facts.domain_name,
            source_ip=facts.source_ip,
            user_agent=facts.user_agent,
            connected_at_ms=facts.connected_at,
            request_time_ms=call.now_ms,
            status=outcome.status,
            latency_ms=latency_ms,
            integration=integration,
            integration_latency_ms=latency_ms if integration is not None else None,
            error=outcome.problem,
            error_kind=outcome.error_kind,
            message_id=call.message_id,
            message_bytes=len(call.body) if call.body is not None else 0,
            disconnect_status_code=call.disconnect_status if disconnect else None,
            disconnect_reason=call.disconnect_reason if disconnect else None,
            selection=match.selection_value if match is not None else None,
            outcome=match.outcome.value if match is not None else None,
            reply_sent=sent,
            details=tuple(call.trace or ()),
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


def _log_request(call: Call, integration: str, started: float, outcome: Outcome) -> None:
    problem = outcome.problem
    level = logging.INFO if problem is None else logging.WARNING
    if not logger.isEnabledFor(level):  # the hot path skips building the record
        return
    log_event(
        logger,
        level,
        "request" if problem is None else f"request failed: {problem}",
        requestId=call.request_id,
        connectionId=call.facts.connection_id,
        routeKey=call.route_key,
        integration=integration,
        status=outcome.status,
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
