"""A connection's two ends as integrations see them: ``$connect`` and ``$disconnect``.

Also the answer to a handshake the gate refused before ``$connect`` could run. Each call is
reported once (log line, observers, span) whatever its outcome.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.responses import ConnectDecision
from wsgate.core.routing import CONNECT, DISCONNECT
from wsgate.core.session import Closing
from wsgate.errors import IntegrationError, IntegrationTimeout, IntegrationUnavailable
from wsgate.integrations.base import Call
from wsgate.observability.hooks import ErrorKind
from wsgate.observability.logs import log_event
from wsgate.server.admission import Admitted, Refusal
from wsgate.server.connection import StageRuntime, new_id, now_ms
from wsgate.server.handshake import status_body
from wsgate.server.reporting import Reporter

__all__ = ["refuse_handshake", "run_connect", "run_disconnect"]

logger = logging.getLogger(__name__)


def refuse_handshake(
    report: Reporter, facts: ConnectionFacts, outcome: Refusal, started: float
) -> web.Response:
    """Report a handshake the gate refused, and the answer the client gets."""
    kind: ErrorKind = "integration" if outcome.status >= 500 else "client"
    step = {"step": "admission", "status": outcome.status, "why": outcome.reason}
    report.request(
        facts,
        new_id(),
        CONNECT,
        None,
        started,
        facts.connected_at,
        outcome.status,
        outcome.reason,
        kind,
        details=[step],
        authorization=outcome.authorization,
    )
    log_event(
        logger,
        logging.INFO,
        f"connection refused: {outcome.reason}",
        connectionId=facts.connection_id,
        stage=facts.stage,
        sourceIp=facts.source_ip,
        status=outcome.status,
    )
    body = outcome.body if outcome.body is not None else status_body(outcome.status)
    headers = outcome.headers or {"Content-Type": "application/json"}
    return web.Response(status=outcome.status, body=body, headers=headers)


async def run_connect(
    report: Reporter,
    stage: StageRuntime,
    facts: ConnectionFacts,
    handshake: Handshake,
    admitted: Admitted | None,
) -> ConnectDecision:
    """Call the ``$connect`` integration; its decision answers the handshake."""
    target = stage.routes.get(CONNECT)
    if target is None:
        return ConnectDecision(101)
    request_id = new_id()
    span = report.begin(facts, CONNECT, request_id, handshake.headers)
    call = Call(
        facts,
        CONNECT,
        request_id,
        facts.connected_at,
        target.timeout_ms,
        handshake=handshake,
        propagate=span.headers if span is not None else (),
    )
    started = time.monotonic()
    kind: ErrorKind | None = None
    try:
        decision = await target.integration.connect(call)
    except IntegrationTimeout as error:
        # AWS answers a timed-out integration with 504 (REST); recorded in docs/decisions.md.
        decision, kind = ConnectDecision(504, problem=str(error)), "execution"
    except IntegrationUnavailable as error:
        decision, kind = ConnectDecision(502, problem=str(error)), "execution"
    except IntegrationError as error:
        decision, kind = ConnectDecision(502, problem=str(error)), "integration"
    if kind is None and decision.status >= 400:
        kind = "integration"
    # An accepted $connect is a 200 in logs, as AWS's $context.status shows it.
    status = 200 if decision.accepted else decision.status
    decided = admitted.decision if admitted is not None else None
    report.request(
        facts,
        request_id,
        CONNECT,
        target,
        started,
        call.now_ms,
        status,
        decision.problem,
        kind,
        details=[{"step": "authorization", "why": decided}] if decided else None,
        span=span,
        authorization=admitted.authorization if admitted is not None else None,
    )
    return decision


async def run_disconnect(
    report: Reporter, facts: ConnectionFacts, stage: StageRuntime, closing: Closing
) -> None:
    """Call the ``$disconnect`` integration; its answer goes nowhere, failures are logged."""
    target = stage.routes.get(DISCONNECT)
    if target is None:
        return
    request_id = new_id()
    span = report.begin(facts, DISCONNECT, request_id)
    call = Call(
        facts,
        DISCONNECT,
        request_id,
        now_ms(),
        target.timeout_ms,
        disconnect_status=closing.disconnect_status_code,
        disconnect_reason=closing.disconnect_reason,
        propagate=span.headers if span is not None else (),
    )
    started = time.monotonic()
    status, problem = 200, None
    kind: ErrorKind | None = None
    try:
        await target.integration.disconnect(call)
    except IntegrationError as error:  # nothing can reach the client any more: log only
        status, problem = 500, str(error)
        kind = (
            "execution"
            if isinstance(error, IntegrationUnavailable | IntegrationTimeout)
            else "integration"
        )
    report.request(
        facts,
        request_id,
        DISCONNECT,
        target,
        started,
        call.now_ms,
        status,
        problem,
        kind,
        closing=closing,
        span=span,
    )
