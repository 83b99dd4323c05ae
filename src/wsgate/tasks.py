"""Stopping background tasks reliably.

On Python 3.11, ``asyncio.wait_for`` can swallow a cancellation that arrives as its inner call
completes (CPython gh-86296, fixed in 3.12), and redis-py wraps its socket writes in it. A
task cancelled once may then go on running, and a ``while True`` loop never ends. So tasks are
cancelled again until they are done, within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

__all__ = ["cancel_and_wait"]

logger = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Cancel ``tasks`` (again and again if need be) and wait until they end or time runs out."""
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.1, deadline - loop.time()))
    if pending:
        logger.warning("%d background tasks did not stop within %.1f s", len(pending), timeout)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failure was logged where it happened
