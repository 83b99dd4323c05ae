"""What the data plane keeps per open connection, and how ``GetConnection`` describes it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from wsgate.core.events import ConnectionFacts, format_iso_time
from wsgate.core.session import Session
from wsgate.core.throttle import TokenBucket
from wsgate.server.stage import StageRuntime
from wsgate.server.websocket import GatewayWebSocket

__all__ = ["LiveConnection", "Traffic", "describe_connection"]


@dataclass(eq=False, slots=True)
class LiveConnection:
    """An open socket and the state the core keeps for it."""

    ws: GatewayWebSocket
    session: Session
    facts: ConnectionFacts
    stage: StageRuntime
    transport: asyncio.Transport
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    # What admission learnt: the valid API key's name, the principal, the message bucket.
    api_key: str | None = None
    principal: str | None = None
    bucket: TokenBucket | None = None
    # Groups joined at $connect (kept to register them again after a registry outage).
    groups: set[str] = field(default_factory=set)
    # In the registry; abandoned: another node ran its $disconnect (this node was lost).
    registered: bool = False
    abandoned: bool = False
    # Messages whose integration is still working, and the event the reading waits on when
    # they reach the stage's maxMessagesInFlight (made only then).
    in_flight: int = 0
    room: asyncio.Event | None = None
    # Set while more than sendBufferBytes wait to be sent: the check for progress, and the
    # bytes that waited at the last check.
    watch: asyncio.TimerHandle | None = None
    behind: int = 0


@dataclass(slots=True)
class Traffic:
    """Messages and payload lengths through this node's sockets, both ways (for metrics).

    Plain integers bumped on the hot path: cheaper than any metrics call, read at scrape time.
    Lengths are of the payload as held: characters for text, bytes for binary.
    """

    messages_in: int = 0
    messages_out: int = 0
    length_in: int = 0
    length_out: int = 0


def describe_connection(conn: LiveConnection) -> dict[str, object]:
    """A connection as ``GetConnection`` describes it: connectedAt, identity, lastActiveAt."""
    return {
        "connectedAt": format_iso_time(conn.facts.connected_at),
        "identity": {"sourceIp": conn.facts.source_ip, "userAgent": conn.facts.user_agent},
        "lastActiveAt": format_iso_time(conn.session.last_active_at_ms),
    }
