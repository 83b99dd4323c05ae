"""The in-memory registry: the default for a single node.

Nothing is shared between processes, nor between two registries of one process: a request can
only reach a node this very registry serves. Heartbeats, claims and dead-node marks expire on a
monotonic clock, which tests may replace.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from wsgate.errors import NodeUnreachable, RegistryError
from wsgate.registry.base import (
    ConnectionPage,
    ConnectionQuery,
    ConnectionRecord,
    Heartbeat,
    NodeHandler,
    NodeStatus,
    decode_cursor,
    encode_cursor,
)

__all__ = ["MemoryRegistry"]

logger = logging.getLogger(__name__)

# How long a claimed node's next heartbeat still learns that it was declared dead.
_DEAD_MARK_SECONDS: Final = 24 * 3600.0


class MemoryRegistry:
    """Connection records in dicts; nothing survives the process.

    (``builtins.list`` in annotations: the ``list`` method shadows the name in this body.)
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, ConnectionRecord] = {}
        self._groups: dict[tuple[str, str], set[str]] = {}
        self._node_connections: dict[str, set[str]] = {}
        self._nodes: set[str] = set()
        self._alive_until: dict[str, float] = {}
        self._incarnations: dict[str, str] = {}  # of each node's last heartbeat
        self._claims: dict[str, tuple[str, float]] = {}
        self._dead_until: dict[str, float] = {}
        self._handlers: dict[str, NodeHandler] = {}

    # -- connections -----------------------------------------------------------------------------

    async def add(self, record: ConnectionRecord) -> None:
        """Register a connection, replacing any record with its id."""
        connection_id = record.connection_id
        if connection_id in self._records:
            self._drop(connection_id)
        self._records[connection_id] = record
        for group in record.groups:
            self._groups.setdefault((record.stage, group), set()).add(connection_id)
        held = self._node_connections.get(record.node_id)
        if held is None:
            self._node_connections[record.node_id] = held = set()
            self._nodes.add(record.node_id)
        held.add(connection_id)

    async def remove(self, connection_id: str) -> ConnectionRecord | None:
        """Forget a connection and its memberships; the record, or None when it was not there."""
        return self._drop(connection_id)

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        """Look a connection up."""
        return self._records.get(connection_id)

    async def count(self, stage: str | None = None) -> int:
        """How many connections are registered (on one stage, or in all)."""
        if stage is None:
            return len(self._records)
        return sum(1 for record in self._records.values() if record.stage == stage)

    async def touch(self, last_active: Mapping[str, int]) -> None:
        """Record when connections were last active; gone ones are skipped."""
        for connection_id, at_ms in last_active.items():
            record = self._records.get(connection_id)
            if record is not None:
                self._records[connection_id] = record._replace(last_active_at_ms=at_ms)

    async def list(self, query: ConnectionQuery) -> ConnectionPage:
        """A page of a stage's connections, oldest first."""
        if query.limit < 1:
            raise ValueError(f"limit must be at least 1, not {query.limit}")
        after = decode_cursor(query.cursor) if query.cursor is not None else None
        group = query.group
        ids = self._groups.get((query.stage, group), set()) if group is not None else None
        matches = sorted(
            (record.connected_at_ms, record.connection_id)
            for record in self._records.values()
            if record.stage == query.stage
            and (ids is None or record.connection_id in ids)
            and (query.principal is None or record.principal == query.principal)
            and (
                query.connected_before_ms is None
                or record.connected_at_ms < query.connected_before_ms
            )
        )
        if after is not None:
            matches = [key for key in matches if key > after]
        page = matches[: query.limit]
        more = len(matches) > query.limit
        return ConnectionPage(
            records=tuple(self._records[connection_id] for _, connection_id in page),
            next_cursor=encode_cursor(*page[-1]) if more else None,
        )

    def _drop(self, connection_id: str) -> ConnectionRecord | None:
        record = self._records.pop(connection_id, None)
        if record is None:
            return None
        for group in record.groups:
            members = self._groups.get((record.stage, group))
            if members is not None:
                members.discard(connection_id)
                if not members:
                    del self._groups[record.stage, group]
        self._node_connections.get(record.node_id, set()).discard(connection_id)
        return record

    # -- groups ----------------------------------------------------------------------------------

    async def join(
        self, stage: str, group: str, connection_ids: Sequence[str]
    ) -> builtins.list[str]:
        """Add the registered connections of a stage to a group; returns those ids."""
        joined = [cid for cid in dict.fromkeys(connection_ids) if self._on_stage(cid, stage)]
        if joined:
            self._groups.setdefault((stage, group), set()).update(joined)
        for connection_id in joined:
            record = self._records[connection_id]
            self._records[connection_id] = record._replace(groups=record.groups | {group})
        return joined

    async def leave(self, stage: str, group: str, connection_ids: Sequence[str]) -> None:
        """Remove connections from a group."""
        members = self._groups.get((stage, group), set())
        for connection_id in connection_ids:
            members.discard(connection_id)
            if self._on_stage(connection_id, stage):
                record = self._records[connection_id]
                self._records[connection_id] = record._replace(groups=record.groups - {group})
        if not members:
            self._groups.pop((stage, group), None)

    async def members(self, stage: str, group: str) -> dict[str, str]:
        """A group's connections and the node of each."""
        members = self._groups.get((stage, group), set())
        return {cid: self._records[cid].node_id for cid in sorted(members)}

    async def owners(self, connection_ids: Sequence[str]) -> dict[str, str]:
        """The node of each registered connection among ``connection_ids``."""
        records = self._records
        return {cid: records[cid].node_id for cid in connection_ids if cid in records}

    def _on_stage(self, connection_id: str, stage: str) -> bool:
        record = self._records.get(connection_id)
        return record is not None and record.stage == stage

    # -- nodes -----------------------------------------------------------------------------------

    async def heartbeat(self, node_id: str, ttl_seconds: float, incarnation: str = "") -> Heartbeat:
        """Mark a node alive; see :meth:`ConnectionRegistry.heartbeat`."""
        now = self._clock()
        dead = self._dead_until.pop(node_id, now) > now
        left = self._alive_until.get(node_id, now) - now
        previous = self._incarnations.get(node_id) if left > 0 else None
        self._alive_until[node_id] = now + ttl_seconds
        self._incarnations[node_id] = incarnation
        self._nodes.add(node_id)
        if previous is None or previous == incarnation:
            return Heartbeat(dead)
        return Heartbeat(dead, previous, left)

    async def nodes(self) -> builtins.list[NodeStatus]:
        """Every node known, in id order."""
        return [
            NodeStatus(node_id, self._alive(node_id), len(self._node_connections.get(node_id, ())))
            for node_id in sorted(self._nodes)
        ]

    async def claim_node(self, node_id: str, claimer: str, ttl_seconds: float) -> bool:
        """Take the cleanup of a node whose heartbeat expired."""
        now = self._clock()
        holder, until = self._claims.get(node_id, (claimer, now))
        if self._alive(node_id) or (holder != claimer and until > now):
            return False
        self._claims[node_id] = (claimer, now + ttl_seconds)
        self._dead_until[node_id] = now + _DEAD_MARK_SECONDS
        return True

    async def node_connections(self, node_id: str) -> builtins.list[str]:
        """The connections registered as held by ``node_id``."""
        return sorted(self._node_connections.get(node_id, ()))

    async def stale_connections(
        self, node_id: str, incarnation: str | None = None
    ) -> builtins.list[str]:
        """The connections of ``node_id`` held by another incarnation."""
        if incarnation is None and self._alive(node_id):
            incarnation = self._incarnations.get(node_id)
        return sorted(
            connection_id
            for connection_id in self._node_connections.get(node_id, ())
            if self._records[connection_id].incarnation != incarnation
        )

    async def forget_node(self, node_id: str) -> None:
        """Drop a cleaned-up node; see :meth:`ConnectionRegistry.forget_node`."""
        now = self._clock()
        claimed = self._claims.pop(node_id, ("", now))[1] > now
        came_back = claimed and self._dead_until.get(node_id, now) <= now
        if came_back:
            return
        self._alive_until.pop(node_id, None)
        self._incarnations.pop(node_id, None)
        if not self._node_connections.get(node_id):
            self._node_connections.pop(node_id, None)
            self._nodes.discard(node_id)

    def _alive(self, node_id: str) -> bool:
        return self._alive_until.get(node_id, 0.0) > self._clock()

    # -- node-to-node requests -------------------------------------------------------------------

    async def serve(self, node_id: str, handler: NodeHandler) -> None:
        """Answer requests to ``node_id`` (from this registry only) with ``handler``."""
        self._handlers[node_id] = handler

    async def request(self, node_id: str, payload: bytes, timeout: float) -> bytes:
        """Call the handler of a node this registry serves.

        Raises:
            NodeUnreachable: this registry does not serve the node, or its handler took longer
                than ``timeout`` seconds.
            RegistryError: the handler raised (the error is chained).
        """
        handler = self._handlers.get(node_id)
        if handler is None:
            raise NodeUnreachable(node_id, timeout)
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await handler(payload)
        except Exception as error:
            if scope.expired():
                raise NodeUnreachable(node_id, timeout) from None
            logger.exception("node %s failed to answer a request", node_id)
            raise RegistryError(f"node {node_id!r} failed to answer a request") from error

    async def request_owner(
        self, connection_id: str, payload: bytes, timeout: float
    ) -> tuple[str, bytes] | None:
        """Call the handler of the node that holds a connection (see :meth:`request`)."""
        record = self._records.get(connection_id)
        if record is None:
            return None
        return record.node_id, await self.request(record.node_id, payload, timeout)

    async def close(self) -> None:
        """Stop serving and drop every record."""
        self._handlers.clear()
        self._records.clear()
        self._groups.clear()
        self._node_connections.clear()
