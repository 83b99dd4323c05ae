"""The load generator's clients: connections that keep a window of messages in flight.

Each worker process of ``loadgen.py`` opens its connections with one of these clients, waits
until every worker is connected, then drives them: warm-up, measured window, stop. picows is
the fast one (C parser; frames masked once and written as prebuilt bytes; the replies of one
socket read answered with one write); aiohttp is the fallback and a point of comparison.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# Latency histogram: 10 µs buckets up to 2 s, the last bucket holds everything slower.
BUCKET_SCALE = 100_000
LAST_BUCKET = 200_000
_CONNECT_CONCURRENCY = 64

try:
    from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
except ImportError:  # pragma: no cover - fall back to aiohttp
    WSListener = object  # type: ignore[misc,assignment]
    HAVE_PICOWS = False
else:
    HAVE_PICOWS = True


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What one load run does; picklable, handed to every worker process."""

    url: str
    payload: str
    connections: int = 100
    workers: int = 2
    window: int = 1
    warmup: float = 3.0
    duration: float = 8.0
    client: str = "auto"
    aiofastnet: bool | None = None
    cpus: tuple[int, ...] = ()
    connect_timeout: float = 20.0


def masked_text_frame(payload: bytes, mask: bytes) -> bytes:
    """Encode ``payload`` as one masked, final text frame (RFC 6455 §5.2)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return header + mask + masked


class Counters:
    """Per-process counters shared by all connections of one worker."""

    def __init__(self, config: LoadConfig) -> None:
        self.payload = config.payload.encode()
        self.window = config.window
        # Index k holds k frames back to back, so k owed messages cost one write.
        frame = masked_text_frame(self.payload, os.urandom(4))
        self.frames = [frame * count for count in range(config.window + 1)]
        self.histogram = [0] * (LAST_BUCKET + 1)
        self.measuring = False
        self.stopping = False
        self.replies = 0
        self.mismatched = 0
        self.disconnected = 0
        self.cpu_seconds = 0.0

    def record(self, latency: float, count: int = 1) -> None:
        """Count ``count`` replies received inside the measured window, ``latency`` apart."""
        self.replies += count
        self.histogram[min(int(latency * BUCKET_SCALE), LAST_BUCKET)] += count


_TEXT = WSMsgType.TEXT if HAVE_PICOWS else None
_BINARY = WSMsgType.BINARY if HAVE_PICOWS else None


class _PicowsFlow(WSListener):
    """One picows connection: answers every reply with the next message.

    The per-frame callback only counts; the replies of one socket read are timed, accounted
    and answered together (one clock read, one prebuilt write), so the generator spends less
    per message than a server that answers frame by frame.
    """

    def __init__(self, run: Counters) -> None:
        self._run = run
        self._size = len(run.payload)
        # Batches in flight, oldest first: [send time, messages]; the server answers in order.
        self._in_flight: deque[list[float]] = deque()
        self._owed = 0
        self._odd = 0
        self._write: Callable[[bytes], object] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._write = transport.underlying_transport.write

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._run.disconnected += 1

    def start(self) -> None:
        """Put the first window of messages in flight."""
        self._send(self._run.window, time.perf_counter())

    def _send(self, count: int, now: float) -> None:
        assert self._write is not None
        self._write(self._run.frames[count])
        self._in_flight.append([now, count])

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY:
            self._owed += 1
            if frame.payload_size != self._size:
                self._odd += 1
            if frame.last_in_buffer:
                self._answer()
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _answer(self) -> None:
        now = time.perf_counter()
        run = self._run
        owed, self._owed = self._owed, 0
        if run.measuring:
            run.mismatched += self._odd
        self._odd = 0
        remaining = owed
        in_flight = self._in_flight
        while remaining and in_flight:
            batch = in_flight[0]
            taken = min(remaining, int(batch[1]))
            if run.measuring:
                run.record(now - batch[0], taken)
            remaining -= taken
            if taken == batch[1]:
                in_flight.popleft()
            else:
                batch[1] -= taken
        # Frames beyond the messages in flight were not asked for: count them, answer none.
        answered = owed - remaining
        if answered and not run.stopping:
            self._send(answered, now)


async def _connect_picows(config: LoadConfig, run: Counters, count: int) -> list[Any]:
    gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)

    async def one() -> tuple[WSTransport, _PicowsFlow]:
        async with gate:
            transport, flow = await ws_connect(
                lambda: _PicowsFlow(run),
                config.url,
                websocket_handshake_timeout=config.connect_timeout,
                use_aiofastnet=config.aiofastnet,
            )
        if not isinstance(flow, _PicowsFlow):
            # picows hands back no listener when the peer hangs up during the handshake.
            raise ConnectionError("connection closed during the opening handshake")
        return transport, flow

    pairs = await asyncio.gather(*(one() for _ in range(count)))
    return list(pairs)


async def _drive_picows(config: LoadConfig, run: Counters, pairs: list[Any]) -> None:
    for _, flow in pairs:
        flow.start()
    await _measure(config, run)
    for transport, _ in pairs:
        if not transport.is_disconnected:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


async def _connect_aiohttp(config: LoadConfig, run: Counters, count: int) -> list[Any]:
    import aiohttp

    session = aiohttp.ClientSession()
    gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)

    async def one() -> aiohttp.ClientWebSocketResponse:
        async with gate:
            return await session.ws_connect(
                config.url, autoclose=False, timeout=aiohttp.ClientWSTimeout(ws_close=1)
            )

    try:
        sockets = await asyncio.gather(*(one() for _ in range(count)))
    except BaseException:
        await session.close()
        raise
    return [session, *sockets]


async def _aiohttp_flow(ws: Any, run: Counters) -> None:
    import aiohttp

    sent_at: deque[float] = deque()
    text = run.payload.decode()
    for _ in range(run.window):
        sent_at.append(time.perf_counter())
        await ws.send_str(text)
    async for message in ws:
        if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY) or not sent_at:
            continue
        now = time.perf_counter()
        latency = now - sent_at.popleft()
        if run.measuring:
            run.record(latency)
            if len(message.data) != len(text):
                run.mismatched += 1
        if run.stopping:
            return
        sent_at.append(now)
        await ws.send_str(text)
    run.disconnected += 1


async def _drive_aiohttp(config: LoadConfig, run: Counters, handles: list[Any]) -> None:
    session, sockets = handles[0], handles[1:]
    flows = [asyncio.create_task(_aiohttp_flow(ws, run)) for ws in sockets]
    try:
        await _measure(config, run)
    finally:
        for task in flows:
            task.cancel()
        await asyncio.gather(*flows, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await session.close()


async def _measure(config: LoadConfig, run: Counters) -> None:
    await asyncio.sleep(config.warmup)
    run.measuring = True
    cpu_start = time.process_time()
    await asyncio.sleep(config.duration)
    run.cpu_seconds = time.process_time() - cpu_start
    run.measuring = False
    run.stopping = True
    # Let the last replies in flight land before closing, so servers see clean closes.
    await asyncio.sleep(0.1)


def client_name(config: LoadConfig) -> str:
    """The client ``config`` asks for, ``auto`` resolved."""
    if config.client == "auto":
        return "picows" if HAVE_PICOWS else "aiohttp"
    return config.client


Connect = Callable[[LoadConfig, Counters, int], Awaitable[list[Any]]]
Drive = Callable[[LoadConfig, Counters, list[Any]], Awaitable[None]]
# name -> (open ``count`` connections, run the warm-up and measured window over them)
CLIENTS: dict[str, tuple[Connect, Drive]] = {
    "picows": (_connect_picows, _drive_picows),
    "aiohttp": (_connect_aiohttp, _drive_aiohttp),
}
