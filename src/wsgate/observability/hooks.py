"""What the data plane tells observers: one frozen record per request, and connection events.

Observers (access logs, metrics, traces) subscribe through :class:`Observer`; with none
subscribed the data plane builds no records at all, so the hot path pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from wsgate.core.outcomes import ErrorKind

__all__ = ["ConnectionEvent", "ErrorKind", "ManagementCall", "Observer", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request through the gateway: a ``$connect``, a message or a ``$disconnect``."""

    request_id: str
    connection_id: str
    event_type: Literal["CONNECT", "MESSAGE", "DISCONNECT"]
    route_key: str | None  # None: no route matched (Forbidden)
    stage: str
    api_id: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    connected_at_ms: int
    request_time_ms: int
    status: int
    latency_ms: float
    integration: str | None = None
    integration_latency_ms: float | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    message_id: str | None = None
    message_bytes: int = 0
    disconnect_status_code: int | None = None
    disconnect_reason: str | None = None
    # Route selection: the expression's value and why the route was chosen (core.routing's
    # SelectionOutcome values: matched, not_json, no_match, no_route).
    selection: str | None = None
    outcome: str | None = None
    reply_sent: bool = False
    # What the integration did, step by step (traced requests only).
    details: tuple[dict[str, Any], ...] = ()
    # $connect through an authorizer or SigV4: allow, deny, unauthorized or error.
    authorization: str | None = None
    # The connection's authorizer context and SigV4 signer, as its events carry them.
    authorizer: Mapping[str, object] | None = None
    caller: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """A connection opened (``closing`` None) or ended."""

    connection_id: str
    stage: str
    api_id: str
    source_ip: str
    at_ms: int
    opened: bool
    disconnect_status_code: int | None = None
    disconnect_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ManagementCall:
    """One ``@connections`` call: who it addressed and how it was answered."""

    request_id: str
    method: str
    path: str
    connection_id: str | None
    status: int
    error_type: str | None  # AWS's x-amzn-ErrorType, e.g. GoneException
    error: str | None
    latency_ms: float
    time_ms: int


class Observer(Protocol):
    """Receives what happens; must not block (called on the event loop)."""

    def on_request(self, record: RequestRecord) -> None:
        """One request finished."""

    def on_connection(self, event: ConnectionEvent) -> None:
        """A connection opened or ended."""
