"""aiohttp's WebSocket response with AWS's per-frame size limit.

aiohttp bounds whole messages; AWS also refuses any single frame over 32 KB with 1009 (§1.4). The
engine's parser is wrapped so that :class:`~wsgate.core.frames.FrameScanner` sees the raw bytes
first. This reaches into two aiohttp internals (``_post_start`` and the protocol's
``_payload_parser``); ``tests/integration/test_dataplane.py`` catches a change in either.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.helpers import set_exception
from aiohttp.http_websocket import WebSocketError

from wsgate.core.frames import OPCODE_BINARY, OPCODE_TEXT, FrameScanner, encode_frame

__all__ = ["CorkedTransport", "GatewayWebSocket"]


class GatewayWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket with AWS's per-frame size limit and batched writes.

    aiohttp bounds whole messages; AWS also refuses any single frame over 32 KB with 1009. A
    :class:`FrameScanner` watches frame headers in the raw stream ahead of aiohttp's parser.

    Frames sent while one batch of incoming messages is handled leave in one write at the end
    of the event loop's turn (:class:`CorkedTransport`): one system call for a batch instead of
    one per frame.
    """

    def __init__(self, *, frame_limit: int, message_limit: int, **kwargs: Any) -> None:
        # aiohttp refuses a message of exactly max_msg_size bytes; AWS allows up to the limit.
        super().__init__(max_msg_size=message_limit + 1, **kwargs)
        self._frame_limit = frame_limit
        self.cork: CorkedTransport | None = None

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        super()._post_start(request, protocol, writer)
        self.cork = writer.transport = CorkedTransport(writer.transport)
        parser = request.protocol._payload_parser
        if parser is not None and self._frame_limit < self._max_msg_size - 1:
            guard = _GuardedParser(parser, self._reader, self._frame_limit)
            request.protocol._payload_parser = guard

    def send_now(self, data: str | bytes) -> bool:
        """Queue one message (text for str) without waiting; False once the socket is closing.

        The frame goes to the cork, which writes it at the end of this loop turn. aiohttp's
        writer is bypassed for data frames: it frames in Python, compresses (never, here) and
        drains (the data plane bounds buffers itself, see ``sendBufferBytes``).
        """
        cork = self.cork
        if cork is None or self.closed or cork.is_closing():
            return False
        if isinstance(data, str):
            cork.write(encode_frame(OPCODE_TEXT, data.encode()))
        else:
            cork.write(encode_frame(OPCODE_BINARY, data))
        return True

    def buffered_bytes(self) -> int:
        """Bytes sent to this client and not yet on the wire."""
        if self.cork is not None:
            return self.cork.get_write_buffer_size()
        transport = self._req.transport if self._req is not None else None
        return transport.get_write_buffer_size() if transport is not None else 0

    def flush(self) -> None:
        """Hand corked frames to the real transport now."""
        if self.cork is not None:
            self.cork.flush()

    def _close_transport(self) -> None:
        # aiohttp closes the real transport directly: send what is still corked first.
        if self.cork is not None:
            self.cork.flush()
        super()._close_transport()


class CorkedTransport:
    """Collects writes and hands them to the real transport once per event loop turn."""

    __slots__ = ("_chunks", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._chunks: list[bytes] = []
        self._pending = 0

    def write(self, data: bytes) -> None:
        """Queue ``data``; the first write of a turn schedules the flush."""
        if not self._chunks:
            self._loop.call_soon(self.flush)
        self._chunks.append(data)
        self._pending += len(data)

    def flush(self) -> None:
        """Hand everything queued to the real transport now."""
        if not self._chunks:
            return
        chunks, self._chunks, self._pending = self._chunks, [], 0
        if not self._transport.is_closing():
            self._transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def get_write_buffer_size(self) -> int:
        """Bytes not yet on the wire: the real transport's buffer plus what is corked."""
        return self._transport.get_write_buffer_size() + self._pending

    def is_closing(self) -> bool:
        """True once the real transport is closing."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _GuardedParser:
    """Feeds bytes to aiohttp's parser after the frame scanner has looked at them."""

    __slots__ = ("_failed", "_parser", "_queue", "_scanner")

    def __init__(self, parser: Any, queue: Any, frame_limit: int) -> None:
        self._parser = parser
        self._queue = queue
        self._scanner = FrameScanner(frame_limit)
        self._failed = False

    def feed_eof(self) -> Any:
        return self._parser.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        oversized = self._scanner.feed(data)
        if oversized is not None:
            self._failed = True
            error = WebSocketError(
                WSCloseCode.MESSAGE_TOO_BIG, f"Frame of {oversized} bytes exceeds the frame limit"
            )
            set_exception(self._queue, error)
            return True, b""
        result: tuple[bool, bytes] = self._parser.feed_data(data)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)
