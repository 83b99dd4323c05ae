"""The frame scanner over any byte stream, however it is chunked (wsgate.core.frames)."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import example, given, strategies as st

from wsgate.core.frames import LENGTH_OVERFLOW, UNMASKED, FrameProblem, FrameScanner


def _header(opcode: int, masked: bool, width: int, length: int) -> bytes:
    mask = 0x80 if masked else 0
    if width == 7:
        return bytes([0x80 | opcode, mask | min(length, 125)])
    if width == 16:
        return bytes([0x80 | opcode, mask | 126]) + (length % 65536).to_bytes(2, "big")
    return bytes([0x80 | opcode, mask | 127]) + (length % 2**64).to_bytes(8, "big")


# Real frame headers (any opcode, masked or not, every length encoding, lengths near the limit
# and past 2**63) followed by payloads of any size, so headers fall anywhere in the stream.
_frames = st.builds(
    lambda header, mask, payload: header + mask + payload,
    st.builds(
        _header,
        st.integers(0, 15),
        st.booleans() | st.just(True),
        st.sampled_from([7, 16, 64]),
        st.integers(0, 300) | st.integers(0, 2**64 - 1),
    ),
    st.binary(min_size=4, max_size=4),
    st.binary(max_size=300),
)
streams = st.lists(_frames | st.binary(max_size=12), max_size=8).map(b"".join) | st.binary()
limits = st.integers(0, 300) | st.just(32 * 1024)


def _reference(stream: bytes, limit: int) -> tuple[int, FrameProblem] | None:
    """RFC 6455 §5.2 read plainly over the whole stream: the first problem and the offset of
    the byte that decides it (the second byte for a mask, else the header's last length byte)."""
    position = 0
    while position + 2 <= len(stream):
        first, second = stream[position], stream[position + 1]
        if not second & 0x80:
            return position + 1, UNMASKED
        length, extra = second & 0x7F, 0
        if length == 126:
            extra = 2
        elif length == 127:
            extra = 8
        if position + 2 + extra > len(stream):
            return None
        if extra == 8 and stream[position + 2] & 0x80:
            return position + 9, LENGTH_OVERFLOW
        if extra:
            length = int.from_bytes(stream[position + 2 : position + 2 + extra], "big")
        if length > limit and first & 0x0F < 8:
            reason = f"Frame of {length} bytes exceeds the frame limit"
            return position + 1 + extra, FrameProblem(1009, reason, length)
        position += 2 + extra + 4 + length
    return None


def _chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    return [stream[start:end] for start, end in pairwise(edges)] or [b""]


@given(streams, limits, st.lists(st.integers(0, 2**16), max_size=12))
@example(b"\x81\xfe\x01\x00", 255, [3])  # a 16-bit length completed by the last chunk
@example(b"\x81\xff\x80" + bytes(7), 10, [2, 9])  # 2**63, decided with the last length byte
@example(b"\x89\xfd" + b"m" * 4 + b"p" * 125, 10, [1, 7])  # an oversized ping is not ours
def test_any_chunking_reports_what_the_reference_finds_where_it_finds_it(stream, limit, cuts):
    chunks = _chunks(stream, cuts)
    expected = _reference(stream, limit)
    scanner = FrameScanner(limit)
    offset = 0
    for chunk in chunks:
        # A memoryview, as the transport hands them over, on odd chunks: both must work.
        problem = scanner.feed(memoryview(chunk) if len(chunk) % 2 else chunk)
        offset += len(chunk)
        if problem is not None:
            assert expected is not None
            decided_at, reason = expected
            assert problem == reason
            assert offset - len(chunk) <= decided_at < offset
            return
    assert expected is None
