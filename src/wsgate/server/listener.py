"""Listening sockets that protect themselves: a deadline for the request, bounded headers, TLS.

aiohttp waits as long as a client likes for the first request on a connection, so a client
that opens sockets and sends nothing (or a header, or a TLS ClientHello, a byte at a time)
would hold them. :class:`GuardedSite` closes a connection whose first request has not arrived
within the deadline of its TCP accept, its TLS handshake included. :class:`SniffingSite` serves
plain HTTP and TLS on one socket, for the gateway's own functions (``integrations/callback.py``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Final

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.web_protocol import RequestHandler

__all__ = ["GuardedSite", "RequestDeadline", "SniffingSite", "answer_expect"]

# asyncio times a TLS handshake with a timer of its own, set to the deadline too but started a
# loop turn after ours: at our deadline a handshake may be under way and still finish before
# asyncio gives up on it. Such a connection is looked at once more, this much later.
_HANDSHAKE_GRACE_SECONDS: Final = 1.0


async def answer_expect(request: web.BaseRequest) -> web.Response | None:
    """Answer an ``Expect`` header before the body is read, as aiohttp's router would.

    The listeners run aiohttp's low-level server, which has no router to do it: a client that
    sends ``Expect: 100-continue`` (curl does for bodies past 1 KiB) gets ``100 Continue`` at
    once instead of waiting its own timeout; any other expectation gets 417 (RFC 9110 §10.1.1).
    """
    expect = request.headers.get(hdrs.EXPECT)
    if expect is None or request.version != HttpVersion11:
        return None
    if expect.lower() != "100-continue":
        return web.json_response({"message": f"Unknown Expect: {expect}"}, status=417)
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer proper is still to come
    return None


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


# The first byte of a TLS record carrying a handshake message (a ClientHello, here).
_TLS_HANDSHAKE: Final = 0x16


class SniffingSite(GuardedSite):
    """Plain HTTP and TLS on one socket, told apart by the first byte each client sends.

    A client that sends nothing within the deadline is dropped, as :class:`GuardedSite` drops
    one that sends no request.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        deadline: RequestDeadline,
        ssl_context: ssl.SSLContext,
    ) -> None:
        super().__init__(runner, sock, deadline, ssl_context=ssl_context)
        self._waiting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Accept connections on a task of its own; :meth:`stop` ends it."""
        await web.BaseSite.start(self)
        self._sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._server = _AcceptLoop(loop.create_task(self._accept()), self._sock, self._waiting)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = await loop.sock_accept(self._sock)
            except OSError:  # too many open files, a client gone before accept: carry on
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._hand_over(connection))
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)

    async def _hand_over(self, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        deadline = self._deadline
        try:
            async with asyncio.timeout(deadline.seconds):
                await _readable(loop, connection)
            first = connection.recv(1, socket.MSG_PEEK)
        except (TimeoutError, OSError):
            connection.close()
            return
        if not first:
            connection.close()
            return

        def guarded() -> RequestHandler:
            protocol = server()
            deadline.watch(protocol)
            return protocol

        tls = self._ssl_context if first[0] == _TLS_HANDSHAKE else None
        try:
            await loop.connect_accepted_socket(
                guarded,
                connection,
                ssl=tls,
                ssl_handshake_timeout=deadline.seconds if tls is not None else None,
            )
        except (OSError, ssl.SSLError, TimeoutError):
            connection.close()


def _readable(loop: asyncio.AbstractEventLoop, connection: socket.socket) -> asyncio.Future[None]:
    """A future that is done once ``connection`` has data (or an error) to read."""
    waiter: asyncio.Future[None] = loop.create_future()
    descriptor = connection.fileno()

    def ready() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_reader(descriptor, ready)
    waiter.add_done_callback(lambda _: loop.remove_reader(descriptor))
    return waiter


class _AcceptLoop(asyncio.AbstractServer):
    """What :meth:`web.BaseSite.stop` closes: the accept task, the socket, the waiting clients."""

    def __init__(
        self, task: asyncio.Task[None], sock: socket.socket, waiting: set[asyncio.Task[None]]
    ) -> None:
        self._task = task
        self._sock = sock
        self._waiting = waiting

    def close(self) -> None:
        self._task.cancel()
        for task in list(self._waiting):
            task.cancel()
        self._sock.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._task.get_loop()

    def is_serving(self) -> bool:
        return not self._task.done()

    async def start_serving(self) -> None:
        """Serving starts with the site."""

    async def serve_forever(self) -> None:
        await self._task

    async def wait_closed(self) -> None:
        await asyncio.gather(self._task, *self._waiting, return_exceptions=True)
