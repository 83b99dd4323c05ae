"""One message of an open connection: its route, its integration, the answer sent back.

The hot path: a message that finds its route calls the integration straight from
:meth:`MessageRouter.route`'s coroutine (no Task, no extra coroutine), and its answer goes out
through :class:`~wsgate.server.outbound.Outbound`. A message that goes nowhere (no route, a
throttle, no API key, a body its model refuses, a node with too many messages in flight) gets
AWS's error frame and is reported and logged as refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from wsgate.core.outcomes import Outcome, Phase, Result, decide, replied
from wsgate.core.routing import RouteMatch, select_route
from wsgate.core.validation import validate_request
from wsgate.errors import IntegrationError
from wsgate.integrations.base import Call, message_call
from wsgate.observability.logs import log_event
from wsgate.server.admission import Gatekeeper, Refusal
from wsgate.server.connection import LiveConnection
from wsgate.server.invocation import failed
from wsgate.server.reporting import Reporter, frame_step
from wsgate.server.stage import RouteTarget, StageRuntime
from wsgate.server.stamps import new_id, now_ms

__all__ = ["MessageRouter"]

logger = logging.getLogger(__name__)

# A message whose route key matches no route, without a $default route.
_NO_ROUTE: Final = Refusal(Result.FORBIDDEN, "no route matched and there is no $default route")
_MESSAGE: Final = Phase.MESSAGE  # read once: an enum member lookup costs a little per message


class MessageRouter:
    """Routes the messages of every open connection and counts those still in flight.

    Args:
        stages: the stages as deployed now; replaced on redeploy.
        gate: authorization, API keys and throttles; None when the API has none of them.
        send: hands a frame to a connection's socket (:meth:`Outbound.send`).
        max_in_flight: messages with their integration at once on this node
            (``maxMessagesInFlight``); past it, a message is refused as throttled.
    """

    def __init__(
        self,
        *,
        stages: dict[str, StageRuntime],
        gate: Gatekeeper | None,
        report: Reporter,
        send: Callable[[LiveConnection, str | bytes], bool],
        max_in_flight: int,
    ) -> None:
        self.stages = stages
        self.gate = gate
        # Messages still with their integration, on every connection (the data plane counts).
        self.in_flight = 0
        self._max_in_flight = max_in_flight
        self._busy = Refusal(
            Result.THROTTLED,
            f"this node has {max_in_flight} messages in flight (maxMessagesInFlight)",
        )
        self._report = report
        self._send = send

    def route(
        self, conn: LiveConnection, selectable: str | bytes, body: str | bytes
    ) -> Coroutine[Any, Any, object] | None:
        """Route one message; returns the work to do for it, if any.

        ``selectable`` is what the selection expression reads: the text of a text frame, and
        nothing for a binary frame. AWS would route a binary frame's base64 text the same way,
        so binary frames go to $default (or get Forbidden without one).
        """
        # The stage as deployed now: a redeployed API routes open connections' next message
        # by its new routes (a stage removed since keeps serving the ones it had).
        stage = self.stages.get(conn.stage.name, conn.stage)
        match = select_route(stage.expression, stage.routes, selectable)
        if match.route_key is None:
            return self._refuse(conn, match, _NO_ROUTE)
        if self.in_flight >= self._max_in_flight:
            return self._refuse(conn, match, self._busy)
        gate = self.gate
        if gate is not None and gate.checks_messages:
            refusal = gate.check_message(
                stage.name, match.route_key, conn.api_key, conn.principal, conn.bucket
            )
            if refusal is not None:
                return self._refuse(conn, match, refusal)
        target = stage.routes[match.route_key]
        if target is None:
            return None
        if target.validation is not None:  # §4.5: a refused body never reaches the backend
            problem = validate_request(target.validation, body, clock=time.monotonic)
            if problem is not None:
                return self._refuse(conn, match, Refusal(Result.BAD_REQUEST_BODY, problem))
        return self._dispatch(conn, target, body, match)

    async def _refuse(self, conn: LiveConnection, match: RouteMatch, refusal: Refusal) -> None:
        """Answer a message that goes nowhere (no route, a throttle, no API key, a body its
        model refuses), as AWS does."""
        started = time.monotonic()
        facts = conn.facts
        call = Call(facts, match.route_key or "", new_id(), now_ms(), 0, message_id=new_id())
        outcome = decide(
            Phase.MESSAGE,
            refusal.result,
            problem=refusal.reason,
            connection_id=facts.connection_id,
            request_id=call.request_id,
            message_id=call.message_id or "",
        )
        assert outcome.frame is not None  # every refusal answers with an error frame
        sent = self._send(conn, outcome.frame)
        self._report.request(
            call, outcome, integration=None, started=started, match=match, sent=sent
        )
        log_event(
            logger,
            logging.INFO,
            f"message refused: {refusal.reason}",
            requestId=call.request_id,
            connectionId=facts.connection_id,
            routeKey=match.route_key,
            selection=match.selection_value,
            outcome=match.outcome.value,
            status=outcome.status,
        )

    async def _dispatch(
        self, conn: LiveConnection, target: RouteTarget, body: str | bytes, match: RouteMatch
    ) -> None:
        facts = conn.facts
        request_id = new_id()
        # The hot path skips even the call when nobody collects spans.
        report = self._report
        span = None if report.tracer is None else report.begin(facts, target.route_key, request_id)
        call = message_call(
            facts,
            target.route_key,
            request_id,
            now_ms(),
            target.timeout_ms,
            target.two_way,
            body,
            new_id(),
            [] if report.observers else None,
            span.headers if span is not None else (),
        )
        started = time.monotonic()
        outcome: Outcome | None = None
        try:
            frame = await target.integration.message(call)
        except IntegrationError as error:
            outcome = failed(_MESSAGE, call, error)
            frame = outcome.frame
        delivered = frame is not None and self._send(conn, frame)
        if call.trace is not None:
            call.trace.append(frame_step(frame, delivered, target.two_way))
        if outcome is None:
            if report.silent:
                return  # nothing would be logged, recorded or traced
            outcome = replied(frame)
        report.request(
            call,
            outcome,
            integration=target.integration_name,
            started=started,
            match=match,
            sent=delivered and outcome.error_kind is None,
            span=span,
        )
