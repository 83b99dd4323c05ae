"""RFC 6455 at the byte level: hand-built handshakes and frames against a real gateway.

A plain asyncio stream is the client, so that it can break the protocol in ways a WebSocket
library refuses to: unmasked frames, forbidden close codes, impossible lengths, bad handshakes.
Each row checks the close code on the wire and what ``$disconnect`` reports.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
from dataclasses import dataclass

import pytest

from tests.helpers import UNIT, RunningGateway, eventually

TEXT, CLOSE = 0x1, 0x8
KEY = base64.b64encode(b"0123456789abcdef").decode()
ECHO = json.dumps({"action": "echo", "data": "hi"}).encode()
PROTOCOL_ERROR = (1002, "Protocol error")
NO_STATUS = (1005, "Client-side close frame status not set")


def frame(
    opcode: int, payload: bytes = b"", *, mask: bool = True, length: int | None = None
) -> bytes:
    """One final frame; ``length`` announces a size other than the payload's."""
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask else 0
    if size < 126:
        header = bytes((0x80 | opcode, mask_bit | size))
    elif size < 65536:
        header = bytes((0x80 | opcode, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, mask_bit | 127)) + size.to_bytes(8, "big")
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, code.to_bytes(2, "big") + reason)


def request(
    *,
    method: str = "GET",
    version: str = "HTTP/1.1",
    path: str = "/dev",
    drop: tuple[str, ...] = (),
    **replace: str,
) -> bytes:
    """An upgrade request; keyword arguments replace headers (underscores for dashes)."""
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    headers.update({name.replace("_", "-"): value for name, value in replace.items()})
    lines = [f"{method} {path} {version}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Response:
    status: int
    headers: dict[str, str]


class RawClient:
    """A TCP connection that speaks just enough WebSocket to misbehave on purpose."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, gateway: RunningGateway) -> RawClient:
        return cls(*await asyncio.open_connection("127.0.0.1", gateway.port))

    async def handshake(self, data: bytes) -> Response:
        self.writer.write(data)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10 * UNIT)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines if line)
        return Response(int(status_line.split()[1]), headers)

    async def read_frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(await self.reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await self.reader.readexactly(8), "big")
        assert not second & 0x80, "a server's frames are never masked"
        return first & 0x0F, await self.reader.readexactly(size)

    async def read_close(self) -> tuple[int | None, bytes]:
        """The server's close frame (code, reason), skipping any data frames before it."""
        while True:
            opcode, payload = await asyncio.wait_for(self.read_frame(), 10 * UNIT)
            if opcode == CLOSE:
                code = int.from_bytes(payload[:2], "big") if payload else None
                return code, payload[2:]

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:  # the server may already have reset it
            pass


async def _open(gateway: RunningGateway) -> RawClient:
    client = await RawClient.connect(gateway)
    assert (await client.handshake(request())).status == 101
    return client


async def _disconnect(gateway: RunningGateway) -> tuple[int, str]:
    event = (await eventually(lambda: gateway.events("DISCONNECT")))[0]
    context = event["requestContext"]
    return context["disconnectStatusCode"], context["disconnectReason"]


# -- frames ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "wire", "disconnect"),
    [
        # §5.1: a client frame without a mask fails the connection.
        (frame(TEXT, ECHO, mask=False), 1002, PROTOCOL_ERROR),
        (frame(CLOSE, (1000).to_bytes(2, "big"), mask=False), 1002, PROTOCOL_ERROR),
        # §7.4.1: 1005 and 1006 are never sent in a frame; 1015 neither.
        (close_frame(1005), 1002, PROTOCOL_ERROR),
        (close_frame(1006), 1002, PROTOCOL_ERROR),
        (close_frame(1015), 1002, PROTOCOL_ERROR),
        # §7.4.2 and the IANA registry: unassigned or out-of-range codes.
        (close_frame(0), 1002, PROTOCOL_ERROR),
        (close_frame(999), 1002, PROTOCOL_ERROR),
        (close_frame(1004), 1002, PROTOCOL_ERROR),
        (close_frame(1016), 1002, PROTOCOL_ERROR),
        (close_frame(2999), 1002, PROTOCOL_ERROR),
        (close_frame(5000), 1002, PROTOCOL_ERROR),
        (close_frame(65535), 1002, PROTOCOL_ERROR),
        # §5.5.1: a body is a 2-byte code then UTF-8 (1007 as for text, docs/conformance.md).
        (frame(CLOSE, b"\x03"), 1002, PROTOCOL_ERROR),
        (close_frame(1000, b"\xff\xfe"), 1007, (1007, "Invalid frame payload data")),
        # §5.2: the most significant bit of a 64-bit length must be 0.
        (frame(TEXT, length=2**63), 1002, PROTOCOL_ERROR),
        (frame(TEXT, length=2**64 - 1), 1002, PROTOCOL_ERROR),
        # A legal length that is merely too big stays 1009.
        (frame(TEXT, length=2**40), 1009, (1009, "Message too big")),
        (frame(TEXT, length=2**63 - 1), 1009, (1009, "Message too big")),
        # §5.5.1: the client's valid code is echoed and reported as sent.
        (close_frame(1000, "bye ✓".encode()), 1000, (1000, "bye ✓")),
        (close_frame(1001), 1001, (1001, "")),
        (close_frame(1003), 1003, (1003, "")),
        (close_frame(1011, b"oops"), 1011, (1011, "oops")),
        (close_frame(1014), 1014, (1014, "")),
        (close_frame(3000), 3000, (3000, "")),
        (close_frame(4999, b"app"), 4999, (4999, "app")),
        (frame(CLOSE), 1000, NO_STATUS),
    ],
    ids=[
        "unmasked-text",
        "unmasked-close",
        "close-1005",
        "close-1006",
        "close-1015",
        "close-0",
        "close-999",
        "close-1004",
        "close-1016",
        "close-2999",
        "close-5000",
        "close-65535",
        "close-one-byte",
        "close-reason-not-utf8",
        "length-2^63",
        "length-2^64-1",
        "length-2^40",
        "length-2^63-1",
        "close-1000-utf8-reason",
        "close-1001",
        "close-1003",
        "close-1011",
        "close-1014",
        "close-3000",
        "close-4999",
        "close-empty",
    ],
)
async def test_frames(
    basic: RunningGateway, sent: bytes, wire: int, disconnect: tuple[int, str]
) -> None:
    client = await _open(basic)
    client.writer.write(sent)
    assert (await client.read_close())[0] == wire
    await client.close()
    assert await _disconnect(basic) == disconnect


async def test_masked_frame_is_echoed(basic: RunningGateway) -> None:
    client = await _open(basic)
    client.writer.write(frame(TEXT, ECHO))
    assert await asyncio.wait_for(client.read_frame(), 10 * UNIT) == (TEXT, ECHO)
    client.writer.write(close_frame(1000))
    assert await client.read_close() == (1000, b"")
    await client.close()
    assert await _disconnect(basic) == (1000, "")


async def test_unmasked_frame_sent_with_the_handshake(basic: RunningGateway) -> None:
    # Bytes that arrive while $connect runs reach the engine before any later read: the check
    # must see them too.
    client = await RawClient.connect(basic)
    assert (await client.handshake(request() + frame(TEXT, ECHO, mask=False))).status == 101
    assert (await client.read_close())[0] == 1002
    await client.close()
    assert await _disconnect(basic) == PROTOCOL_ERROR
    assert basic.events("MESSAGE") == []


async def test_unmasked_frame_after_masked_ones(basic: RunningGateway) -> None:
    client = await _open(basic)
    # Several frames in one write, split at odd places: the check follows frame boundaries.
    stream = frame(TEXT, ECHO) * 3 + frame(TEXT, ECHO, mask=False)
    for start in range(0, len(stream), 7):
        client.writer.write(stream[start : start + 7])
        await client.writer.drain()
    assert (await client.read_close())[0] == 1002
    await client.close()
    assert await _disconnect(basic) == PROTOCOL_ERROR


async def test_frame_limit_equal_to_message_limit_still_checks_masks(
    basic: RunningGateway,
) -> None:
    # With no frame limit of its own to enforce, the stream is still checked for masks.
    stages = basic.gateway.dataplane.stages
    limits = stages["dev"].config.limits
    same = limits.model_copy(update={"frame_size_bytes": limits.message_size_bytes})
    config = stages["dev"].config.model_copy(update={"limits": same})
    stages["dev"] = dataclasses.replace(stages["dev"], config=config)
    client = await _open(basic)
    client.writer.write(frame(TEXT, ECHO, mask=False))
    assert (await client.read_close())[0] == 1002
    await client.close()


# -- handshakes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        # §4.4: an unsupported version is told which one to use.
        (request(Sec_WebSocket_Version="8"), 426),
        (request(Sec_WebSocket_Version="7"), 426),
        (request(Sec_WebSocket_Version="14"), 426),
        (request(drop=("Sec-WebSocket-Version",)), 426),
        # §4.2.1: a GET over HTTP/1.1 or later.
        (request(method="POST"), 400),
        (request(method="HEAD"), 400),
        (request(version="HTTP/1.0"), 400),
        # §4.2.1: a key that is base64 of 16 bytes.
        (request(drop=("Sec-WebSocket-Key",)), 400),
        (request(Sec_WebSocket_Key="not base64!"), 400),
        (request(Sec_WebSocket_Key=base64.b64encode(b"15 bytes only..").decode()), 400),
        (request(Sec_WebSocket_Key=base64.b64encode(b"17 bytes, one more").decode()), 400),
        # §4.2.1: Upgrade: websocket and Connection: Upgrade.
        (request(drop=("Upgrade",)), 400),
        (request(Upgrade="h2c"), 400),
        (request(drop=("Connection",)), 400),
        (request(Connection="keep-alive"), 400),
    ],
    ids=[
        "version-8",
        "version-7",
        "version-14",
        "version-missing",
        "post",
        "head",
        "http-1.0",
        "key-missing",
        "key-not-base64",
        "key-15-bytes",
        "key-17-bytes",
        "upgrade-missing",
        "upgrade-h2c",
        "connection-missing",
        "connection-keep-alive",
    ],
)
async def test_bad_handshakes_are_refused_before_connect(
    basic: RunningGateway, data: bytes, status: int
) -> None:
    client = await RawClient.connect(basic)
    response = await client.handshake(data)
    await client.close()
    assert response.status == status
    if status == 426:
        assert response.headers["Sec-WebSocket-Version"] == "13"
        assert response.headers["Upgrade"] == "websocket"
    # $connect never ran (its function records every event it gets), and nothing opened.
    assert basic.events("CONNECT") == []
    assert basic.gateway.dataplane.live == {}


@pytest.mark.parametrize(
    "data",
    [
        request(Connection="keep-alive, Upgrade"),
        request(Connection="keep-alive\r\nConnection: Upgrade"),
        request(Upgrade="WebSocket", Connection="upgrade"),
    ],
    ids=["connection-list", "connection-twice", "header-case"],
)
async def test_handshake_variants_are_accepted(basic: RunningGateway, data: bytes) -> None:
    client = await RawClient.connect(basic)
    response = await client.handshake(data)
    assert response.status == 101
    assert response.headers["Sec-WebSocket-Accept"] == "BACScCJPNqyz+UBoqMH89VmURoA="
    client.writer.write(close_frame(1000))
    assert await client.read_close() == (1000, b"")
    await client.close()
    assert len(basic.events("CONNECT")) == 1
