"""Lines of input for ``wsgate connect``, read without blocking the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
from collections.abc import AsyncIterator
from typing import Protocol, TextIO

__all__ = ["LineReader", "open_lines"]

# Lines longer than this are refused by the stdin reader; aiohttp's default max_msg_size.
_LINE_LIMIT = 4 * 1024 * 1024


class LineReader(Protocol):
    """Where :func:`open_lines` gives its lines from."""

    async def readline(self) -> str | None:
        """Return the next line without its line ending, or None at end of input."""


@contextlib.asynccontextmanager
async def open_lines(stdin: TextIO) -> AsyncIterator[LineReader]:
    """Read ``stdin`` without blocking the event loop.

    Pipes, sockets and terminals are watched by the loop itself; anything else (regular
    files, /dev/null, in-memory streams) is read by a daemon thread, since epoll refuses
    those and their reads never block for long anyway.
    """
    try:
        fd = stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        fd, mode = -1, 0
    watchable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (fd >= 0 and os.isatty(fd))
    encoding = getattr(stdin, "encoding", None) or "utf-8"
    if not watchable:
        yield _ThreadLineReader(stdin, encoding)
        return
    loop = asyncio.get_running_loop()
    was_blocking = os.get_blocking(fd)
    # A duplicate, because the transport closes the file it reads and stdin must outlive us.
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
    except BaseException:
        pipe.close()
        raise
    try:
        yield _StreamLineReader(reader, encoding)
    finally:
        transport.close()
        pipe.close()
        # O_NONBLOCK belongs to the open file description the duplicate shares with our
        # stdin, and with the shell's terminal: leave it as we found it.
        os.set_blocking(fd, was_blocking)


class _StreamLineReader:
    """Lines from an asyncio stream fed by the event loop."""

    def __init__(self, reader: asyncio.StreamReader, encoding: str) -> None:
        self._reader = reader
        self._encoding = encoding

    async def readline(self) -> str | None:
        """Return the next line without its line ending, or None at end of input."""
        data = await self._reader.readline()
        if not data:
            return None
        return _strip_line_ending(data.decode(self._encoding, errors="replace"))


class _ThreadLineReader:
    """Lines read by a daemon thread, which cannot hold up interpreter exit."""

    def __init__(self, stdin: TextIO, encoding: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._stdin = stdin
        self._encoding = encoding
        threading.Thread(target=self._read, name="wsgate-stdin", daemon=True).start()

    async def readline(self) -> str | None:
        """Return the next line without its line ending, or None at end of input."""
        return await self._lines.get()

    def _read(self) -> None:
        while True:
            line = self._readline()
            try:
                self._loop.call_soon_threadsafe(
                    self._lines.put_nowait, _strip_line_ending(line) if line else None
                )
            except RuntimeError:  # the loop has closed: nobody is listening any more
                return
            if not line:
                return

    def _readline(self) -> str:
        # Decode the bytes ourselves, as for a pipe: one bad byte must not end the input.
        binary = getattr(self._stdin, "buffer", None)
        try:
            if binary is None:
                return self._stdin.readline()
            return bytes(binary.readline()).decode(self._encoding, errors="replace")
        except (OSError, ValueError):  # closed or unreadable: treat as the end of input
            return ""


def _strip_line_ending(line: str) -> str:
    return line.removesuffix("\n").removesuffix("\r")
