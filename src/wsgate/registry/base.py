"""The connection registry: what every node of a gateway shares, and how nodes reach each other.

A single node keeps it in memory; several nodes share it in Redis. The data plane keeps the
sockets; the registry keeps the facts the management API and other nodes need: which node owns
each connection, its identity and authorizer context, its groups, and which nodes are alive.
It also carries requests between nodes (:meth:`ConnectionRegistry.request`), so that a
``@connections`` call reaches only the node that holds the connection.

Every method may raise :class:`~wsgate.errors.RegistryUnavailable` when the backend cannot be
reached; callers decide what still works without it.
"""

from __future__ import annotations

import base64
import binascii
import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ConnectionPage",
    "ConnectionQuery",
    "ConnectionRecord",
    "ConnectionRegistry",
    "Heartbeat",
    "NodeHandler",
    "NodeStatus",
    "decode_cursor",
    "encode_cursor",
    "redact_url",
]


class ConnectionRecord(NamedTuple):
    """What is known about one live connection.

    A named tuple rather than a frozen dataclass: one is made per handshake (see
    ``server.registration``), and a frozen dataclass sets each field through
    ``object.__setattr__``.
    """

    connection_id: str
    stage: str
    node_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    principal: str | None = None
    # requestContext.authorizer of the connection's events (string values, as AWS sends them).
    authorizer: Mapping[str, str | None] | None = None
    # Refreshed in batches (see ConnectionRegistry.touch), so it may lag by a few seconds.
    last_active_at_ms: int = 0
    groups: frozenset[str] = frozenset()
    # The process of ``node_id`` that registered it (a random token per process): a node
    # restarted under the same id tells its predecessor's connections from its own by it.
    incarnation: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionQuery:
    """Which connections a listing wants; every condition is optional."""

    stage: str
    group: str | None = None
    principal: str | None = None
    connected_before_ms: int | None = None  # only connections with connected_at_ms < this
    limit: int = 100  # at least 1
    cursor: str | None = None  # from the previous page's ``next_cursor``


@dataclass(frozen=True, slots=True)
class ConnectionPage:
    """One page of a listing, oldest connection first (ties in id order).

    A page may hold fewer than ``limit`` records and still have a ``next_cursor``: a backend
    bounds the work one page costs. Only ``next_cursor is None`` means the listing is over.
    """

    records: tuple[ConnectionRecord, ...]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A node the registry knows of."""

    node_id: str
    alive: bool  # its heartbeat has not expired
    connections: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a node learns when it says it is alive."""

    # Another node claimed it since its last heartbeat (see ConnectionRegistry.heartbeat).
    declared_dead: bool
    # The incarnation of an unexpired heartbeat this one replaced, when it was not the
    # caller's own: a predecessor that died moments ago, or another live process that uses
    # the same node id.
    replaced: str | None = None
    # How long that replaced heartbeat still had to live.
    replaced_ttl_seconds: float = 0.0


# Answers a request another node sent to this one: request bytes in, reply bytes out.
NodeHandler = Callable[[bytes], Awaitable[bytes]]


class ConnectionRegistry(Protocol):
    """Shared connection state and node-to-node requests; every method is a coroutine.

    (``builtins.list`` in annotations: the ``list`` method shadows the name in this body.)
    """

    # -- connections -------------------------------------------------------------------------

    async def add(self, record: ConnectionRecord) -> None:
        """Register a connection (with its groups) once ``$connect`` has accepted it."""

    async def remove(self, connection_id: str) -> ConnectionRecord | None:
        """Forget a connection and its group memberships, atomically.

        Returns the record to exactly one caller, however many remove it at once: that caller
        runs its ``$disconnect``. None when it was not (or no longer) registered.
        """

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        """Look a connection up; None when unknown or gone."""

    async def count(self, stage: str | None = None) -> int:
        """How many connections are registered (on one stage, or in all)."""

    async def touch(self, last_active: Mapping[str, int]) -> None:
        """Record when connections were last active (epoch ms), many at once."""

    async def list(self, query: ConnectionQuery) -> ConnectionPage:
        """Page through a stage's connections, oldest first, filtered by the query.

        Raises:
            ValueError: ``query.limit`` is below 1, or ``query.cursor`` is not a cursor.
        """

    # -- groups ------------------------------------------------------------------------------

    async def join(
        self, stage: str, group: str, connection_ids: Sequence[str]
    ) -> builtins.list[str]:
        """Add connections to a group; returns the ids that are registered (others are gone).

        Only connections registered on ``stage`` join; the result keeps the order of
        ``connection_ids``, without duplicates.
        """

    async def leave(self, stage: str, group: str, connection_ids: Sequence[str]) -> None:
        """Remove connections from a group (unknown ids are ignored)."""

    async def members(self, stage: str, group: str) -> dict[str, str]:
        """A group's connections and the node that holds each: ``{connection_id: node_id}``."""

    async def owners(self, connection_ids: Sequence[str]) -> dict[str, str]:
        """The node of each registered connection among ``connection_ids`` (gone ones absent)."""

    # -- nodes -------------------------------------------------------------------------------

    async def heartbeat(self, node_id: str, ttl_seconds: float, incarnation: str = "") -> Heartbeat:
        """Say that ``node_id`` (the process ``incarnation``) is alive for ``ttl_seconds`` more.

        ``declared_dead`` is True when the node had been declared dead (another node claimed
        it): its connections are gone from the registry, and it must not serve them as if
        nothing happened. It is True once per claim: from that heartbeat on the node counts as
        alive again, and may go on serving new connections under the same id.
        """

    async def nodes(self) -> builtins.list[NodeStatus]:
        """Every node the registry knows, alive or not."""

    async def claim_node(self, node_id: str, claimer: str, ttl_seconds: float) -> bool:
        """Take the cleanup of a dead node; True for exactly one claimer until the claim expires.

        A node whose heartbeat has not expired cannot be claimed (False). The claimer holding
        the claim may claim again to extend it. A successful claim marks the node dead, so
        that its next :meth:`heartbeat` returns False.
        """

    async def node_connections(self, node_id: str) -> builtins.list[str]:
        """The connections registered as held by ``node_id``."""

    async def stale_connections(
        self, node_id: str, incarnation: str | None = None
    ) -> builtins.list[str]:
        """The connections of ``node_id`` that an incarnation other than ``incarnation`` holds.

        With None, other than the incarnation whose heartbeat is current (all of them once the
        node's heartbeat expired), read in the same atomic step: a node that claimed a dead
        one never takes the connections of a successor that started under its id meanwhile.
        """

    async def forget_node(self, node_id: str) -> None:
        """Drop a node that has been cleaned up (its heartbeat, claim and connection set).

        Connections still registered as held by the node stay listed, and keep the node in
        :meth:`nodes`, so that a later cleanup finds them. A claimed node that heartbeat
        since the claim (it came back) keeps its heartbeat: only the claim goes.
        """

    # -- node-to-node requests -----------------------------------------------------------------

    async def serve(self, node_id: str, handler: NodeHandler) -> None:
        """Answer requests addressed to ``node_id`` with ``handler`` until :meth:`close`.

        Calling it again replaces the handler. A handler that raises is logged on its node,
        and the requester gets a :class:`~wsgate.errors.RegistryError`.

        Raises:
            RegistryUnavailable: the backend cannot be reached; call again once it is back.
        """

    async def request(self, node_id: str, payload: bytes, timeout: float) -> bytes:
        """Send a request to one node and wait for its reply.

        Once the requester gives up (its error may be answered to a client as "not done"), the
        node never starts handling the request: a request that reaches it late is dropped.

        Raises:
            RegistryUnavailable: the backend cannot be reached.
            NodeUnreachable: no reply from the node within ``timeout`` seconds (at once when
                no node serves ``node_id``).
            RegistryError: the node's handler failed.
        """

    async def request_owner(
        self, connection_id: str, payload: bytes, timeout: float
    ) -> tuple[str, bytes] | None:
        """Send a request to the node that holds a connection, and wait for its reply.

        The lookup and the send are one step (one round trip to Redis). Returns the node and
        its reply, or None when no node holds the connection.

        Raises:
            RegistryUnavailable: the backend cannot be reached.
            NodeUnreachable: the owner did not answer within ``timeout`` seconds.
        """

    async def close(self) -> None:
        """Stop serving requests and release the backend."""


def encode_cursor(connected_at_ms: int, connection_id: str) -> str:
    """The opaque cursor of a listing that goes on after this connection."""
    raw = f"{connected_at_ms}:{connection_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The position a cursor made by :func:`encode_cursor` stands for.

    Raises:
        ValueError: not such a cursor.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        connected_at, separator, connection_id = raw.partition(":")
        if not separator or not connection_id:
            raise ValueError(cursor)
        return int(connected_at), connection_id
    except (ValueError, binascii.Error):
        raise ValueError(f"invalid cursor {cursor!r}") from None


def redact_url(url: str) -> str:
    """A registry URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
