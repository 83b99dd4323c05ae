"""The corked transport, and the frame guard that reads client frame headers ahead of aiohttp."""

from __future__ import annotations

import asyncio
import random
import socket
from itertools import pairwise

import pytest
from aiohttp.http_websocket import WebSocketError

from wsgate.server.websocket import CorkedTransport, _FrameGuard


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


# -- the frame guard ---------------------------------------------------------------------------

TEXT, PING = 0x1, 0x9


def _frame(opcode: int, length: int, *, masked: bool = True, payload: bytes | None = None) -> bytes:
    """A frame's bytes; the payload is left out when ``payload`` is b"" (a header alone)."""
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = bytes((0x80 | opcode, mask_bit | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, mask_bit | 127)) + length.to_bytes(8, "big")
    body = b"m" * length if payload is None else payload
    return header + (b"\x01\x02\x03\x04" if masked else b"") + body


class _Parser:
    """Stands in for aiohttp's reader: records what reaches it."""

    def __init__(self) -> None:
        self.fed: list[bytes] = []
        self.ended = False
        self.queue_name = "engine"

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.fed.append(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.ended = True


class _Queue:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def set_exception(self, exc: BaseException) -> None:
        self.errors.append(exc)


def _guard(limit: int = 1000) -> tuple[_FrameGuard, _Parser, _Queue]:
    parser, queue = _Parser(), _Queue()
    return _FrameGuard(parser, queue, limit), parser, queue


def _feed(guard: _FrameGuard, stream: bytes, cuts: list[int]) -> int | None:
    """Feed ``stream`` cut at ``cuts``; the index of the chunk that failed, else None."""
    bounds = [0, *cuts, len(stream)]
    for index, (start, end) in enumerate(pairwise(bounds)):
        if guard.feed_data(stream[start:end]) == (True, b""):
            return index
    return None


GOOD = [_frame(TEXT, 5), _frame(PING, 0), _frame(TEXT, 126), _frame(TEXT, 300), _frame(TEXT, 999)]


@pytest.mark.parametrize("seed", range(8))
def test_masked_frames_pass_whatever_the_chunks(seed):
    stream = b"".join(GOOD * 3)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(stream)), 40))
    guard, parser, queue = _guard()
    assert _feed(guard, stream, cuts) is None
    assert b"".join(parser.fed) == stream
    assert queue.errors == []


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (_frame(TEXT, 5, masked=False), 1002),  # RFC 6455 §5.1
        (_frame(PING, 0, masked=False), 1002),
        (_frame(TEXT, 2**63, payload=b""), 1002),  # §5.2: the length's top bit set
        (_frame(TEXT, 2**64 - 1, payload=b""), 1002),
        (_frame(PING, 2**63, payload=b""), 1002),
        (_frame(TEXT, 1001), 1009),  # over the frame limit
        (_frame(TEXT, 2**63 - 1, payload=b""), 1009),
    ],
    ids=["unmasked", "unmasked-control", "2^63", "2^64-1", "control-2^63", "1001", "2^63-1"],
)
@pytest.mark.parametrize("cut", [None, 1, 2, 3, 9, 10])
def test_bad_header_fails_before_aiohttp_sees_it(bad, code, cut):
    good = b"".join(GOOD)
    stream = good + bad
    cuts = [] if cut is None else [len(good) + cut]
    guard, parser, queue = _guard()
    failed = _feed(guard, stream, cuts)
    # Reported in the chunk that completes the length (the mask is not needed to decide), and
    # aiohttp never holds the whole length: it would read 2**63 as "too big" itself.
    length_end = 2 + {126: 2, 127: 8}.get(bad[1] & 0x7F, 0)
    assert failed == (0 if cut is None or cut >= length_end else 1)
    assert len(b"".join(parser.fed)) < len(good) + length_end
    [error] = queue.errors
    assert isinstance(error, WebSocketError) and error.code == code
    # Failed for good: nothing more goes through.
    assert guard.feed_data(_frame(TEXT, 5)) == (True, b"")
    assert len(queue.errors) == 1


def test_big_control_frame_is_left_to_aiohttp():
    # Control frames over 125 bytes are aiohttp's to refuse (1002), not a frame-limit 1009.
    guard, _, queue = _guard(limit=10)
    assert guard.feed_data(_frame(PING, 126)) == (False, b"")
    assert queue.errors == []


@pytest.mark.parametrize("chunk_type", [bytes, bytearray, memoryview])
def test_chunk_types(chunk_type):
    stream = _frame(TEXT, 5) + _frame(TEXT, 300) + _frame(TEXT, 5, masked=False)
    guard, _, queue = _guard(limit=300)
    for start, end in [(0, 1), (1, 12), (12, 18), (18, 19), (19, 300), (300, len(stream))]:
        guard.feed_data(chunk_type(stream[start:end]))
    assert [error.code for error in queue.errors] == [1002]  # type: ignore[attr-defined]


def test_delegates_to_aiohttp_parser():
    guard, parser, _ = _guard()
    assert guard.queue_name == "engine"
    guard.feed_eof()
    assert parser.ended
