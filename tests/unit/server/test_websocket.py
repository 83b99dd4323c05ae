"""The corked transport: writes of one loop turn leave together, in order, once."""

from __future__ import annotations

import asyncio
import socket

from wsgate.server.websocket import CorkedTransport


async def _transport_pair() -> tuple[asyncio.Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    theirs.setblocking(False)
    return transport, theirs


async def _read(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        data += await asyncio.wait_for(loop.sock_recv(sock, size - len(data)), 5)
    return data


async def test_writes_of_one_turn_leave_together() -> None:
    transport, peer = await _transport_pair()
    cork = CorkedTransport(transport)
    cork.write(b"one ")
    cork.write(b"two ")
    assert cork.get_write_buffer_size() == 8  # held until the loop turns
    cork.write(b"three")
    assert await _read(peer, 13) == b"one two three"
    assert cork.get_write_buffer_size() == 0
    transport.close()
    peer.close()


async def test_flush_sends_at_once_and_proxies() -> None:
    transport, peer = await _transport_pair()
    cork = CorkedTransport(transport)
    cork.write(b"now")
    cork.flush()
    cork.flush()  # nothing left: a no-op
    assert await _read(peer, 3) == b"now"
    assert cork.get_extra_info("socket") is not None
    assert not cork.is_closing()
    transport.close()
    cork.write(b"lost")  # a closed transport drops what was corked, without raising
    cork.flush()
    assert cork.is_closing()
    peer.close()
