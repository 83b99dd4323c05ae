"""Bare WebSocket client connections on asyncio protocols, for the handshake and memory benches.

No client library: the opening handshake is one prebuilt request, and a connection costs the
client little more than its transport. That lets one pinned process open and close thousands of
connections a second, or hold 100,000 of them, without becoming what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast
from urllib.parse import urlsplit

import uvloop
from loadgen import machine_times, parse_cpus, process_tree_cpu

# A masked close frame with code 1000; an all-zero mask leaves the payload as it is.
CLOSE_FRAME = bytes((0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8))
_PING, _CLOSE = 0x9, 0x8
# Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h); the socket module does not name it.
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def upgrade_request(url: str) -> bytes:
    """The opening handshake request for ``url`` (RFC 6455 §4.1), with a fresh key."""
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def source_address(index: int, sources: int) -> tuple[str, int] | None:
    """The local address of connection ``index``: 127.0.0.2, .3, ... in turn (None: any).

    Each source address has its own range of ephemeral ports, so ``sources`` of them hold
    ``sources`` times as many connections to one server port.
    """
    return (f"127.0.0.{2 + index % sources}", 0) if sources else None


def raise_file_limit(needed: int) -> int:
    """Raise the open-file limit to ``needed``, the hard one too if allowed; return the soft one.

    Child processes inherit it, so the servers a bench starts can hold as many sockets.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


class RawConnection(asyncio.Protocol):
    """One client connection: sends the upgrade, then holds the socket or closes it at once.

    ``opened`` resolves when the server's 101 arrives; with ``cycle``, the client then sends a
    close frame and ``closed`` resolves when the server answers it or drops the connection.
    A held connection answers pings and otherwise stays silent, unless ``on_data`` takes
    every byte the server sends after the 101.
    """

    def __init__(
        self,
        request: bytes,
        *,
        cycle: bool,
        on_lost: Callable[[], None],
        on_data: Callable[[bytes], None] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._request = request
        self._cycle = cycle
        self._on_lost = on_lost
        self._on_data = on_data
        self._buffer = b""
        self._closing = False
        self.transport: asyncio.Transport | None = None

    def close(self) -> None:
        """Drop the connection without a closing handshake (not counted as lost)."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.opened.done():
            self._buffer += data
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self._buffer[:end], self._buffer[end + 4 :]
            self._buffer = b""
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                self.transport.close()
                return
            self.opened.set_result(None)
            if self._cycle:
                self.transport.write(CLOSE_FRAME)
        if data and self._on_data is not None:
            self._on_data(data)
        elif data:
            self._frame(data)

    def _frame(self, data: bytes) -> None:
        assert self.transport is not None
        opcode = data[0] & 0x0F
        if opcode == _CLOSE:
            self._finish()
            self.transport.close()
        elif opcode == _PING and len(data) >= 2 and data[1] < 126:
            size = data[1]
            self.transport.write(bytes((0x8A, 0x80 | size, 0, 0, 0, 0)) + data[2 : 2 + size])

    def _finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        elif not (self._cycle or self._closing or self.closed.done()):
            self._on_lost()
        self._finish()


async def open_connection(
    url: str,
    request: bytes,
    local: tuple[str, int] | None,
    *,
    cycle: bool,
    on_lost: Callable[[], None],
    on_data: Callable[[bytes], None] | None = None,
) -> RawConnection:
    """Connect to ``url`` and complete the opening handshake."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    factory = partial(RawConnection, request, cycle=cycle, on_lost=on_lost, on_data=on_data)
    if local is None:
        _, connection = await loop.create_connection(factory, parts.hostname, parts.port)
    else:
        sock = await _connect_from(local, (str(parts.hostname), int(parts.port or 80)))
        _, connection = await loop.create_connection(factory, sock=sock)
    await connection.opened
    return connection


class CpuWindow:
    """CPU used from its creation to ``stop``, in cores: this process, a server's, the machine's."""

    def __init__(self, server_pid: int | None) -> None:
        self._server_pid = server_pid
        self._started = time.monotonic()
        self._own = time.process_time()
        self._server = process_tree_cpu(server_pid) if server_pid else 0.0
        self._busy, self._steal = machine_times()

    def stop(self) -> dict[str, float | None]:
        """``client_cpu``, ``server_cpu`` (None without a pid), ``machine_cpu``, ``steal_cpu``."""
        seconds = time.monotonic() - self._started
        busy, steal = machine_times()
        server = None
        if self._server_pid:
            server = round((process_tree_cpu(self._server_pid) - self._server) / seconds, 3)
        return {
            "client_cpu": round((time.process_time() - self._own) / seconds, 3),
            "server_cpu": server,
            "machine_cpu": round((busy - self._busy) / seconds, 3),
            "steal_cpu": round((steal - self._steal) / seconds, 3),
        }


def client_parser(description: str, duration: float) -> argparse.ArgumentParser:
    """The options every client script of this kind takes; each adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("url", help="ws:// URL, path included")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=duration, help="seconds measured")
    parser.add_argument("--cpus", type=parse_cpus, default=(), help="pin to these CPUs: 1, 0-1")
    parser.add_argument("--server-pid", type=int, help="also report this process tree's CPU")
    return parser


def run_client(
    args: argparse.Namespace, measure: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Pin this process, run ``measure`` on uvloop, print its report as JSON and return it."""
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    report = uvloop.run(measure(args))
    print(json.dumps(report, indent=2))
    return report


async def _connect_from(local: tuple[str, int], remote: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # The port is picked at connect time, for the whole 4-tuple: a plain bind would search
        # this address's ports for one free of every socket, TIME_WAIT ones included, which
        # grows slow enough to make the client the bottleneck.
        sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind(local)
        await asyncio.get_running_loop().sock_connect(sock, remote)
    except BaseException:
        sock.close()
        raise
    return sock
