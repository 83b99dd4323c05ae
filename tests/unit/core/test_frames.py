"""Per-frame size checks on the raw client byte stream (§1.4: 32 KB frames)."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from wsgate.core.frames import LENGTH_OVERFLOW, UNMASKED, FrameScanner

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MASK = b"\x37\xfa\x21\x3d"
_FILLER = bytes(range(251))


def _frame(opcode, length, *, masked=True, fin=True, bits=None, payload=None):
    """A WebSocket frame as RFC 6455 §5.2 lays it out (``bits`` forces a length encoding)."""
    if bits is None:
        bits = 7 if length < 126 else 16 if length < 65536 else 64
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    if bits == 7:
        header = bytes([first, mask_bit | length])
    elif bits == 16:
        header = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    data = payload if payload is not None else (_FILLER * (length // len(_FILLER) + 1))[:length]
    if masked:
        header += _MASK
        key = (_MASK * (len(data) // 4 + 1))[: len(data)]
        data = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")
    return header + data


def _header_size(frame):
    length = frame[1] & 0x7F
    size = 2 + {126: 2, 127: 8}.get(length, 0)
    return size + (4 if frame[1] & 0x80 else 0)


def _scan(chunks, limit):
    """Feed chunks in order; (chunk index, frame size) of the first report, else None."""
    scanner = FrameScanner(limit)
    for index, chunk in enumerate(chunks):
        result = scanner.feed(chunk)
        if result is not None:
            return index, result.size if result.code == 1009 else result
    return None


def _size(problem):
    return None if problem is None else problem.size


def _expected(frames, limit, cuts):
    """Where the first oversized data frame is reported: in the chunk completing its length
    (the mask that follows is not needed to decide)."""
    offset = 0
    for frame in frames:
        length = len(frame) - _header_size(frame)
        if length > limit and frame[0] & 0x0F < 0x8:
            header_end = offset + _header_size(frame) - 4
            index = sum(1 for cut in cuts if cut < header_end)
            return index, length
        offset += len(frame)
    return None


def _chunks(stream, cuts):
    view = memoryview(stream)
    bounds = [0, *cuts, len(stream)]
    return [view[start:end] for start, end in pairwise(bounds)]


def test_builder_matches_rfc_6455_examples():
    # RFC 6455 §5.7: a single-frame masked text message "Hello".
    assert _frame(TEXT, 5, payload=b"Hello") == bytes.fromhex("818537fa213d7f9f4d5158")
    # RFC 6455 §5.7: unmasked ping "Hello"; 256-byte and 64 KiB binary messages.
    assert _frame(PING, 5, masked=False, payload=b"Hello") == bytes.fromhex("890548656c6c6f")
    assert _frame(BINARY, 256, masked=False)[:4] == bytes.fromhex("827e0100")
    assert _frame(BINARY, 65536, masked=False)[:10] == bytes.fromhex("827f0000000000010000")


_STREAMS = {
    "7-bit": [_frame(TEXT, 0), _frame(TEXT, 5), _frame(TEXT, 125)],
    "16-bit": [_frame(TEXT, 126), _frame(BINARY, 300)],
    "64-bit length field": [_frame(TEXT, 10, bits=64), _frame(BINARY, 130, bits=64)],
    "16-bit length field for a small frame": [_frame(TEXT, 3, bits=16), _frame(TEXT, 4)],
    "fragmented message": [
        _frame(TEXT, 50, fin=False),
        _frame(PING, 4),
        _frame(CONTINUATION, 120, fin=False),
        _frame(CONTINUATION, 20),
    ],
    "control frames between data": [
        _frame(TEXT, 10),
        _frame(PING, 125),
        _frame(PONG, 0),
        _frame(TEXT, 140),
        _frame(CLOSE, 2),
    ],
}
_DATA_LARGEST = {
    name: max(len(f) - _header_size(f) for f in frames if f[0] & 0x0F < 0x8)
    for name, frames in _STREAMS.items()
}


def _limits():
    for name in _STREAMS:
        largest = _DATA_LARGEST[name]
        yield pytest.param(name, largest, id=f"{name}-at-limit")
        yield pytest.param(name, largest - 1, id=f"{name}-limit-minus-1")
        yield pytest.param(name, 4, id=f"{name}-small-limit")


@pytest.mark.parametrize(("name", "limit"), list(_limits()))
def test_one_chunk(name, limit):
    frames = _STREAMS[name]
    stream = b"".join(frames)
    assert _scan([stream], limit) == _expected(frames, limit, [])


@pytest.mark.parametrize(("name", "limit"), list(_limits()))
def test_every_split_point(name, limit):
    frames = _STREAMS[name]
    stream = b"".join(frames)
    for cut in range(len(stream) + 1):
        chunks = _chunks(stream, [cut])
        assert _scan(chunks, limit) == _expected(frames, limit, [cut]), cut


@pytest.mark.parametrize(("name", "limit"), list(_limits()))
def test_byte_by_byte(name, limit):
    frames = _STREAMS[name]
    stream = b"".join(frames)
    cuts = list(range(1, len(stream)))
    assert _scan(_chunks(stream, cuts), limit) == _expected(frames, limit, cuts)


@pytest.mark.parametrize(
    "frames",
    [
        [_frame(TEXT, 3), _frame(BINARY, 130, bits=64), _frame(TEXT, 2)],
        [_frame(TEXT, 40), _frame(PING, 1), _frame(BINARY, 20, bits=16)],
    ],
)
@pytest.mark.parametrize("limit", [1000, 130, 129, 20, 19])
def test_every_pair_of_nearby_split_points(frames, limit):
    # Two cuts within a header's length of each other: a header spread over three chunks.
    stream = b"".join(frames)
    for first in range(len(stream) + 1):
        for second in range(first, min(first + 16, len(stream)) + 1):
            cuts = [first, second]
            assert _scan(_chunks(stream, cuts), limit) == _expected(frames, limit, cuts)


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG, 0xB, 0xF])
@pytest.mark.parametrize("length", [125, 126, 70000])
def test_control_frames_are_never_flagged(opcode, length):
    # Oversized control frames are a protocol error for the WebSocket engine, not a size close.
    stream = _frame(opcode, length) + _frame(TEXT, 1)
    assert _scan([stream], 1) is None
    assert _scan([stream], 0) == (0, 1)  # the data frame after it is still checked


@pytest.mark.parametrize("opcode", [CONTINUATION, TEXT, BINARY, 0x3, 0x7])
@pytest.mark.parametrize(("length", "limit", "flagged"), [(100, 100, False), (101, 100, True)])
def test_data_frames_are_flagged_above_the_limit(opcode, length, limit, flagged):
    stream = _frame(opcode, length)
    assert _scan([stream], limit) == ((0, length) if flagged else None)


@pytest.mark.parametrize(
    ("length", "limit", "result"),
    [
        (32 * 1024, 32 * 1024, None),
        (32 * 1024 + 1, 32 * 1024, 32 * 1024 + 1),
        (65535, 65535, None),
        (65536, 65535, 65536),
        (65536, 65536, None),
        (128 * 1024, 32 * 1024, 128 * 1024),
    ],
)
def test_aws_frame_limit(length, limit, result):
    stream = _frame(TEXT, length)
    assert _size(FrameScanner(limit).feed(stream)) == result


def test_oversized_frame_is_reported_from_its_header_alone():
    header = _frame(BINARY, 2**40, payload=b"")[:14]
    assert _size(FrameScanner(32 * 1024).feed(header)) == 2**40


def test_several_frames_in_one_chunk():
    stream = b"".join([_frame(TEXT, 10), _frame(PING, 5), _frame(TEXT, 200), _frame(TEXT, 10)])
    assert _size(FrameScanner(100).feed(stream)) == 200
    assert FrameScanner(200).feed(stream) is None


@pytest.mark.parametrize(
    "cuts",
    [
        [],
        [1],
        [2, 9],
        [40_005],
        [40_006, 40_007],
        [40_000, 40_008, 40_012],
        list(range(0, 80_100, 997)),
    ],
)
@pytest.mark.parametrize("limit", [40_000, 40_001])
def test_large_frames_across_chunks(cuts, limit):
    frames = [_frame(BINARY, 40_000), _frame(TEXT, 5), _frame(BINARY, 40_001), _frame(TEXT, 7)]
    stream = b"".join(frames)
    assert _scan(_chunks(stream, cuts), limit) == _expected(frames, limit, cuts)


@pytest.mark.parametrize("chunk_type", [bytes, bytearray, memoryview])
def test_chunk_types(chunk_type):
    stream = _frame(TEXT, 5) + _frame(TEXT, 300)
    scanner = FrameScanner(299)
    assert scanner.feed(chunk_type(stream[:1])) is None
    assert scanner.feed(chunk_type(stream[1:12])) is None
    assert scanner.feed(chunk_type(stream[12:14])) is None  # one length byte short
    assert _size(scanner.feed(chunk_type(stream[14:15]))) == 300  # the mask is not needed


@pytest.mark.parametrize("position", [0, 1, 3, 7, 11, 13, 14])  # 15: the length is whole
def test_empty_chunks_change_nothing(position):
    frames = [_frame(TEXT, 5), _frame(TEXT, 126)]
    stream = b"".join(frames)
    scanner = FrameScanner(125)
    assert scanner.feed(stream[:position]) is None
    assert scanner.feed(b"") is None
    assert _size(scanner.feed(stream[position:])) == 126


@pytest.mark.parametrize("seed", range(5))
def test_long_conversation_in_random_chunks(seed):
    rng = random.Random(seed)
    frames = []
    for _ in range(60):
        opcode = rng.choice([TEXT, BINARY, CONTINUATION, PING, PONG])
        top = 125 if opcode >= CLOSE else 3000
        frames.append(_frame(opcode, rng.randint(0, top)))
    frames.append(_frame(TEXT, 3001))
    stream = b"".join(frames)
    cuts = sorted({rng.randint(0, len(stream)) for _ in range(400)})
    assert _scan(_chunks(stream, cuts), 3000) == _expected(frames, 3000, cuts)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
    ],
)
def test_encode_frame_lengths(size: int, header: bytes) -> None:
    from wsgate.core.frames import OPCODE_TEXT, encode_frame

    frame = encode_frame(OPCODE_TEXT, b"x" * size)
    assert frame[: len(header)] == header
    assert len(frame) == len(header) + size


def test_encode_frame_long_binary() -> None:
    from wsgate.core.frames import OPCODE_BINARY, encode_frame

    frame = encode_frame(OPCODE_BINARY, b"\x00" * 65536)
    assert frame[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")


@pytest.mark.parametrize(
    "frames",
    [
        [_frame(TEXT, 5, masked=False)],
        [_frame(TEXT, 5), _frame(BINARY, 200, masked=False)],
        [_frame(TEXT, 300), _frame(PING, 2, masked=False), _frame(TEXT, 1)],
        [_frame(CLOSE, 2, masked=False)],
    ],
)
def test_an_unmasked_frame_is_a_protocol_error(frames):
    # §5.1: reported in the chunk holding the unmasked frame's second byte, whatever the cut.
    stream = b"".join(frames)
    first = next(i for i, f in enumerate(frames) if not f[1] & 0x80)
    second_byte = sum(len(f) for f in frames[:first]) + 1
    for cut in range(len(stream) + 1):
        assert _scan(_chunks(stream, [cut]), 1000) == (int(second_byte >= cut), UNMASKED), cut


@pytest.mark.parametrize("top", [0x80, 0xFF])
def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error(top):
    # §5.2; a legal length as large is only too big (1009).
    header = bytes([0x82, 0x80 | 127, top]) + bytes(7)
    assert FrameScanner(32 * 1024).feed(header) == LENGTH_OVERFLOW
    legal = bytes([0x82, 0x80 | 127, 0x7F]) + b"\xff" * 7
    problem = FrameScanner(32 * 1024).feed(legal)
    assert problem is not None and (problem.code, problem.size) == (1009, 2**63 - 1)
