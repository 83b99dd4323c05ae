"""A near-free WebSocket responder, to measure the load generator's own ceiling.

Not a real server: after the opening handshake it answers each client frame with an unmasked
text frame of the same length (filled with ``x``, the payload is not unmasked), and all the
answers to one read in a single write. Only frames under 126 bytes are handled. When the
generator reaches far more msgs/s against this than against a real server, the generator is
not what limits that server's number. Prints the bound port on the first line of stdout.

    python bench/servers/null_echo.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
from typing import cast

import uvloop

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CLOSE = 0x8


class _NullEcho(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._open = False
        self._answers: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer + data
        if not self._open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            self._transport.write(_accept(buffer[:end]))
            self._open = True
            buffer = buffer[end + 4 :]
        answers, position = [], 0
        while len(buffer) - position >= 2:
            size = buffer[position + 1] & 0x7F
            if size >= 126 or buffer[position] & 0x0F == _CLOSE:
                self._transport.close()
                return
            if len(buffer) - position < 6 + size:
                break
            answers.append(self._answer(size))
            position += 6 + size
        self._buffer = buffer[position:]
        if answers:
            self._transport.write(b"".join(answers))

    def _answer(self, size: int) -> bytes:
        answer = self._answers.get(size)
        if answer is None:
            answer = self._answers[size] = bytes((0x81, size)) + b"x" * size
        return answer


def _accept(request: bytes) -> bytes:
    key = next(
        line.partition(b":")[2].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


async def _serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_NullEcho, host, port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the arguments and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
