"""Watching a function's code directory for edited ``.py`` files (``reload=True``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

__all__ = ["CodeWatcher"]

logger = logging.getLogger(__name__)

_STOP_GRACE = 2.0


class CodeWatcher:
    """A task that watches a directory with watchfiles and reports each batch of ``.py`` edits.

    Args:
        name: the integration's name, used in the task's name and in logs.
        root: the directory to watch.
        on_change: called with the changed paths, relative to ``root`` and sorted; an exception
            it raises is logged and ends the watch.
    """

    def __init__(self, name: str, root: str, on_change: Callable[[list[str]], None]) -> None:
        self._name = name
        self._root = root
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Start watching, unless already watching."""
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._watch(), name=f"wsgate-reload-{self._name}")
        # One turn of the loop lets awatch register its watches before start() returns, so
        # an edit made right after start is not missed.
        await asyncio.sleep(0)

    async def stop(self) -> None:
        """Stop watching, cancelling the watch if it does not end within a grace period."""
        if self._task is None:
            return
        self._stopping.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, _STOP_GRACE)
        except TimeoutError:
            pass  # wait_for has cancelled it

    async def _watch(self) -> None:
        from watchfiles import PythonFilter, awatch

        try:
            async for changes in awatch(
                self._root, watch_filter=PythonFilter(), stop_event=self._stopping
            ):
                self._on_change(sorted(os.path.relpath(path, self._root) for _, path in changes))
        except Exception:
            logger.exception("watching %s for function %s failed", self._root, self._name)
