"""What the gateway checks in the raw bytes a client sends, frame header by frame header.

WebSocket engines bound whole messages; AWS also bounds each frame (§1.4: 32 KB frames inside
128 KB messages), and RFC 6455 has rules aiohttp's reader does not enforce: a client's frames
are masked (§5.1), and a 64-bit length has its most significant bit clear (§5.2).
:class:`FrameScanner` follows frame headers through the stream, without copying payloads, and
reports the first frame that breaks a rule, before the engine's parser sees it.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["OPCODE_BINARY", "OPCODE_TEXT", "FrameProblem", "FrameScanner", "encode_frame"]

PROTOCOL_ERROR: Final = 1002
MESSAGE_TOO_BIG: Final = 1009


class FrameProblem(NamedTuple):
    """Why a frame fails the connection: the close code, a reason for the logs, and the
    announced payload length of a frame that is too big."""

    code: int
    reason: str
    size: int | None = None


UNMASKED: Final = FrameProblem(PROTOCOL_ERROR, "Client frame is not masked")
LENGTH_OVERFLOW: Final = FrameProblem(PROTOCOL_ERROR, "Frame length over 2**63")


class FrameScanner:
    """Reads every frame header in a client's byte stream, across chunks, without copying.

    A chunk that falls inside a frame's payload costs one comparison; otherwise the work is one
    pass over the headers the chunk holds. The first bad header is reported from the chunk
    that completes it.
    """

    __slots__ = ("_header", "_limit", "_skip")

    def __init__(self, frame_limit: int) -> None:
        self._limit = frame_limit
        self._skip = 0  # payload bytes of the current frame still to pass
        self._header = b""  # an incomplete header carried over from the previous chunk

    def feed(self, data: bytes | bytearray | memoryview) -> FrameProblem | None:
        """Check each header that starts in ``data``; the first problem found, if any."""
        size = len(data)
        if self._skip >= size:
            self._skip -= size
            return None
        position, self._skip = self._skip, 0
        if self._header:
            data = self._header + bytes(data[position:])
            position, size, self._header = 0, len(data), b""
        while position < size:
            if size - position < 2:
                self._header = bytes(data[position:])
                return None
            second = data[position + 1]
            if second < _MASKED:  # §5.1: a server MUST fail on an unmasked client frame
                return UNMASKED
            length = second - _MASKED
            # Two bytes and the extended length (none, 2 or 8 bytes) decide; the 4-byte mask
            # that follows is skipped with the payload. Deciding before the mask matters: with
            # all 8 length bytes, aiohttp would answer a length over 2**63 as too big.
            header = 2 if length < _LENGTH_16 else 4 if length == _LENGTH_16 else 10
            if size - position < header:
                self._header = bytes(data[position:])
                return None
            if length == _LENGTH_16:
                length = int.from_bytes(data[position + 2 : position + 4], "big")
            elif length == _LENGTH_64:
                if data[position + 2] & 0x80:  # §5.2: the most significant bit MUST be 0
                    return LENGTH_OVERFLOW
                length = int.from_bytes(data[position + 2 : position + 10], "big")
            if length > self._limit and data[position] & 0x0F < _FIRST_CONTROL_OPCODE:
                # Oversized control frames are the engine's protocol error, not a size close.
                reason = f"Frame of {length} bytes exceeds the frame limit"
                return FrameProblem(MESSAGE_TOO_BIG, reason, length)
            position += header + _MASK_BYTES + length
        self._skip = position - size
        return None


# Frame header bits (RFC 6455 §5.2).
_MASKED: Final = 0x80
_LENGTH_16: Final = 126
_LENGTH_64: Final = 127
_FIRST_CONTROL_OPCODE: Final = 0x8
_MASK_BYTES: Final = 4

OPCODE_TEXT: Final = 0x1
OPCODE_BINARY: Final = 0x2
_FIN: Final = 0x80


# The headers of short frames, made once: a reply is framed per message, and building two
# bytes costs more than the rest of the framing.
_SHORT_HEADERS: Final = {
    opcode: tuple(bytes((_FIN | opcode, size)) for size in range(126)) for opcode in range(16)
}


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unfragmented, unmasked frame (a server's frames are never masked, RFC 6455 §5.1)."""
    size = len(payload)
    if size < 126:
        header = _SHORT_HEADERS[opcode][size]
    elif size < 65536:
        header = bytes((_FIN | opcode, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FIN | opcode, 127)) + size.to_bytes(8, "big")
    return header + payload
