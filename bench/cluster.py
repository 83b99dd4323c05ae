"""What crossing nodes costs: @connections posts and fan-out on two nodes beside one, in one run.

Starts a Redis (Unix socket, persistence off) and two ``wsgate serve`` nodes, A and B, of
``bench/cluster/wsgate.yaml``, all pinned to ``--server-cpu``; this process and the receiver
processes run pinned to ``--client-cpu``. Then:

1. **Posts.** One client on node B (stage ``latency``). ``POST /latency/@connections/{id}``
   goes to B itself (same node) or to A (cross-node: A finds the owner in Redis and forwards the
   frame over pub/sub; B hands it to the socket, then answers). Blocks of posts alternate
   between the two, one in flight and then ``--inflight``. Measured: the HTTP round trip and
   the time until the client has the frame.
2. **Fan-out.** ``--connections`` clients on stage ``one``, all on A, and as many on stage
   ``two``, half on A and half on B, all joined to group ``bench`` at ``$connect``. Each round
   sends ``POST /{stage}/@broadcast`` and ``POST /{stage}/@groups/bench`` to A, for each stage
   in turn. Measured: the time until the delivery report is back, and until every client has
   the message.

Prints tables and writes ``bench/results/cluster.json``.

    /work/venv/bin/python bench/cluster.py [--quick] [--connections N] [--posts N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from cluster_clients import ReceiverPool, raise_file_limit
from cluster_fanout import STAGES, FanOut, connect_receivers, run_rounds
from cluster_posts import measure_posts, post_ratios
from cluster_processes import Children, Node, StartError, start_node, start_redis
from loadgen import machine_times, parse_cpus
from run import describe_machine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "cluster.json"


@dataclass(frozen=True, slots=True)
class Settings:
    """What one run does."""

    connections: int
    posts: int
    inflight: int
    rounds: int
    size: int
    workers: int
    server_cpu: str | None
    client_cpu: str | None
    startup_timeout: float
    round_timeout: float


async def wait_for_cluster(session: aiohttp.ClientSession, nodes: Sequence[Node]) -> None:
    """Until every node says it reaches the registry."""
    deadline = time.monotonic() + 30
    for node in nodes:
        while True:
            async with session.get(f"{node.admin}/_wsgate/health") as response:
                if (await response.json())["registry"] == "ok":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.name} does not reach Redis")
            await asyncio.sleep(0.1)


async def wait_until_empty(
    session: aiohttp.ClientSession, nodes: Sequence[Node], timeout: float = 120.0
) -> dict[str, float | None]:
    """Seconds until each node holds no socket, and until Redis lists no connection.

    Every client has just gone at once: each node runs its ``$disconnect`` work, which removes
    the connection from Redis. Stopping the nodes only once that is done keeps their shutdown
    quick. None: not within ``timeout``.
    """
    started = time.monotonic()
    checks = {
        f"node {node.name}": (f"{node.admin}/_wsgate/health", "connections") for node in nodes
    }
    listing = f"{nodes[0].public}/{{}}/@connections?limit=1"
    checks.update({f"registry {stage}": (listing.format(stage), "items") for stage in STAGES})
    emptied: dict[str, float | None] = {}
    for name, (url, key) in checks.items():
        emptied[name] = None
        while time.monotonic() - started < timeout:
            async with session.get(url) as response:
                if not (await response.json())[key]:
                    emptied[name] = round(time.monotonic() - started, 2)
                    break
            await asyncio.sleep(0.05)
    return emptied


class _Watch:
    """How busy the whole machine was, and how much the hypervisor stole, between laps."""

    def __init__(self) -> None:
        self._since = time.monotonic()
        self._busy, self._steal = machine_times()

    def lap(self) -> dict[str, float]:
        """Cores busy and stolen since the last lap (2.0 = both CPUs of this machine)."""
        now, (busy, steal) = time.monotonic(), machine_times()
        seconds = now - self._since
        lap = {
            "seconds": round(seconds, 1),
            "busy_cores": round((busy - self._busy) / seconds, 2),
            "stolen_cores": round((steal - self._steal) / seconds, 3),
        }
        self._since, self._busy, self._steal = now, busy, steal
        return lap


async def measure(
    settings: Settings, pool: ReceiverPool, nodes: dict[str, Node], pids: dict[str, int]
) -> dict[str, Any]:
    """Both measurements, on the running nodes."""
    pool.listen()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=settings.round_timeout + 30)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await wait_for_cluster(session, list(nodes.values()))
            watch = _Watch()
            posts = await measure_posts(
                session,
                nodes["a"],
                nodes["b"],
                posts=settings.posts,
                inflight=settings.inflight,
                size=settings.size,
                pids=pids,
            )
            noise = {"posts": watch.lap()}
            steps, workers = await connect_receivers(pool, nodes, settings.connections)
            watch.lap()
            fan = FanOut(
                session=session,
                pool=pool,
                sender=nodes["a"],
                workers=workers,
                pids=pids,
                expected=settings.connections,
                size=settings.size,
                timeout=settings.round_timeout,
            )
            fan_out = await run_rounds(fan, settings.rounds)
            noise["fan_out"] = watch.lap()
            await pool.close()
            emptied = await wait_until_empty(session, list(nodes.values()))
    finally:
        await pool.close()
    return {
        "posts": posts,
        "post_ratios": post_ratios(posts),
        "fan_out": {"connect": steps, **fan_out, "emptied_seconds": emptied},
        "machine_load": noise,
    }


_PATH_NAMES = {"same": "same (to B)", "cross": "cross (to A)"}
_PLACEMENTS = {"one": "1 node (all on A)", "two": "2 nodes (half on B)"}
_CPU_NAMES = ("a", "b", "redis")


def format_posts(result: dict[str, Any], settings: Settings) -> list[str]:
    """The posts table: latency in ms, rate, CPU per post in µs, then the ratios."""
    lines = [
        f"Posts to one connection on node B ({settings.posts:,} per row; ms, µs)",
        f"{'in flight':>9} {'path':<13} {'http p50':>8} {'p99':>7} {'mean':>7}"
        f" {'frame p50':>9} {'p99':>7} {'posts/s':>8}  cpu µs/post a/b/redis",
    ]
    for row in result["posts"]:
        http, frame, cpu = row["http_ms"], row["frame_ms"], row["cpu_us_per_post"]
        failures = f"  {row['errors']} errors" if row["errors"] else ""
        lines.append(
            f"{row['inflight']:>9} {_PATH_NAMES[row['path']]:<13} {http['p50']:>8.3f}"
            f" {http['p99']:>7.3f} {http['mean']:>7.3f} {frame['p50']:>9.3f} {frame['p99']:>7.3f}"
            f" {row['posts_per_s']:>8,}  {'/'.join(str(cpu[n]) for n in _CPU_NAMES)}{failures}"
        )
    for ratio in result["post_ratios"]:
        figures = ("http_ms_p50", "http_ms_p99", "http_ms_mean", "frame_ms_p50", "frame_ms_p99")
        widths = (8, 7, 7, 9, 7)
        cells = " ".join(
            f"{ratio[f]:>{w - 1}.2f}x" if ratio[f] else f"{'-':>{w}}"
            for f, w in zip(figures, widths, strict=True)
        )
        rate = f"{ratio['posts_per_s']:>7.2f}x" if ratio["posts_per_s"] else f"{'-':>8}"
        lines.append(f"{ratio['inflight']:>9} {'cross/same':<13} {cells} {rate}")
    return lines


def format_fan_out(result: dict[str, Any], settings: Settings) -> list[str]:
    """The fan-out table: medians per kind and placement, the ratio to one node."""
    fan_out = result["fan_out"]
    lines = [
        f"Fan-out to {settings.connections:,} connections, request sent to node A"
        f" (median of {settings.rounds} rounds; ms)",
        f"{'send':<10} {'placement':<20} {'report':>7} {'first':>7} {'all':>7} {'msgs/s':>8}"
        f" {'x 1 node':>8}  cpu ms a/b/redis",
    ]
    for row in fan_out["summary"]:
        placement = _PLACEMENTS[row["stage"]]
        if not row["rounds"]:
            lines.append(f"{row['kind']:<10} {placement:<20} no complete round")
            continue
        ratio = f"{row['ratio_msgs_per_s']:.2f}" if "ratio_msgs_per_s" in row else "-"
        cpu = "/".join(str(row["cpu_ms"][name]) for name in _CPU_NAMES)
        lost = f"  ({row['incomplete']} incomplete)" if row["incomplete"] else ""
        lines.append(
            f"{row['kind']:<10} {placement:<20} {row['report_ms']:>7.1f} {row['first_ms']:>7.1f}"
            f" {row['all_ms']:>7.1f} {round(row['msgs_per_s']):>8,} {ratio:>8}  {cpu}{lost}"
        )
    connects = ", ".join(
        f"{step['clients']:,} to {step['node']} in {step['seconds']:.1f} s"
        for step in fan_out["connect"]
    )
    emptied = ", ".join(
        f"{name} {'-' if seconds is None else f'{seconds:.1f} s'}"
        for name, seconds in fan_out["emptied_seconds"].items()
    )
    return [*lines, f"connected: {connects}", f"then all closed at once; empty after: {emptied}"]


def format_notes(stopped: dict[str, dict[str, Any]]) -> list[str]:
    """What the nodes and Redis logged as warnings or errors, and which ignored SIGTERM."""
    lines = []
    for name, facts in stopped.items():
        if facts["ended"] != "exited":
            lines.append(f"{name}: did not exit at SIGTERM ({facts['ended']})")
        for problem, count in facts["problems"].items():
            lines.append(f"{name}: {count} x {problem}")
    return ["", "Logged by the nodes and Redis:", *lines] if lines else []


def format_tables(result: dict[str, Any], settings: Settings) -> str:
    """The readable summary of one run."""
    load = ", ".join(
        f"{phase.replace('_', '-')} {lap['busy_cores']:.2f} busy, {lap['stolen_cores']:.3f} stolen"
        for phase, lap in result["machine_load"].items()
    )
    return "\n".join(
        [
            "",
            *format_posts(result, settings),
            "",
            *format_fan_out(result, settings),
            f"machine (cores of {os.cpu_count()}): {load}",
        ]
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1,000 clients, 300 posts, 3 rounds")
    parser.add_argument("--connections", type=int, help="clients per placement (default 10000)")
    parser.add_argument("--posts", type=int, help="posts per path and row (default 4000)")
    parser.add_argument("--rounds", type=int, help="measured fan-out rounds (default 10)")
    parser.add_argument("--inflight", type=int, default=16, help="posts in flight, second row")
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument("--workers", type=int, default=2, help="receiver processes")
    parser.add_argument("--server-cpu", default="0", help="CPU list for Redis and the nodes")
    parser.add_argument("--client-cpu", default="1", help="CPU list for this process, receivers")
    parser.add_argument("--startup-timeout", type=float, default=30.0)
    parser.add_argument("--round-timeout", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    quick = {"connections": 1000, "posts": 300, "rounds": 3}
    full = {"connections": 10_000, "posts": 4000, "rounds": 10}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def _settings(args: argparse.Namespace) -> Settings:
    pinned = shutil.which("taskset") is not None
    if not pinned:
        print("taskset not found: nodes and Redis run unpinned", file=sys.stderr)
    return Settings(
        connections=args.connections,
        posts=args.posts,
        inflight=args.inflight,
        rounds=args.rounds,
        size=args.size,
        workers=max(1, min(args.workers, args.connections)),
        server_cpu=args.server_cpu if pinned and args.server_cpu else None,
        client_cpu=args.client_cpu or None,
        startup_timeout=args.startup_timeout,
        round_timeout=args.round_timeout,
    )


def _check_limits(settings: Settings) -> str | None:
    """Why the machine cannot hold this many sockets, or None."""
    # Node A holds stage one's clients and half of stage two's.
    needed = settings.connections * 3 // 2 + 500
    if raise_file_limit(needed) < needed:
        return f"node A needs {needed} open files; the hard limit is lower (ulimit -Hn)"
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    if 2 * settings.connections > high - low:
        return f"{2 * settings.connections} client sockets need more local ports ({low}-{high})"
    return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run both measurements once; exit 1 when they could not be made."""
    args = _parse_args(argv)
    settings = _settings(args)
    problem = _check_limits(settings)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    if settings.client_cpu is not None:
        os.sched_setaffinity(0, parse_cpus(settings.client_cpu))
    started = time.monotonic()
    children = Children()
    pool: ReceiverPool | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="wsgate-cluster-") as folder:
            try:
                pool = ReceiverPool(
                    settings.workers,
                    parse_cpus(settings.client_cpu or ""),
                    math.ceil(2 * settings.connections / settings.workers),
                )
                cpu, timeout = settings.server_cpu, settings.startup_timeout
                redis, redis_pid = start_redis(children, Path(folder), cpu, timeout)
                nodes = {name: start_node(children, name, redis, cpu, timeout) for name in "ab"}
                pids = {**{name: node.pid for name, node in nodes.items()}, "redis": redis_pid}
                result = uvloop.run(measure(settings, pool, nodes, pids))
            finally:
                if pool is not None:
                    pool.terminate()
                children.stop_all()
    except KeyboardInterrupt:
        print("interrupted: every process stopped", file=sys.stderr)
        return 130
    except (StartError, RuntimeError, OSError, aiohttp.ClientError) as error:
        print(f"cluster benchmark failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(format_tables(result, settings))
    for line in format_notes(children.stopped):
        print(line)
    document = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "machine": describe_machine(),
        "settings": asdict(settings),
        "cpus": {
            **dict.fromkeys(("redis", "node a", "node b"), settings.server_cpu or "any"),
            **dict.fromkeys(("benchmark", "receivers"), settings.client_cpu or "any"),
        },
        **result,
        "processes": children.stopped,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written {args.output} ({document['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
