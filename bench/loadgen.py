"""WebSocket load generator: N connections over P processes, W messages in flight each.

Every connection sends the same text message and keeps ``--window`` of them in flight: each
reply (a text or binary frame from the server) releases the next message. After a warm-up the
replies are counted for ``--duration`` seconds and the result is printed as one JSON object:
replies per second, round-trip latency percentiles, and the CPU the generator (and optionally
the server, ``--server-pid``) spent in the measured window, so one can tell which side was the
bottleneck.

The client (``loadgen_clients.py``) is picows when it imports, else aiohttp.

    python bench/loadgen.py ws://127.0.0.1:8080/dev --connections 100 --window 1 --cpus 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadgen_clients import BUCKET_SCALE, CLIENTS, HAVE_PICOWS, Counters, LoadConfig, client_name

PAD_TOKEN = "<pad>"

try:
    import uvloop
except ImportError:  # pragma: no cover - the bench extra installs it
    uvloop = None  # type: ignore[assignment]


@dataclass(slots=True)
class WorkerResult:
    """What a worker process hands back to the parent."""

    client: str
    connected: int = 0
    replies: int = 0
    mismatched: int = 0
    disconnected: int = 0
    cpu_seconds: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def build_payload(template: str, size: int) -> str:
    """Return ``template`` with its ``<pad>`` token replaced by enough ``x`` to weigh ``size``.

    A template without the token is returned unchanged.

    Raises:
        ValueError: the template without padding is already longer than ``size`` bytes.
    """
    if PAD_TOKEN not in template:
        return template
    bare = len(template.replace(PAD_TOKEN, "").encode())
    if bare > size:
        raise ValueError(f"payload template is {bare} bytes, longer than --size {size}")
    return template.replace(PAD_TOKEN, "x" * (size - bare), 1)


def parse_cpus(text: str) -> tuple[int, ...]:
    """Parse a CPU list such as ``1``, ``0,1`` or ``0-3``."""
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return tuple(cpus)


async def _work(config: LoadConfig, count: int, barrier: Any) -> WorkerResult:
    client = client_name(config)
    connect, drive = CLIENTS[client]
    run = Counters(config)
    result = WorkerResult(client=client)
    try:
        handles = await asyncio.wait_for(connect(config, run, count), config.connect_timeout)
    except Exception as error:
        barrier.abort()
        result.errors.append(f"connect: {type(error).__name__}: {error}")
        return result
    result.connected = count
    loop = asyncio.get_running_loop()
    # Every connection of every worker is open before any message is sent.
    await loop.run_in_executor(None, barrier.wait, config.connect_timeout)
    await drive(config, run, handles)
    result.cpu_seconds = run.cpu_seconds
    result.replies, result.mismatched = run.replies, run.mismatched
    result.disconnected = run.disconnected
    result.histogram = {index: n for index, n in enumerate(run.histogram) if n}
    return result


def _worker_main(config: LoadConfig, count: int, barrier: Any, results: Any) -> None:
    if config.cpus:
        os.sched_setaffinity(0, config.cpus)
    runner = uvloop.run if uvloop is not None else asyncio.run
    try:
        result = runner(_work(config, count, barrier))
    except Exception as error:
        with contextlib.suppress(Exception):
            barrier.abort()
        result = WorkerResult(
            client=client_name(config), errors=[f"{type(error).__name__}: {error}"]
        )
    results.put(result)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
    return found


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for current in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat.rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_times() -> tuple[float, float]:
    """CPU seconds all CPUs have been busy, and stolen by the hypervisor, since boot.

    Busy counts user, nice, system, irq and softirq time (``/proc/stat``), as tick accounting
    charges interrupts to the running process too; idle, iowait and steal are left out.
    """
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(fields[index] for index in (0, 1, 2, 5, 6)) / ticks, fields[7] / ticks


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """The latency in milliseconds below which ``fraction`` of the samples fall."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return round((index + 1) * 1000 / BUCKET_SCALE, 3)
    return None


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def run_load(config: LoadConfig, server_pid: int | None = None) -> dict[str, Any]:
    """Run the load in ``config.workers`` processes and return the JSON-ready report."""
    context = multiprocessing.get_context("spawn")
    counts = [count for count in _split(config.connections, config.workers) if count]
    barrier = context.Barrier(len(counts) + 1)
    results = context.Queue()
    workers = [
        context.Process(target=_worker_main, args=(config, count, barrier, results), daemon=True)
        for count in counts
    ]
    for worker in workers:
        worker.start()
    used = _watch(config, barrier, server_pid)
    limit = config.connect_timeout + config.warmup + config.duration + 30
    collected = []
    for _ in workers:
        try:
            collected.append(results.get(timeout=limit))
        except queue.Empty:
            collected.append(WorkerResult(client_name(config), errors=["a worker gave no result"]))
    for worker in workers:
        worker.join(timeout=5)
    return _report(config, collected, used)


def _watch(config: LoadConfig, barrier: Any, server_pid: int | None) -> dict[str, float]:
    """Wait for the workers to connect, then sample CPU use over the measured window.

    Returns the machine's busy and stolen CPU and, with ``server_pid``, the server's, in cores.
    """
    try:
        barrier.wait(timeout=config.connect_timeout + 10)
    except Exception:
        return {}
    time.sleep(config.warmup)
    (busy, steal), server = machine_times(), process_tree_cpu(server_pid) if server_pid else 0.0
    time.sleep(config.duration)
    busy_end, steal_end = machine_times()
    used = {
        "machine_cpu": (busy_end - busy) / config.duration,
        "steal_cpu": (steal_end - steal) / config.duration,
    }
    if server_pid:
        used["server_cpu"] = (process_tree_cpu(server_pid) - server) / config.duration
    return used


def _report(
    config: LoadConfig, collected: Sequence[WorkerResult], used: dict[str, float]
) -> dict[str, Any]:
    histogram: dict[int, int] = {}
    for result in collected:
        for index, count in result.histogram.items():
            histogram[index] = histogram.get(index, 0) + count
    replies = sum(result.replies for result in collected)
    settings = asdict(config)
    settings["cpus"] = list(config.cpus)
    return {
        **settings,
        "path": urlsplit(config.url).path or "/",
        "client": collected[0].client if collected else client_name(config),
        "payload_bytes": len(config.payload.encode()),
        "connected": sum(result.connected for result in collected),
        "replies": replies,
        "msgs_per_s": round(replies / config.duration),
        "latency_ms": {"p50": percentile(histogram, 0.5), "p99": percentile(histogram, 0.99)},
        "client_cpu": round(sum(r.cpu_seconds for r in collected) / config.duration, 3),
        "server_cpu": round(used["server_cpu"], 3) if "server_cpu" in used else None,
        # All busy CPU on the machine: above server + generator means something else ran.
        "machine_cpu": round(used["machine_cpu"], 3) if "machine_cpu" in used else None,
        # CPU the hypervisor gave to other guests while this one wanted it.
        "steal_cpu": round(used["steal_cpu"], 3) if "steal_cpu" in used else None,
        "mismatched": sum(result.mismatched for result in collected),
        "disconnected": sum(result.disconnected for result in collected),
        "errors": [error for result in collected for error in result.errors],
    }


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("url", help="ws:// URL, path included (ws://127.0.0.1:PORT/dev)")
    parser.add_argument("-c", "--connections", type=int, default=100)
    parser.add_argument("-p", "--workers", type=int, default=2, help="worker processes")
    parser.add_argument("-w", "--window", type=int, default=1, help="messages in flight per conn")
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument(
        "--payload",
        default=PAD_TOKEN,
        help=f"message text; {PAD_TOKEN} is padded with x up to --size (default: {PAD_TOKEN})",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured")
    parser.add_argument("--client", choices=("auto", "picows", "aiohttp"), default="auto")
    parser.add_argument(
        "--aiofastnet",
        action=argparse.BooleanOptionalAction,
        help="picows client: force aiofastnet transports on or off (default: when installed)",
    )
    parser.add_argument("--cpus", type=parse_cpus, default=(), help="pin workers: 1, 0-1, 2,3")
    parser.add_argument("--server-pid", type=int, help="also report this process tree's CPU")
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one load test and print its JSON report; exit 1 when nothing was measured."""
    args = _parse_args(argv)
    if args.client == "picows" and not HAVE_PICOWS:
        print("picows is not installed", file=sys.stderr)
        return 2
    config = LoadConfig(
        url=args.url,
        payload=build_payload(args.payload, args.size),
        connections=args.connections,
        workers=max(1, min(args.workers, args.connections)),
        window=args.window,
        warmup=args.warmup,
        duration=args.duration,
        client=args.client,
        aiofastnet=args.aiofastnet,
        cpus=args.cpus,
        connect_timeout=args.connect_timeout,
    )
    if config.cpus:
        os.sched_setaffinity(0, config.cpus)
    report = run_load(config, args.server_pid)
    print(json.dumps(report, indent=2))
    return 0 if report["replies"] else 1


if __name__ == "__main__":
    sys.exit(main())
