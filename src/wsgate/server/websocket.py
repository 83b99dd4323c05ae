"""aiohttp's WebSocket response with AWS's per-frame size limit and RFC 6455's frame checks.

aiohttp bounds whole messages; AWS also refuses any single frame over 32 KB with 1009 (§1.4).
aiohttp's reader also takes what RFC 6455 forbids a client to send: unmasked frames (§5.1) and
64-bit lengths with the most significant bit set (§5.2, which it answers as too big). The
engine's parser is wrapped so that :class:`_FrameGuard` reads every frame header in the raw bytes
first. This reaches into four aiohttp internals (``_post_start`` and the protocol's
``_payload_parser``, ``_message_tail`` and ``_parser``). The upgrade's answer is written by
:meth:`GatewayWebSocket.prepare` itself, which sets the state aiohttp's ``prepare`` would (the
response's ``_req``, ``_payload_writer``, ``_loop``, ``_keep_alive`` and ``_compress``, from the
request's ``_protocol``, ``_loop`` and ``_payload_writer``). ``tests/integration/test_rfc6455.py``,
``tests/integration/test_dataplane.py`` and ``tests/unit/server/test_websocket.py`` catch a
change in any of them.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
from typing import Any, Final

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import rfc822_formatted_time, set_exception
from aiohttp.http import SERVER_SOFTWARE, WS_KEY, WebSocketWriter
from aiohttp.http_websocket import WebSocketError
from aiohttp.log import ws_logger

from wsgate.core.frames import OPCODE_BINARY, OPCODE_TEXT, FrameScanner, encode_frame

__all__ = ["CorkedTransport", "GatewayWebSocket"]


class GatewayWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket with AWS's per-frame size limit, RFC 6455's checks and batched writes.

    aiohttp bounds whole messages; AWS also refuses any single frame over 32 KB with 1009. A
    :class:`_FrameGuard` reads frame headers in the raw stream ahead of aiohttp's parser and
    fails the connection with 1002 for an unmasked frame or an impossible length.

    A client's close frame is not answered here (no ``autoclose``): the data plane answers it
    with the code ``core.session.close_for`` decides, the client's own when it is valid
    (RFC 6455 §5.5.1), 1002 when it is not (§7.4).

    Frames sent while one batch of incoming messages is handled leave in one write at the end
    of the event loop's turn (:class:`CorkedTransport`): one system call for a batch instead of
    one per frame.
    """

    # aiohttp's response keeps its state in a __dict__ whose keys all its instances share;
    # attributes of the subclass in that dict would make each instance's dict a bigger one.
    __slots__ = ("_frame_limit", "cork")

    def __init__(self, *, frame_limit: int, message_limit: int, **kwargs: Any) -> None:
        # aiohttp refuses a message of exactly max_msg_size bytes; AWS allows up to the limit.
        super().__init__(max_msg_size=_message_bound(message_limit), autoclose=False, **kwargs)
        self._frame_limit = frame_limit
        self.cork: CorkedTransport | None = None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter:
        """Answer the upgrade with one write of the 101, below aiohttp's response machinery.

        The data plane checked the handshake before ``$connect`` (``server.handshake``, RFC 6455
        §4.2.1, more strictly than aiohttp), so it is not checked again here; and the answer,
        always the same few headers, is written as bytes rather than built in multidicts,
        serialized and sent through the HTTP writer. It carries what aiohttp's did: Upgrade,
        Connection, Sec-WebSocket-Accept, the subprotocol when one is agreed, Date and Server.
        """
        if self._payload_writer is not None:
            return self._payload_writer
        handler = request._protocol
        transport = handler.transport
        if transport is None:
            raise ConnectionResetError("Connection lost")
        headers = request.headers
        key = headers[hdrs.SEC_WEBSOCKET_KEY]
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_KEY).digest()).decode()
        protocol = self._agreed_protocol(request)
        agreed = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
        date = rfc822_formatted_time()
        answer = f"{_UPGRADED}Sec-WebSocket-Accept: {accept}\r\n{agreed}Date: {date}\r\n{_SERVER}"
        self._loop = request._loop
        self._keep_alive = False
        self._compress = 0
        self._req = request
        payload_writer = self._payload_writer = request._payload_writer
        writer = WebSocketWriter(handler, transport, limit=self._writer_limit)
        transport.write(answer.encode())
        self._post_start(request, protocol, writer)
        return payload_writer

    def _agreed_protocol(self, request: web.BaseRequest) -> str | None:
        """The first subprotocol the client offers that ``$connect`` chose, as aiohttp picks."""
        offered = request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL)
        if offered is None:
            return None
        wanted = [name.strip() for name in offered.split(",")]
        for name in wanted:
            if name in self._protocols:
                return name
        ws_logger.warning(
            "%s: Client protocols %r don't overlap server-known ones %r",
            request.remote,
            wanted,
            self._protocols,
        )
        return None

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        handler = request.protocol
        # Bytes that arrived while $connect ran wait in the handler's tail, and aiohttp feeds
        # them to its parser inside _post_start: take them first so the guard reads them too.
        early, handler._message_tail = handler._message_tail, b""
        super()._post_start(request, protocol, writer)
        self.cork = writer.transport = CorkedTransport(writer.transport)
        parser = handler._payload_parser
        if parser is not None:
            # Always, even when frames may be as big as messages: every frame's mask is checked.
            guard = _FrameGuard(parser, self._reader, self._frame_limit)
            handler._payload_parser = guard
            # The HTTP parser has read its last request: from now on every byte goes to the
            # frame parser. aiohttp drops it only when the connection ends (and reads it only
            # while not upgraded); an idle socket would keep its buffers, about 0.75 KiB.
            handler._parser = None
            if early:
                guard.feed_data(early)

    def send_now(self, data: str | bytes) -> bool:
        """Queue one message (text for str) without waiting; False once the socket is closing.

        The frame goes to the cork, which writes it at the end of this loop turn. aiohttp's
        writer is bypassed for data frames: it frames in Python, compresses (never, here) and
        drains (the data plane bounds buffers itself, see ``sendBufferBytes``).
        """
        cork = self.cork
        if cork is None or self._closed or cork.is_closing():
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


_UPGRADED: Final = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
)
_SERVER: Final = f"Server: {SERVER_SOFTWARE}\r\n\r\n"


@functools.lru_cache(maxsize=16)
def _message_bound(message_limit: int) -> int:
    # One int per stage's limit rather than a new one in each connection's response.
    return message_limit + 1


class CorkedTransport:
    """Collects writes and hands them to the real transport once per event loop turn."""

    __slots__ = ("_chunks", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        # Made by the first write of a turn: an idle connection keeps no list.
        self._chunks: list[bytes] | None = None
        self._pending = 0

    def write(self, data: bytes) -> None:
        """Queue ``data``; the first write of a turn schedules the flush."""
        chunks = self._chunks
        if chunks is None:
            self._chunks = [data]
            self._loop.call_soon(self.flush)
        else:
            chunks.append(data)
        self._pending += len(data)

    def flush(self) -> None:
        """Hand everything queued to the real transport now."""
        chunks = self._chunks
        if chunks is None:
            return
        self._chunks, self._pending = None, 0
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


class _FrameGuard:
    """Feeds bytes to aiohttp's parser once :class:`~wsgate.core.frames.FrameScanner` has read
    their frame headers."""

    __slots__ = ("_check", "_failed", "_parser", "_queue")

    def __init__(self, parser: Any, queue: Any, frame_limit: int) -> None:
        self._parser = parser
        self._queue = queue
        # The scanning state lives in its own object: attribute reads on a class with
        # __getattr__ (this one) are not specialised by CPython, and the scan reads them often.
        self._check = FrameScanner(frame_limit)
        self._failed = False

    def feed_eof(self) -> Any:
        return self._parser.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        problem = self._check.feed(data)
        if problem is not None:
            self._failed = True
            set_exception(self._queue, WebSocketError(problem.code, problem.reason))
            return True, b""
        result: tuple[bool, bytes] = self._parser.feed_data(data)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)
