"""Calling a route's integration: one path for ``$connect``, messages and ``$disconnect``.

:func:`invoke` calls the integration and turns whatever happened into an
:class:`~wsgate.core.outcomes.Outcome` through the table in :mod:`wsgate.core.outcomes`;
nothing else in the data plane picks a status. Messages, the hot path, call their integration
in the data plane itself (one coroutine less per message) and turn its failure into an
outcome with :func:`failed`. The
functions below run the two ends of a connection (and a handshake refused before ``$connect``)
on that path and report each request once: log line, observers, span.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from aiohttp import web

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.outcomes import Outcome, Phase, Result, decide, result_of
from wsgate.core.routing import CONNECT, DISCONNECT
from wsgate.core.session import CloseCause, Closing, close_for
from wsgate.errors import IntegrationError
from wsgate.integrations.base import Call
from wsgate.observability.logs import log_event
from wsgate.registry.base import ConnectionRecord
from wsgate.server.admission import Admitted, Refusal
from wsgate.server.handshake import status_body
from wsgate.server.reporting import Reporter
from wsgate.server.stage import RouteTarget, StageRuntime
from wsgate.server.stamps import new_id, now_ms

__all__ = [
    "failed",
    "invoke",
    "refuse_handshake",
    "run_connect",
    "run_disconnect",
    "run_lost_disconnect",
]

logger = logging.getLogger(__name__)

# A stage without a $connect integration accepts every handshake (§1.2).
_ACCEPTED: Final = decide(Phase.CONNECT, Result.ANSWERED)


async def invoke(phase: Phase, target: RouteTarget, call: Call) -> Outcome:
    """Call the route's ``$connect`` or ``$disconnect`` integration once; what it answered, or
    how it failed, as an outcome. (Messages: see the module docstring.)"""
    integration = target.integration
    try:
        if phase is Phase.CONNECT:
            answer = await integration.connect(call)
            if answer.accepted:
                if answer.subprotocol is None and not answer.groups:
                    return _ACCEPTED  # the usual answer, decided once
                groups = answer.groups
                return decide(phase, Result.ANSWERED, subprotocol=answer.subprotocol, groups=groups)
            return decide(phase, Result.DECLINED, status=answer.status, problem=answer.problem)
        await integration.disconnect(call)
        return decide(phase, Result.ANSWERED)
    except IntegrationError as error:
        return failed(phase, call, error)


def failed(phase: Phase, call: Call, error: IntegrationError) -> Outcome:
    """The outcome of a call its integration failed: the table's row for how it failed."""
    return decide(
        phase,
        result_of(error),
        problem=str(error),
        connection_id=call.facts.connection_id,
        request_id=call.request_id,
    )


async def run_connect(
    report: Reporter,
    stage: StageRuntime,
    facts: ConnectionFacts,
    handshake: Handshake | None,
    admitted: Admitted | None,
) -> Outcome:
    """Call the ``$connect`` integration; its outcome answers the handshake.

    ``handshake`` may be None only when the stage has no ``$connect`` route.
    """
    target = stage.routes.get(CONNECT)
    if target is None:
        return _ACCEPTED
    assert handshake is not None
    request_id = new_id()
    span = report.begin(facts, CONNECT, request_id, handshake.headers)
    trace: list[dict[str, Any]] | None = [] if report.observers else None
    if trace is not None and admitted is not None and admitted.decision:
        trace.append({"step": "authorization", "why": admitted.decision})
    call = Call(
        facts,
        CONNECT,
        request_id,
        facts.connected_at,
        target.timeout_ms,
        handshake=handshake,
        trace=trace,
        propagate=span.headers if span is not None else (),
    )
    started = time.monotonic()
    outcome = await invoke(Phase.CONNECT, target, call)
    report.request(
        call,
        outcome,
        integration=target.integration_name,
        started=started,
        span=span,
        authorization=admitted.authorization if admitted is not None else None,
    )
    return outcome


async def run_disconnect(
    report: Reporter, facts: ConnectionFacts, stage: StageRuntime, closing: Closing
) -> None:
    """Call the ``$disconnect`` integration; nothing can reach the client, so it is reported."""
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
        trace=[] if report.observers else None,
        propagate=span.headers if span is not None else (),
    )
    started = time.monotonic()
    outcome = await invoke(Phase.DISCONNECT, target, call)
    report.request(call, outcome, integration=target.integration_name, started=started, span=span)


async def run_lost_disconnect(
    report: Reporter,
    record: ConnectionRecord,
    stage: StageRuntime,
    api_id: str,
    domain_name: str | None,
) -> None:
    """Run ``$disconnect`` for a connection whose node died, from what the registry kept of it
    (it is already unregistered)."""
    facts = ConnectionFacts(
        connection_id=record.connection_id,
        connected_at=record.connected_at_ms,
        source_ip=record.source_ip,
        user_agent=record.user_agent,
        api_id=api_id,
        stage=stage.name,
        domain_name=domain_name or "",
        stage_variables=dict(stage.config.stage_variables),
        authorizer=record.authorizer,
    )
    log_event(
        logger,
        logging.INFO,
        "connection lost with its node",
        connectionId=record.connection_id,
        node=record.node_id,
        stage=record.stage,
    )
    await run_disconnect(report, facts, stage, close_for(CloseCause.NODE_LOST))


def refuse_handshake(
    report: Reporter, facts: ConnectionFacts, refusal: Refusal, started: float
) -> web.Response:
    """Report a handshake the gate refused before ``$connect``, and answer the client."""
    outcome = decide(Phase.CONNECT, refusal.result, problem=refusal.reason)
    step = {"step": "admission", "status": outcome.status, "why": refusal.reason}
    call = Call(facts, CONNECT, new_id(), facts.connected_at, 0, trace=[step])
    report.request(
        call, outcome, integration=None, started=started, authorization=refusal.authorization
    )
    log_event(
        logger,
        logging.INFO,
        f"connection refused: {refusal.reason}",
        connectionId=facts.connection_id,
        stage=facts.stage,
        sourceIp=facts.source_ip,
        status=outcome.status,
    )
    body = refusal.body if refusal.body is not None else status_body(outcome.status)
    headers = refusal.headers or {"Content-Type": "application/json"}
    return web.Response(status=outcome.status, body=body, headers=headers)
