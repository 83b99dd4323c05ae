"""An observer that writes one access-log line per request, as a stage's access logging does.

Lines collect in memory and reach the destination at most every half second, or at once when
64 KB are waiting, so a request never waits on a disk write of its own. Without a running event
loop (a script, a synchronous test) each line is written as it comes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Final, TextIO

from wsgate.core.accesslog import AccessLogFormat, render_access_log
from wsgate.observability.hooks import ConnectionEvent, RequestRecord

__all__ = ["AccessLogObserver"]

FLUSH_DELAY: Final = 0.5  # seconds a line may wait in memory
FLUSH_BYTES: Final = 64 * 1024  # bytes that trigger a write at once
_STREAMS: Final = frozenset({"stderr", "stdout"})

logger = logging.getLogger(__name__)


class AccessLogObserver:
    """Render each request with an access-log format and append it to a destination.

    Args:
        fmt: the compiled ``AccessLogSettings.Format``.
        destination: ``"stderr"``, ``"stdout"`` or a file path (appended to, created if missing).
        stage: log only the requests of this stage; every stage when None.
    """

    def __init__(
        self, fmt: AccessLogFormat, destination: str = "stderr", *, stage: str | None = None
    ) -> None:
        self._format = fmt
        self._stage = stage
        self._stream_name = destination if destination in _STREAMS else None
        # A file opens once, here, at startup; streams are looked up at each write so that
        # a replaced sys.stderr (pytest's capture, a daemon's redirect) is honoured.
        self._file: TextIO | None = None
        if self._stream_name is None:
            self._file = open(destination, "a", encoding="utf-8")
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def on_request(self, record: RequestRecord) -> None:
        """Buffer one rendered line; schedule or perform the write."""
        if self._closed or (self._stage is not None and record.stage != self._stage):
            return
        line = render_access_log(self._format, record) + "\n"
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._schedule()

    def on_connection(self, event: ConnectionEvent) -> None:
        """Ignored: access logs have one line per request, not per connection."""

    def flush(self) -> None:
        """Write the buffered lines now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        target = self._target()
        try:
            target.write(text)
            target.flush()
        except (OSError, ValueError):
            # Observers must not raise into the data plane; the lines are lost, say so once.
            logger.exception("access log write failed")

    def close(self) -> None:
        """Flush and close the file; later records are dropped."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._file is not None:
            self._file.close()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # nothing would run a timer
            return
        self._timer = loop.call_later(FLUSH_DELAY, self.flush)

    def _target(self) -> TextIO:
        if self._file is not None:
            return self._file
        return sys.stdout if self._stream_name == "stdout" else sys.stderr
