"""Open-loop latency: messages sent at a fixed rate, each timed from when it was due.

Message ``i`` is due at ``start + i / rate`` and goes out on connection ``i % connections``,
whether or not earlier replies have come back. A reply's latency is measured from its message's
due time, not from when it was actually written, so a server (or client) that falls behind
shows its backlog in the latency instead of hiding it (no coordinated omission). Each message
carries its number (``{"action":"echo","data":"00000042"}``), so replies may come back in any
order. Messages due in the measured window count; one whose reply has not come ``--drain``
seconds after the window counts as ``missing`` and as slower than every reply.

Prints one JSON object: the rate asked and achieved, p50/p99/p99.9/max in milliseconds, missing
replies, and the CPU of this process and, with ``--server-pid``, of the server.

    python bench/open_loop.py ws://127.0.0.1:PORT/dev --rate 1000 --duration 8 --cpus 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from loadgen_clients import masked_text_frame
from ws_raw import CpuWindow, client_parser, open_connection, run_client, upgrade_request

_NUMBER = re.compile(rb'"data":"(\d+)"')
# How often the sender wakes up to send what has fallen due: the event loop's timers have a
# resolution of 1 ms, and shorter sleeps spin. A message leaves up to this late, and it counts.
_TICK = 0.001


class _Replies:
    """Reply times by message number, read from the frames of every connection."""

    def __init__(self) -> None:
        self.received: dict[int, float] = {}

    def feed(self, data: bytes) -> None:
        now = time.perf_counter()
        for number in _NUMBER.findall(data):
            self.received[int(number)] = now


async def _connect(url: str, count: int, replies: _Replies) -> list[asyncio.Transport]:
    request = upgrade_request(url)
    transports = []
    for _ in range(count):
        # Frames from the server are small and unmasked: the numbers are found in the raw bytes.
        connection = await open_connection(
            url, request, None, cycle=False, on_lost=_ignore, on_data=replies.feed
        )
        assert connection.transport is not None
        transports.append(connection.transport)
    return transports


def _ignore() -> None:
    pass


def _frame(number: int) -> bytes:
    return masked_text_frame(f'{{"action":"echo","data":"{number:08d}"}}'.encode(), os.urandom(4))


async def _send(transports: list[asyncio.Transport], rate: float, start: float, total: int) -> None:
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            transports[sent % len(transports)].write(_frame(sent))
            sent += 1
        await asyncio.sleep(_TICK)


def _percentiles(latencies: list[float]) -> dict[str, float | None]:
    ordered = sorted(latencies)
    total = len(ordered)

    def at(fraction: float) -> float | None:
        if not total:
            return None
        return round(ordered[min(total - 1, int(fraction * total))] * 1000, 3)

    return {"p50": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "max": at(1.0)}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    replies = _Replies()
    transports = await _connect(args.url, args.connections, replies)
    start = time.perf_counter() + 0.1
    first = int(args.warmup * args.rate)
    last = int((args.warmup + args.duration) * args.rate)
    # The warm-up sends at the rate too: started only with the measured window, the sender
    # would first send every message of the warm-up at once, and the measured ones would
    # queue behind that burst.
    sender = asyncio.create_task(_send(transports, args.rate, start, last))
    await asyncio.sleep(max(0.0, start - time.perf_counter() + args.warmup))
    window = CpuWindow(args.server_pid)
    await asyncio.sleep(args.duration)
    used = window.stop()
    await sender
    deadline = time.perf_counter() + args.drain
    while time.perf_counter() < deadline and not all(
        number in replies.received for number in range(first, last)
    ):
        await asyncio.sleep(0.1)
    for transport in transports:
        transport.abort()
    latencies = [
        replies.received[number] - (start + number / args.rate)
        for number in range(first, last)
        if number in replies.received
    ]
    missing = (last - first) - len(latencies)
    latencies += [float(args.drain)] * missing
    return {
        "url": args.url,
        "rate": args.rate,
        "connections": args.connections,
        "duration": args.duration,
        "messages": last - first,
        "missing": missing,
        "achieved_per_s": round((last - first - missing) / args.duration),
        "latency_ms": _percentiles(latencies),
        **used,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the JSON report; exit 1 when replies went missing."""
    parser = client_parser(__doc__.split("\n", 1)[0], duration=8.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for late replies")
    report = run_client(parser.parse_args(argv), _run)
    return 0 if not report["missing"] else 1


if __name__ == "__main__":
    sys.exit(main())
