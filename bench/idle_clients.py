"""Idle WebSocket clients, opened on command: the other end of the memory bench.

Reads commands on stdin, one a line, and answers each with one JSON line on stdout:

- ``open N``: open N more connections (at most ``--concurrency`` handshakes at a time, from
  127.0.0.2, .3, ... in turn), then report ``{"open": total, "failed": k, "seconds": s,
  "lost": l, "errors": [...]}``; ``lost`` counts held connections the server dropped;
- ``close``: drop every connection, report, and exit.

    python bench/idle_clients.py ws://127.0.0.1:PORT/dev --cpus 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvloop
from loadgen import parse_cpus
from ws_raw import RawConnection, open_connection, raise_file_limit, source_address, upgrade_request


class _Holder:
    def __init__(self, url: str, sources: int, concurrency: int) -> None:
        self._url = url
        self._request = upgrade_request(url)
        self._sources = sources
        self._concurrency = concurrency
        self._connections: list[RawConnection] = []
        self.lost = 0

    def _lose(self) -> None:
        self.lost += 1

    async def open(self, count: int) -> dict[str, Any]:
        gate = asyncio.Semaphore(self._concurrency)
        started = time.monotonic()
        base = len(self._connections)

        async def one(index: int) -> RawConnection:
            local = source_address(index, self._sources)
            async with gate:
                return await asyncio.wait_for(
                    open_connection(
                        self._url, self._request, local, cycle=False, on_lost=self._lose
                    ),
                    30,
                )

        outcomes = await asyncio.gather(
            *(one(base + index) for index in range(count)), return_exceptions=True
        )
        errors: dict[str, int] = {}
        for outcome in outcomes:
            if isinstance(outcome, RawConnection):
                self._connections.append(outcome)
            else:
                name = f"{type(outcome).__name__}: {outcome}"
                errors[name] = errors.get(name, 0) + 1
        return self.report(
            failed=sum(errors.values()),
            seconds=round(time.monotonic() - started, 2),
            errors=sorted(errors, key=errors.__getitem__, reverse=True)[:3],
        )

    def report(self, **fields: Any) -> dict[str, Any]:
        return {"open": len(self._connections), "lost": self.lost, **fields}

    def close(self) -> dict[str, Any]:
        report = self.report()
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        return report


async def _serve(args: argparse.Namespace) -> None:
    holder = _Holder(args.url, args.sources, args.concurrency)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = line.split()
        if not command or command[0] == "close":
            print(json.dumps(holder.close()), flush=True)
            await asyncio.sleep(0.5)
            return
        if command[0] == "open":
            print(json.dumps(await holder.open(int(command[1]))), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Hold connections as told on stdin."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--sources", type=int, default=8, help="local addresses 127.0.0.2...")
    parser.add_argument("--cpus", type=parse_cpus, default=())
    parser.add_argument("--max-connections", type=int, default=110_000)
    args = parser.parse_args(argv)
    raise_file_limit(args.max_connections + 1024)
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    uvloop.run(_serve(args))


if __name__ == "__main__":
    main()
