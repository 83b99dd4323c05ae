"""Sending to a client with a bounded buffer, and dropping clients that stop reading.

A client is judged by its progress, not by one write: a reply larger than the buffer, or a
burst, is sent; once more than ``sendBufferBytes`` wait, a watch starts, and only a client that
reads nothing for ``slowReaderSeconds`` is dropped as a slow reader. What waits for a client
never passes twice ``sendBufferBytes``: a frame that would pass it is refused, and its sender
reports it undelivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from wsgate.core.session import CloseCause, State
from wsgate.errors import ConnectionNotFound, ManagementError
from wsgate.server.connection import LiveConnection, Traffic

__all__ = ["Outbound"]

# How often a client behind on its reading is checked for progress.
_READER_CHECK_SECONDS: Final = 1.0


class Outbound:
    """Every frame the data plane sends to a client goes through :meth:`send`.

    Args:
        traffic: the node's counters, bumped for each frame handed to a socket.
        close: closes a connection for a server-side cause (a slow reader's).
    """

    __slots__ = ("_close", "_traffic")

    def __init__(
        self, traffic: Traffic, close: Callable[[LiveConnection, CloseCause], object]
    ) -> None:
        self._traffic = traffic
        self._close = close

    def send(self, conn: LiveConnection, data: str | bytes) -> bool:
        """Hand one message to the socket; False when the connection is gone, or so far behind
        that its unsent data would pass twice ``sendBufferBytes``."""
        session = conn.session
        if session.state is not State.OPEN:
            return False
        ws = conn.ws
        size = len(data)
        buffered = ws.buffered_bytes()
        limit = conn.stage.config.limits.send_buffer_bytes
        if buffered + size > limit:
            if buffered > limit and buffered + size > 2 * limit:
                return False  # memory stays bounded: the caller reports it undelivered
            if conn.watch is None:
                self._watch(conn, buffered + size, time.monotonic())
        if not ws.send_now(data):
            return False
        session.touch(time.monotonic())
        traffic = self._traffic
        traffic.messages_out += 1
        traffic.length_out += size
        return True

    def post(self, conn: LiveConnection, data: str | bytes) -> None:
        """Send one message for the management API, into the socket's transport at once.

        Raises:
            ConnectionNotFound: the connection is gone (or goes while sending).
            ManagementError: 429 ``LimitExceededException``, the client is so far behind on its
                reading that the gateway holds twice ``sendBufferBytes`` for it already.
        """
        if not self.send(conn, data):
            if conn.session.state is State.OPEN:  # open, but too far behind on its reading
                waiting = conn.ws.buffered_bytes()
                message = f"the client has {waiting} bytes it has not read yet; try again later"
                raise ManagementError(429, "LimitExceededException", message)
            raise ConnectionNotFound(conn.facts.connection_id)
        conn.ws.flush()  # 200 means the frame is in the socket's transport, not in a batch

    def _watch(self, conn: LiveConnection, buffered: int, since: float) -> None:
        """Check again later whether a client behind on its reading makes progress."""
        conn.behind = buffered
        loop = asyncio.get_running_loop()
        conn.watch = loop.call_later(_READER_CHECK_SECONDS, self._check, conn, since)

    def _check(self, conn: LiveConnection, since: float) -> None:
        conn.watch = None
        if conn.session.state is not State.OPEN:
            return
        limits = conn.stage.config.limits
        buffered = conn.ws.buffered_bytes()
        if buffered <= limits.send_buffer_bytes:
            return  # caught up
        now = time.monotonic()
        if buffered < conn.behind:
            self._watch(conn, buffered, now)  # it reads: time starts again
        elif now - since >= limits.slow_reader_seconds:
            self._close(conn, CloseCause.SLOW_READER)
        else:
            self._watch(conn, buffered, since)
