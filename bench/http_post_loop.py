"""POSTs per second through HttpTransport.send against aiohttp's own client loop.

Starts a minimal aiohttp backend (a POST answers with its body) in a subprocess pinned to CPU 0
with ``taskset -c 0``, pins this process to CPU 1, then keeps ``--concurrency`` POSTs in flight
for ``--duration`` seconds in two ways, alternating for ``--rounds`` rounds:

- ``aiohttp``: a plain ``aiohttp.ClientSession`` loop (``session.post`` + ``read``);
- ``transport``: the same requests through :meth:`wsgate.integrations.transport.HttpTransport.send`.

Prints one JSON object: the median (and best) requests/s of each, their ratio (transport /
aiohttp), the client's CPU time per request, and
the CPU share each side and everything else used in the measured windows: a client near 1.0
is the client's own ceiling on one core; a high ``noise_cpu`` means other work shared the CPUs.

    /work/venv/bin/python bench/http_post_loop.py [--duration 5] [--concurrency 64] [--size 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wsgate.core.exchange import BackendRequest  # noqa: E402
from wsgate.integrations.transport import HttpTransport  # noqa: E402

try:
    import uvloop
except ImportError:  # pragma: no cover - a dependency off Windows
    uvloop = None  # type: ignore[assignment]

SERVER_CPU = 0
CLIENT_CPU = 1
WARMUP = 1.0
HEADERS = (("Content-Type", "application/json"), ("User-Agent", "AmazonAPIGateway_bench"))


# -- the backend (runs in the pinned subprocess) -------------------------------------------------


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def _serve() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# -- the load ------------------------------------------------------------------------------------


class Probe:
    """CPU seconds so far: this process, the server, and both CPUs as the kernel counts them."""

    def __init__(self, server_pid: int) -> None:
        self._server_stat = Path(f"/proc/{server_pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def sample(self) -> tuple[float, float, float, float]:
        """(client, server, busy on CPUs 0 and 1, steal on CPUs 0 and 1) in CPU seconds."""
        fields = self._server_stat.read_text().rpartition(")")[2].split()
        server = (int(fields[11]) + int(fields[12])) / self._tick
        busy = steal = 0.0
        for line in Path("/proc/stat").read_text().splitlines():
            name, *ticks = line.split()
            if name in (f"cpu{SERVER_CPU}", f"cpu{CLIENT_CPU}"):
                # user nice system idle iowait irq softirq steal
                values = [int(tick) for tick in ticks]
                busy += (values[0] + values[1] + values[2] + values[5] + values[6]) / self._tick
                steal += values[7] / self._tick
        return time.process_time(), server, busy, steal


async def _measure(
    send: Callable[[], Awaitable[object]], args: argparse.Namespace, probe: Probe
) -> dict[str, float]:
    """Replies per second with ``args.concurrency`` requests in flight, and where CPU went."""
    done = 0
    running = True

    async def worker() -> None:
        nonlocal done
        while running:
            await send()
            done += 1

    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(WARMUP)
    start, before, wall = done, probe.sample(), time.monotonic()
    await asyncio.sleep(args.duration)
    measured, after, elapsed = done - start, probe.sample(), time.monotonic() - wall
    running = False
    await asyncio.gather(*workers)
    client, server, busy, steal = (b - a for a, b in zip(before, after, strict=True))
    return {
        "requests_per_s": measured / elapsed,
        "client_cpu_us_per_request": client / measured * 1e6,
        "client_cpu": client / elapsed,
        "server_cpu": server / elapsed,
        # Busy time on the two pinned CPUs that was neither side's (other processes, softirq
        # the kernel did not charge to them), plus hypervisor steal: high means a noisy run.
        "noise_cpu": max(0.0, busy - client - server) / elapsed + steal / elapsed,
    }


async def _plain_aiohttp(url: str, args: argparse.Namespace, probe: Probe) -> dict[str, float]:
    headers = dict(HEADERS)
    body = b"x" * args.size
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def send() -> bytes:
            async with session.post(url, data=body, headers=headers) as response:
                return await response.read()

        return await _measure(send, args, probe)


async def _transport(url: str, args: argparse.Namespace, probe: Probe) -> dict[str, float]:
    transport = HttpTransport(max_connections=256)
    request = BackendRequest("POST", url, HEADERS, b"x" * args.size)
    try:
        return await _measure(
            lambda: transport.send(request, timeout=29.0, integration="bench"), args, probe
        )
    finally:
        await transport.close()


MODES = {"aiohttp": _plain_aiohttp, "transport": _transport}


def _run_mode(name: str, args: argparse.Namespace, url: str, probe: Probe) -> dict[str, float]:
    run = uvloop.run if uvloop is not None and args.loop == "uvloop" else asyncio.run
    return run(MODES[name](url, args, probe))


def _start_server() -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--serve"]
    return subprocess.Popen(
        ["taskset", "-c", str(SERVER_CPU), *command], stdout=subprocess.PIPE, text=True
    )


def main() -> None:
    """Parse the arguments, run both loops against one pinned backend, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--size", type=int, default=32, help="request body bytes")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, alternating")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            (uvloop.run if uvloop is not None else asyncio.run)(_serve())
        return

    server = _start_server()
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        os.sched_setaffinity(0, {CLIENT_CPU})
        url = f"http://127.0.0.1:{port}/echo"
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in MODES}
        for _ in range(args.rounds):
            for name in MODES:
                runs[name].append(_run_mode(name, args, url, Probe(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=10)

    result: dict[str, Any] = {
        "settings": {**vars(args), "pinned": {"server": SERVER_CPU, "client": CLIENT_CPU}},
        "versions": {"python": sys.version.split()[0], "aiohttp": aiohttp.__version__},
    }
    for name, measured in runs.items():
        result[name] = {
            key: round(statistics.median(run[key] for run in measured), 3) for key in measured[0]
        } | {
            # Interference only ever slows a run down, so the best run is the least disturbed.
            "best_requests_per_s": round(max(run["requests_per_s"] for run in measured)),
            "runs": [round(run["requests_per_s"]) for run in measured],
        }
    result["ratio"] = round(
        result["transport"]["requests_per_s"] / result["aiohttp"]["requests_per_s"], 3
    )
    result["ratio_best"] = round(
        result["transport"]["best_requests_per_s"] / result["aiohttp"]["best_requests_per_s"], 3
    )
    del result["settings"]["serve"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
