"""Per-frame size checks on the raw byte stream (§1.4: 32 KB frames inside 128 KB messages).

WebSocket engines bound whole messages; AWS also bounds each frame. :class:`FrameScanner`
follows frame headers through the bytes a client sends, without copying payloads, and reports
the first frame whose payload exceeds the limit.
"""

from __future__ import annotations

from typing import Final

__all__ = ["OPCODE_BINARY", "OPCODE_TEXT", "FrameScanner", "encode_frame"]


class FrameScanner:
    """Tracks frame boundaries across arbitrary chunks of a client's byte stream."""

    __slots__ = ("_header", "_limit", "_skip")

    def __init__(self, frame_limit: int) -> None:
        self._limit = frame_limit
        self._skip = 0  # payload bytes of the current frame still to pass
        self._header = b""  # an incomplete header carried over from the previous chunk

    def feed(self, data: bytes | bytearray | memoryview) -> int | None:
        """Scan one chunk; return the size of an oversized frame, else None."""
        size = len(data)
        if self._skip >= size:
            self._skip -= size
            return None
        position = self._skip
        self._skip = 0
        if self._header:
            data = self._header + bytes(data[position:])
            position = 0
            size = len(data)
            self._header = b""
        while position < size:
            if size - position < 2:
                self._header = bytes(data[position:])
                return None
            second = data[position + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if second & 0x80:
                header += 4
            if size - position < header:
                self._header = bytes(data[position:])
                return None
            if length == 126:
                length = int.from_bytes(data[position + 2 : position + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[position + 2 : position + 10], "big")
            if length > self._limit and data[position] & 0x0F < 0x8:
                return length
            end = position + header + length
            if end > size:
                self._skip = end - size
                return None
            position = end
        return None


OPCODE_TEXT: Final = 0x1
OPCODE_BINARY: Final = 0x2
_FIN: Final = 0x80


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unfragmented, unmasked frame (a server's frames are never masked, RFC 6455 §5.1)."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN | opcode, size))
    elif size < 65536:
        header = bytes((_FIN | opcode, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FIN | opcode, 127)) + size.to_bytes(8, "big")
    return header + payload
