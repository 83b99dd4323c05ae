"""Another connection's replies while a sync handler sleeps: what blocking I/O costs the others.

Two connections to a gateway whose function answers the route ``sleep`` after a blocking
``time.sleep(0.1)`` and the route ``echo`` at once (``sleepy`` in ``echo/handlers.py``). The
sleeper keeps one ``sleep`` message in flight all the time; the prober sends one ``echo``
message at a time, ``--pause`` apart, and times each reply from its send. With
``--no-sleeper`` the sleeper stays quiet: the same prober, for the baseline.

Prints one JSON object: the prober's replies and their p50/p99/max in ms, the sleeps answered,
and the CPU of this process and, with ``--server-pid``, of the server.

    python bench/blocking.py ws://127.0.0.1:PORT/dev --warmup 1 --duration 5 [--no-sleeper]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from ws_raw import CpuWindow, client_parser, run_client

_SLEEP = '{"action":"sleep"}'
_ECHO = '{"action":"echo"}'


async def _sleeper(ws: aiohttp.ClientWebSocketResponse, until: float, done: list[int]) -> None:
    while time.perf_counter() < until:
        await ws.send_str(_SLEEP)
        await ws.receive()
        done[0] += 1


async def _probe(
    ws: aiohttp.ClientWebSocketResponse, since: float, until: float, pause: float
) -> list[float]:
    times = []
    while (now := time.perf_counter()) < until:
        await ws.send_str(_ECHO)
        await ws.receive()
        if now >= since:
            times.append((time.perf_counter() - now) * 1000)
        await asyncio.sleep(pause)
    return times


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        sleeper = await session.ws_connect(args.url, autoping=False)
        prober = await session.ws_connect(args.url, autoping=False)
        start = time.perf_counter()
        since, until = start + args.warmup, start + args.warmup + args.duration
        slept = [0]
        tasks = [asyncio.create_task(_sleeper(sleeper, until, slept))] if args.sleeper else []
        await asyncio.sleep(args.warmup)
        cpu = CpuWindow(args.server_pid)
        times = await _probe(prober, since, until, args.pause)
        usage = cpu.stop()
        await asyncio.gather(*tasks)
        await sleeper.close()
        await prober.close()
    ordered = sorted(times)
    return {
        "sleeper": args.sleeper,
        "replies": len(times),
        "sleeps": slept[0],
        "reply_ms": {
            "p50": _percentile(ordered, 0.5),
            "p99": _percentile(ordered, 0.99),
            "max": round(ordered[-1], 3) if ordered else None,
        },
        **usage,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the report; exit 1 when the prober got no reply."""
    parser = client_parser(__doc__.split("\n", 1)[0], duration=5.0)
    parser.add_argument("--pause", type=float, default=0.002, help="seconds between probes")
    parser.add_argument("--no-sleeper", dest="sleeper", action="store_false")
    report = run_client(parser.parse_args(argv), _measure)
    return 0 if report["replies"] else 1


if __name__ == "__main__":
    sys.exit(main())
