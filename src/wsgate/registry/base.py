"""The connection registry: which connections exist, on which stage and node, since when.

A single node keeps it in memory; several nodes share it (a later backend). The data plane keeps
the sockets; the registry keeps the facts the management API and other nodes need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConnectionRecord", "ConnectionRegistry"]


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """What is known about one live connection."""

    connection_id: str
    stage: str
    node_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None


class ConnectionRegistry(Protocol):
    """Stores connection records; every method is a coroutine so backends may do I/O."""

    async def add(self, record: ConnectionRecord) -> None:
        """Register a connection once ``$connect`` has accepted it."""

    async def remove(self, connection_id: str) -> ConnectionRecord | None:
        """Forget a connection; returns its record if it was known."""

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        """Look a connection up; None when unknown or gone."""

    async def count(self) -> int:
        """How many connections are registered."""

    async def close(self) -> None:
        """Release the backend."""
