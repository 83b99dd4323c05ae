"""Opening handshakes per second: connect, upgrade, close, as fast as the server allows.

``--concurrency`` connections cycle side by side: each opens a TCP connection, sends the
upgrade request, and on the server's 101 sends a close frame and waits for the server's answer
or its end of the connection. The kernel picks each source port at connect time and, on
loopback, reuses ports in TIME_WAIT (``net.ipv4.tcp_tw_reuse`` 2, the default), so ports last;
``--sources`` binds to 127.0.0.2, .3, ... instead, which costs the client more. Cycles
completed in the measured window are counted. Prints one JSON object: handshakes per second,
failures, the CPU this process spent (it must stay below one core, or the client is what is
measured) and, with ``--server-pid``, the server's.

    python bench/handshakes.py ws://127.0.0.1:PORT/dev --concurrency 32 --duration 5 --cpus 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from ws_raw import (
    CpuWindow,
    client_parser,
    open_connection,
    run_client,
    source_address,
    upgrade_request,
)


class _Tally:
    def __init__(self) -> None:
        self.measuring = False
        self.done = 0
        self.failed = 0
        self.errors: dict[str, int] = {}


async def _cycle(url: str, index: int, sources: int, stop: float, tally: _Tally) -> None:
    request = upgrade_request(url)
    step = 0
    while time.monotonic() < stop:
        local = source_address(index + step, sources)
        step += 1
        try:
            connection = await open_connection(url, request, local, cycle=True, on_lost=_ignore)
            await asyncio.wait_for(connection.closed, 10)
        except (OSError, TimeoutError) as error:
            if tally.measuring:
                tally.failed += 1
                name = f"{type(error).__name__}: {error}"
                tally.errors[name] = tally.errors.get(name, 0) + 1
            continue
        if tally.measuring:
            tally.done += 1


def _ignore() -> None:
    pass


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    tally = _Tally()
    stop = time.monotonic() + args.warmup + args.duration
    tasks = [
        asyncio.create_task(_cycle(args.url, index, args.sources, stop, tally))
        for index in range(args.concurrency)
    ]
    await asyncio.sleep(args.warmup)
    tally.measuring = True
    window = CpuWindow(args.server_pid)
    await asyncio.sleep(args.duration)
    tally.measuring = False
    used = window.stop()
    await asyncio.gather(*tasks)
    return {
        "url": args.url,
        "concurrency": args.concurrency,
        "duration": args.duration,
        "handshakes_per_s": round(tally.done / args.duration),
        "failed": tally.failed,
        "errors": sorted(tally.errors, key=tally.errors.__getitem__, reverse=True)[:3],
        **used,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the JSON report; exit 1 when no handshake completed."""
    parser = client_parser(__doc__.split("\n", 1)[0], duration=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sources", type=int, default=0, help="local addresses 127.0.0.2...")
    report = run_client(parser.parse_args(argv), _run)
    return 0 if report["handshakes_per_s"] else 1


if __name__ == "__main__":
    sys.exit(main())
