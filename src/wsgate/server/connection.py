"""What the data plane keeps per stage and per connection, and the ids it hands out."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any, Final

from wsgate.config.model import StageConfig
from wsgate.core import ids
from wsgate.core.events import ConnectionFacts, format_iso_time
from wsgate.core.routing import Expression
from wsgate.core.session import Session
from wsgate.core.throttle import TokenBucket
from wsgate.integrations.base import Integration
from wsgate.server.websocket import GatewayWebSocket

__all__ = [
    "LiveConnection",
    "RouteTarget",
    "StageRuntime",
    "Traffic",
    "describe_connection",
    "new_id",
    "now_ms",
]


def new_id() -> str:
    """A fresh, unguessable AWS-shaped id (connection, request or message).

    Connection ids address sockets, so they come from the OS's random source; drawing and
    encoding them in batches spares a system call and an encoding pass per message.
    """
    if not _spare_ids:
        _spare_ids.extend(ids.format_ids(os.urandom(ids.BATCH_CHUNK * _ID_BATCH)))
    return _spare_ids.pop()


_ID_BATCH: Final = 256
_spare_ids: list[str] = []


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A route bound to its integration for one stage."""

    route_key: str
    integration_name: str
    integration: Integration
    timeout_ms: int
    two_way: bool


@dataclass(frozen=True, slots=True)
class StageRuntime:
    """A stage ready to serve: its routes resolved, its expression compiled."""

    name: str
    config: StageConfig
    expression: Expression
    routes: dict[str, RouteTarget | None]  # None: the route exists without an integration


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
