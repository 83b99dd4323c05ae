"""What stamps each request: a fresh id and the wall-clock time.

The pure core takes both as arguments (STYLE §2); this is where the I/O layer draws them.
"""

from __future__ import annotations

import os
import time
from typing import Final

from wsgate.core import ids

__all__ = ["new_id", "new_trace_id", "now_ms"]


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


def new_trace_id() -> str:
    """A fresh ``X-Amzn-Trace-Id`` value for a handshake, its randomness drawn in batches too."""
    if not _spare_trace_random:
        size = ids.TRACE_RANDOM_BYTES
        block = os.urandom(size * _ID_BATCH)
        _spare_trace_random.extend(
            block[start : start + size] for start in range(0, len(block), size)
        )
    return ids.format_trace_id(int(time.time()), _spare_trace_random.pop())


_spare_trace_random: list[bytes] = []


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
