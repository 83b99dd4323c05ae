"""Listening sockets that protect themselves: a deadline for the request, bounded headers, TLS.

aiohttp waits as long as a client likes for the first request on a connection, so a client
that opens sockets and sends nothing (or a header, or a TLS ClientHello, a byte at a time)
would hold them. :class:`GuardedSite` closes a connection whose first request has not arrived
within the deadline of its TCP accept, its TLS handshake included.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["GuardedSite", "RequestDeadline"]

# asyncio times a TLS handshake with a timer of its own, set to the deadline too but started a
# loop turn after ours: at our deadline a handshake may be under way and still finish before
# asyncio gives up on it. Such a connection is looked at once more, this much later.
_HANDSHAKE_GRACE_SECONDS: Final = 1.0


class RequestDeadline:
    """Closes the connections whose first request has not arrived ``seconds`` after accept."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # Only connections still waiting for their first request, with their deadline: one
        # leaves at its first request or its deadline, whichever comes first, and never returns
        # (later requests on a kept-alive connection find nothing to do).
        self._waiting: dict[RequestHandler, asyncio.TimerHandle] = {}

    def arrived(self, request: web.BaseRequest) -> None:
        """Note that a request arrived on its connection (called by the handlers)."""
        timer = self._waiting.pop(request.protocol, None)
        if timer is not None:
            timer.cancel()

    def watch(self, protocol: RequestHandler) -> None:
        """Start the deadline of a new connection."""
        loop = asyncio.get_running_loop()
        self._waiting[protocol] = loop.call_later(self.seconds, self._expire, protocol, False)

    def _expire(self, protocol: RequestHandler, final: bool) -> None:
        transport = protocol.transport
        if transport is None and not final:
            # No transport: its TLS handshake is under way (or it failed, or the client left).
            loop = asyncio.get_running_loop()
            timer = loop.call_later(_HANDSHAKE_GRACE_SECONDS, self._expire, protocol, True)
            self._waiting[protocol] = timer
            return
        del self._waiting[protocol]
        if transport is not None:
            # Not close(): over TLS that waits (30 s) for the client's close_notify.
            transport.abort()


class GuardedSite(web.SockSite):
    """A :class:`aiohttp.web.SockSite` whose connections each get a :class:`RequestDeadline`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        deadline: RequestDeadline,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context)
        self._deadline = deadline

    async def start(self) -> None:
        """Listen as SockSite does, starting each connection's deadline as it is accepted."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        deadline = self._deadline

        def guarded() -> RequestHandler:
            protocol = server()
            deadline.watch(protocol)
            return protocol

        loop = asyncio.get_running_loop()
        if self._ssl_context is None:
            self._server = await loop.create_server(guarded, sock=self._sock, backlog=self._backlog)
            return
        # The handshake is timed from the same accept as the deadline (asyncio's default: 60 s).
        self._server = await loop.create_server(
            guarded,
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=deadline.seconds,
        )
