"""Where the control plane keeps its definitions: SQLite (``wsgate serve --state FILE``) on
one node, Redis (:mod:`wsgate.registry.definitions`) when nodes share a Redis registry.

In SQLite, one row per API holds its whole definition as JSON, written in one transaction after each
change, so a definition on disk is always one the control plane accepted. The writes are small
and run in a worker thread (``asyncio.to_thread``), one at a time, so the event loop never waits
on the disk. Without a file, nothing is kept: the definitions live as long as the process.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, Protocol

from wsgate.errors import ConfigError, ConfigIssue
from wsgate.registry import check_registry_url
from wsgate.types import JSONObject

__all__ = ["ApiStore", "DefinitionStore", "definition_store", "read_definitions"]

Changed = Callable[[str], Awaitable[None]]


class DefinitionStore(Protocol):
    """What the control plane keeps its definitions in."""

    @property
    def shared(self) -> bool:
        """True when other nodes write it too: read before changing, watch for changes."""

    async def load(self) -> dict[str, JSONObject]:
        """Every definition kept."""

    async def fetch(self, api_id: str) -> JSONObject | None:
        """One definition as it is now (None: there is none)."""

    async def save(self, api_id: str, definition: JSONObject) -> None:
        """Keep one definition."""

    async def delete(self, api_id: str) -> None:
        """Forget one definition."""

    async def watch(self, changed: Changed) -> None:
        """Call ``changed(apiId)`` for each definition another node changes."""

    async def close(self) -> None:
        """Stop watching and release what is held."""


def definition_store(state: str | Path | None, registry: str, *, prefix: str) -> DefinitionStore:
    """SQLite (``state``; None keeps nothing) on one node, Redis when the registry is Redis.

    Raises:
        ConfigError: both a state file and a Redis registry are given.
    """
    check_registry_url(registry)
    if registry in ("", "memory://"):
        return ApiStore(state)
    if state is not None:
        message = (
            "with a Redis registry the control plane keeps its definitions in Redis, shared "
            "by every node: drop --state"
        )
        raise ConfigError([ConfigIssue("--state", message)])
    from wsgate.registry.definitions import RedisApiStore

    return RedisApiStore(registry, prefix=prefix)


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS apis (api_id TEXT PRIMARY KEY, definition TEXT NOT NULL)"
)


class ApiStore:
    """The definitions of the control plane's APIs, by id; ``path`` None keeps none."""

    shared: Final = False  # this process alone writes the file

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = asyncio.Lock()
        self._db: sqlite3.Connection | None = None

    async def load(self) -> dict[str, JSONObject]:
        """Open the file (made when absent) and read every definition."""
        if self.path is None:
            return {}
        async with self._lock:
            return await asyncio.to_thread(self._open)

    async def fetch(self, api_id: str) -> JSONObject | None:
        """One API's definition as kept (None: none kept)."""
        if self._db is None:
            return None
        db = self._db
        async with self._lock:
            row = await asyncio.to_thread(
                lambda: db.execute(
                    "SELECT definition FROM apis WHERE api_id = ?", (api_id,)
                ).fetchone()
            )
        return None if row is None else json.loads(row[0])

    async def watch(self, changed: Changed) -> None:
        """Nothing to watch: no other process writes the file."""

    async def save(self, api_id: str, definition: JSONObject) -> None:
        """Keep one API's definition (replacing the one kept)."""
        text = json.dumps(definition, separators=(",", ":"))
        await self._write("INSERT OR REPLACE INTO apis VALUES (?, ?)", (api_id, text))

    async def delete(self, api_id: str) -> None:
        """Forget one API."""
        await self._write("DELETE FROM apis WHERE api_id = ?", (api_id,))

    async def close(self) -> None:
        """Close the file."""
        async with self._lock:
            if self._db is not None:
                await asyncio.to_thread(self._db.close)
                self._db = None

    def _open(self) -> dict[str, JSONObject]:
        assert self.path is not None
        # Used from worker threads, one at a time (the lock).
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        rows = self._db.execute("SELECT api_id, definition FROM apis").fetchall()
        return {api_id: json.loads(text) for api_id, text in rows}

    async def _write(self, statement: str, values: tuple[str, ...]) -> None:
        if self._db is None:
            return
        db = self._db
        async with self._lock:
            await asyncio.to_thread(db.execute, statement, values)


def read_definitions(path: str | Path) -> dict[str, JSONObject]:
    """Every definition a state file keeps, read without changing it (``wsgate export``).

    Raises:
        OSError: the file cannot be opened, or is not a state file.
    """
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            rows = db.execute("SELECT api_id, definition FROM apis").fetchall()
        finally:
            db.close()
    except sqlite3.Error as error:
        raise OSError(f"not a wsgate state file ({error})") from error
    return {api_id: json.loads(text) for api_id, text in rows}
