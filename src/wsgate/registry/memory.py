"""The in-memory registry: the default for a single node."""

from __future__ import annotations

from wsgate.registry.base import ConnectionRecord

__all__ = ["MemoryRegistry"]


class MemoryRegistry:
    """Connection records in a dict; nothing survives the process."""

    def __init__(self) -> None:
        self._records: dict[str, ConnectionRecord] = {}

    async def add(self, record: ConnectionRecord) -> None:
        """Register a connection."""
        self._records[record.connection_id] = record

    async def remove(self, connection_id: str) -> ConnectionRecord | None:
        """Forget a connection."""
        return self._records.pop(connection_id, None)

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        """Look a connection up."""
        return self._records.get(connection_id)

    async def count(self) -> int:
        """How many connections are registered."""
        return len(self._records)

    async def close(self) -> None:
        """Drop every record."""
        self._records.clear()
