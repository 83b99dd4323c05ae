"""Listening sockets that protect themselves: a deadline for the request, bounded headers, TLS.

aiohttp waits as long as a client likes for the first request on a connection, so a client
that opens sockets and sends nothing (or a header a byte at a time) would hold them forever.
:class:`GuardedSite` closes a connection whose first request has not arrived in time.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["GuardedSite", "RequestDeadline"]


class RequestDeadline:
    """Remembers which connections sent a request; closes the others at the deadline."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # Each connection is in here from its first request until its deadline passes.
        self._arrived: set[RequestHandler] = set()

    def arrived(self, request: web.BaseRequest) -> None:
        """Note that a request arrived on its connection (called by the handlers)."""
        self._arrived.add(request.protocol)

    def watch(self, protocol: RequestHandler) -> None:
        """Start the deadline of a new connection."""
        asyncio.get_running_loop().call_later(self.seconds, self._expire, protocol)

    def _expire(self, protocol: RequestHandler) -> None:
        if protocol in self._arrived:
            self._arrived.discard(protocol)
            return
        transport = protocol.transport
        if transport is not None:
            transport.close()


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
        """Listen; as SockSite does, with each new connection's deadline started."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        deadline = self._deadline

        def guarded() -> RequestHandler:
            protocol = server()
            deadline.watch(protocol)
            return protocol

        self._server = await asyncio.get_running_loop().create_server(
            guarded, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog
        )
