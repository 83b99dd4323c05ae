"""aiohttp's WebSocket response with AWS's per-frame size limit.

aiohttp bounds whole messages; AWS also refuses any single frame over 32 KB with 1009 (§1.4). The
engine's parser is wrapped so that :class:`~wsgate.core.frames.FrameScanner` sees the raw bytes
first. This reaches into two aiohttp internals (``_post_start`` and the protocol's
``_payload_parser``); ``tests/integration/test_dataplane.py`` catches a change in either.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.helpers import set_exception
from aiohttp.http_websocket import WebSocketError

from wsgate.core.frames import FrameScanner

__all__ = ["GatewayWebSocket"]


class GatewayWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket with AWS's per-frame size limit on incoming frames.

    aiohttp bounds whole messages; AWS also refuses any single frame over 32 KB with 1009. A
    :class:`FrameScanner` watches frame headers in the raw stream ahead of aiohttp's parser.
    """

    def __init__(self, *, frame_limit: int, message_limit: int, **kwargs: Any) -> None:
        # aiohttp refuses a message of exactly max_msg_size bytes; AWS allows up to the limit.
        super().__init__(max_msg_size=message_limit + 1, **kwargs)
        self._frame_limit = frame_limit

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        super()._post_start(request, protocol, writer)
        parser = request.protocol._payload_parser
        if parser is not None and self._frame_limit < self._max_msg_size - 1:
            guard = _GuardedParser(parser, self._reader, self._frame_limit)
            request.protocol._payload_parser = guard


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
