"""Keeping the shared registry in step with this node's sockets, even across outages.

Registration never blocks serving: a connection that cannot be registered (the registry is
unreachable) is served anyway and remembered, and so is one that ended without being removed;
:class:`~wsgate.server.cluster.Cluster` registers them again once the registry answers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Final

from wsgate.errors import RegistryUnavailable
from wsgate.observability.logs import log_event
from wsgate.registry.base import ConnectionRecord, ConnectionRegistry
from wsgate.server.connection import LiveConnection
from wsgate.types import new_tuple

__all__ = ["Registration"]

logger = logging.getLogger(__name__)

# Registrations sent at once when a node registers its connections again.
_REGISTER_BATCH: Final = 64


class Registration:
    """This node's connections in the registry.

    Args:
        incarnation: this process among all that ran as ``node_id`` (default: a fresh random
            token); stored with each connection and each heartbeat, so that a node restarted
            under the same id knows which registered connections its predecessor left.
    """

    def __init__(
        self, registry: ConnectionRegistry, node_id: str, incarnation: str | None = None
    ) -> None:
        self.registry = registry
        self.node_id = node_id
        self.incarnation = incarnation or secrets.token_hex(8)
        # Connections that ended while the registry was unreachable, to remove once it is back.
        self._unremoved: set[str] = set()
        # Open connections the registry has not recorded yet (it was unreachable).
        self._unregistered: set[str] = set()

    async def register(self, conn: LiveConnection) -> None:
        """Record the connection in the registry; without one, it still serves locally."""
        try:
            await self.registry.add(self.record(conn))
        except RegistryUnavailable as error:
            log_event(
                logger,
                logging.WARNING,
                f"connection not registered (registered again once the registry is back): {error}",
                connectionId=conn.facts.connection_id,
            )
            self._unregistered.add(conn.facts.connection_id)
            return
        conn.registered = True

    async def unregister(self, conn: LiveConnection) -> bool:
        """Remove the connection from the registry; False if another node already did.

        A registered connection that the registry no longer has was taken by a node that
        declared this one dead and ran its ``$disconnect``; it must not run twice.
        """
        connection_id = conn.facts.connection_id
        self._unregistered.discard(connection_id)
        if conn.abandoned:
            return False
        try:
            record = await self.registry.remove(connection_id)
        except RegistryUnavailable:
            self._unremoved.add(connection_id)
            return True
        return record is not None or not conn.registered

    def record(self, conn: LiveConnection) -> ConnectionRecord:
        """What the registry keeps of an open connection."""
        facts = conn.facts
        authorizer = facts.authorizer
        fields = (
            facts.connection_id,
            conn.stage.name,
            self.node_id,
            facts.connected_at,
            facts.source_ip,
            facts.user_agent,
            conn.principal,
            (
                {k: None if v is None else str(v) for k, v in authorizer.items()}
                if authorizer is not None
                else None
            ),
            conn.session.last_active_at_ms,
            conn.groups,
            self.incarnation,
        )
        # One per handshake: built without ConnectionRecord.__new__'s argument handling.
        return new_tuple(ConnectionRecord, fields)

    async def register_all(
        self, live: Mapping[str, LiveConnection], *, only_missing: bool = False
    ) -> int:
        """Make the registry hold the open connections again; returns how many were added.

        With ``only_missing``, only those whose registration failed; otherwise all of them
        (after an outage the registry may have lost everything). Calls run a batch at a time,
        so that round trips overlap.
        """
        for connection_id in list(self._unremoved):
            await self.registry.remove(connection_id)
            self._unremoved.discard(connection_id)
        if only_missing:
            conns = [live[cid] for cid in list(self._unregistered) if cid in live]
        else:
            conns = list(live.values())
        for start in range(0, len(conns), _REGISTER_BATCH):
            batch = conns[start : start + _REGISTER_BATCH]
            await asyncio.gather(*(self.registry.add(self.record(conn)) for conn in batch))
            for conn in batch:
                conn.registered = True
                self._unregistered.discard(conn.facts.connection_id)
        return len(conns)

    def unsynced(self) -> bool:
        """Whether some connection is missing from the registry, or left there after it ended."""
        return bool(self._unremoved or self._unregistered)
