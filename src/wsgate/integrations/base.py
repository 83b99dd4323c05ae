"""What every integration offers the data plane.

An integration turns one call (a ``$connect``, a message, a ``$disconnect``) into an answer:
the handshake's status, or the message a route response would send. Each kind builds what its
target needs from the same :class:`Call` (a Lambda event, an HTTP request, a mock's template)
with the pure core. :class:`IntegrationRequest` is the lower-level call of a local function.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.responses import ConnectDecision
from wsgate.types import JSONObject, JSONValue, new_tuple

__all__ = [
    "Call",
    "Integration",
    "IntegrationRequest",
    "IntegrationResult",
    "answered",
    "message_call",
    "request_for",
]


class IntegrationRequest(NamedTuple):
    """One call of an integration.

    Attributes:
        event: the Lambda proxy event (AWS_PROXY) built by ``core.events``.
        invocation_id: Lambda's ``aws_request_id``, fresh for every invocation (never the
            gateway's ``requestContext.requestId``); None: the runner draws one when needed.
        timeout_ms: the integration timeout (``timeoutInMillis``); past it the call fails with
            :class:`~wsgate.errors.IntegrationTimeout`.
    """

    event: JSONObject
    invocation_id: str | None
    timeout_ms: int


class IntegrationResult(NamedTuple):
    """What the target answered: for a function, its return value (``None`` for none)."""

    payload: JSONValue


class Call(NamedTuple):
    """One request through a route, as every integration kind sees it.

    Attributes:
        facts: the connection's constant facts (ids, stage, identity, authorizer).
        route_key: the selected route (``$connect``, ``$disconnect``, a key, ``$default``).
        request_id: the gateway's id for this request.
        now_ms: when the request arrived, in epoch milliseconds.
        timeout_ms: the integration timeout (``timeoutInMillis``).
        reply_wanted: the route has a route response, so the answer goes back to the client.
        body: the message: ``str`` for a text frame, ``bytes`` for a binary frame.
        message_id: the message's id (messages only).
        handshake: the upgrade request (``$connect`` only).
        disconnect_status: the close code ``$disconnect`` reports.
        disconnect_reason: the close reason ``$disconnect`` reports.
        trace: when someone traces requests, integrations append what they did (the template
            chosen, the request sent, the reply); None when nobody does.
        propagate: headers carrying the request's trace context (``traceparent``) to HTTP
            integrations; empty without OpenTelemetry.
    """

    facts: ConnectionFacts
    route_key: str
    request_id: str
    now_ms: int
    timeout_ms: int
    reply_wanted: bool = False
    body: str | bytes | None = None
    message_id: str | None = None
    handshake: Handshake | None = None
    disconnect_status: int = 1005
    disconnect_reason: str = ""
    trace: list[dict[str, Any]] | None = None
    propagate: tuple[tuple[str, str], ...] = ()


def message_call(
    facts: ConnectionFacts,
    route_key: str,
    request_id: str,
    now_ms: int,
    timeout_ms: int,
    reply_wanted: bool,
    body: str | bytes,
    message_id: str,
    trace: list[dict[str, Any]] | None,
    propagate: tuple[tuple[str, str], ...],
) -> Call:
    """``Call(...)`` for a message, built for the hot path.

    One is built per message: the tuple is made without ``Call.__new__``'s argument handling,
    which takes longer than the rest of the call's making. The fields a message has no use for
    take their defaults.
    """
    fields = (
        facts,
        route_key,
        request_id,
        now_ms,
        timeout_ms,
        reply_wanted,
        body,
        message_id,
        None,
        1005,
        "",
        trace,
        propagate,
    )
    return new_tuple(Call, fields)


def request_for(event: JSONObject, timeout_ms: int) -> IntegrationRequest:
    """``IntegrationRequest(event, None, timeout_ms)``, built for the hot path (see above)."""
    return new_tuple(IntegrationRequest, (event, None, timeout_ms))


def answered(payload: JSONValue) -> IntegrationResult:
    """``IntegrationResult(payload)``, built for the hot path (see above)."""
    return new_tuple(IntegrationResult, (payload,))


class Integration(Protocol):
    """A target behind routes."""

    name: str

    async def start(self) -> None:
        """Get ready to serve (start workers, open pools)."""

    async def stop(self) -> None:
        """Release everything; pending calls fail with IntegrationUnavailable."""

    async def connect(self, call: Call) -> ConnectDecision:
        """Run ``$connect``; the decision says how the handshake is answered.

        Raises:
            IntegrationTimeout: no answer within ``call.timeout_ms`` (the client gets 504).
            IntegrationError: any other failure (the client gets 502).
        """

    async def message(self, call: Call) -> str | bytes | None:
        """Handle one message; returns what a route response sends (None: nothing).

        Raises:
            IntegrationTimeout: no answer in time (``Endpoint request timed out``).
            IntegrationError: any other failure (``Internal server error``).
        """

    async def disconnect(self, call: Call) -> None:
        """Run ``$disconnect``; its answer goes nowhere.

        Raises:
            IntegrationError: the call failed (logged only).
        """
