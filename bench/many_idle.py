"""More idle connections than one process may hold: several nodes on one machine, on Redis.

One process holds at most as many sockets as its open-file limit (on this project's machine
20,000, a hard limit that only CAP_SYS_RESOURCE raises). A gateway holds more the way it does
across machines: several ``wsgate serve`` nodes joined by one Redis. This starts a Redis (Unix
socket, persistence off) and ``--nodes`` nodes of an echo gateway with a Redis registry, and
beside each node a ``bench/idle_clients.py`` that opens its share of ``--connections``, in
``--steps`` equal steps. After each step it records, per node, the RSS grown per connection,
and Redis's ``used_memory`` grown per connection. Then the connections are held ``--hold``
seconds and counted three ways: by their clients (none lost), by each node's health check
(its open sockets), and by the registry (``ConnectionRegistry.count``).

Prints a table and writes ``bench/results/many_idle.json`` (and ``.md`` beside it).

    .venv/bin/python bench/many_idle.py [--connections 100000] [--nodes 6] [--hold 60]
    .venv/bin/python bench/many_idle.py --quick      # 3 nodes, 3,000 connections
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp
from cluster_processes import Children, Node, StartError, start_node, start_redis
from loadgen import machine_times
from run import describe_machine
from suite_common import gateway_config
from suite_report import DASH
from suite_scenarios import tree_rss

from wsgate.config.load import load_config
from wsgate.registry import registry_from_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "many_idle.json"
# Files a node or a client holds beside its sockets (modules, pipes, the listeners).
_FILE_MARGIN = 500
# Benchmark timings: a node busy accepting thousands of sockets is not dead.
_CLUSTER = {"heartbeatSeconds": 1, "nodeTimeoutSeconds": 60, "requestTimeoutSeconds": 30}


class Holder:
    """One ``idle_clients.py`` process, holding the connections of one node."""

    def __init__(self, node: Node) -> None:
        command = [sys.executable, str(ROOT / "bench" / "idle_clients.py"), f"{node.websocket}/dev"]
        self.node = node
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def send(self, command: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()

    def reply(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the clients of node {self.node.name} exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def redis_memory(url: str) -> int:
    """Redis's ``used_memory``, in bytes."""
    path = url.removeprefix("unix://")
    done = subprocess.run(
        ["redis-cli", "-s", path, "info", "memory"], capture_output=True, text=True, check=True
    )
    for line in done.stdout.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("redis-cli printed no used_memory")


async def registry_count(url: str, config: Path) -> int:
    """How many connections the shared registry lists for the gateway of ``config``."""
    # The prefix the nodes use (server/assembly.py): the API's keys in a shared Redis.
    registry = registry_from_url(url, prefix=f"wsgate:{load_config(config).api_id}:")
    try:
        return await registry.count()
    finally:
        await registry.close()


async def health_counts(nodes: Sequence[Node]) -> dict[str, Any]:
    """Each node's health check: its open sockets, and whether it reaches Redis."""
    counts: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for node in nodes:
            async with session.get(f"{node.admin}/_wsgate/health") as response:
                body = await response.json()
            counts[node.name] = {"connections": body["connections"], "registry": body["registry"]}
    return counts


def open_step(holders: Sequence[Holder], counts: Sequence[int]) -> list[dict[str, Any]]:
    """Each holder opens its count of more connections, all at once; their reports, in order."""
    for holder, count in zip(holders, counts, strict=True):
        holder.send(f"open {count}")
    return [holder.reply() for holder in holders]


def measure(
    args: argparse.Namespace, redis: str, nodes: list[Node], config: Path
) -> dict[str, Any]:
    """Open the connections step by step, hold them, count them."""
    asyncio.run(wait_for_registry(nodes))
    time.sleep(1.0)
    rss_before = {node.name: tree_rss(node.pid) for node in nodes}
    redis_before = redis_memory(redis)
    # Each node's share, and what it has still to open at each step.
    shares = [
        args.connections // len(nodes) + (index < args.connections % len(nodes))
        for index in range(len(nodes))
    ]
    holders = [Holder(node) for node in nodes]
    steps: list[dict[str, Any]] = []
    try:
        open_seconds = busy = 0.0
        for number in range(1, args.steps + 1):
            counts = [
                share * number // args.steps - share * (number - 1) // args.steps
                for share in shares
            ]
            started, busy_before = time.monotonic(), machine_times()[0]
            reports = open_step(holders, counts)
            seconds = time.monotonic() - started
            open_seconds += seconds
            busy += machine_times()[0] - busy_before
            time.sleep(2.0)  # let the nodes settle: handshakes done, buffers released
            steps.append(step_record(reports, nodes, rss_before, redis, redis_before, seconds))
            print(format_step(steps[-1]), file=sys.stderr, flush=True)
        time.sleep(args.hold)
        # "open 0" reports what is held, and what was lost.
        reports = open_step(holders, [0] * len(holders))
        counted = {
            "clients": sum(report["open"] for report in reports),
            "lost": sum(report["lost"] for report in reports),
            "nodes": asyncio.run(health_counts(nodes)),
            "registry": asyncio.run(registry_count(redis, config)),
        }
        for holder in holders:
            holder.send("close")
        for holder in holders:
            holder.reply()
        released = asyncio.run(wait_until_released(nodes, redis, config))
    finally:
        for holder in holders:
            holder.stop()
    return {
        "steps": steps,
        "open_seconds": round(open_seconds, 1),
        "handshakes_per_s": round(steps[-1]["open"] / open_seconds) if open_seconds else None,
        "busy_cores_while_opening": round(busy / open_seconds, 2) if open_seconds else None,
        "held_seconds": args.hold,
        "counted_after_hold": counted,
        "released_seconds": released,
    }


async def wait_until_released(nodes: Sequence[Node], redis: str, config: Path) -> float | None:
    """Seconds until, every client gone, no node holds a socket and the registry lists none
    (each node removes its connections from Redis); None: not within two minutes. Stopping
    the nodes only then keeps their shutdown quick."""
    started = time.monotonic()
    while time.monotonic() - started < 120:
        counts = await health_counts(nodes)
        open_sockets = sum(count["connections"] for count in counts.values())
        if not open_sockets and not await registry_count(redis, config):
            return round(time.monotonic() - started, 1)
        await asyncio.sleep(0.5)
    return None


async def wait_for_registry(nodes: Sequence[Node]) -> None:
    """Until every node says it reaches Redis."""
    deadline = time.monotonic() + 30
    while True:
        counts = await health_counts(nodes)
        if all(count["registry"] == "ok" for count in counts.values()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every node reaches Redis: {counts}")
        await asyncio.sleep(0.2)


def step_record(
    reports: Sequence[dict[str, Any]],
    nodes: Sequence[Node],
    rss_before: dict[str, int],
    redis: str,
    redis_before: int,
    seconds: float,
) -> dict[str, Any]:
    """What one step left open, and the memory it took on each node and in Redis."""
    per_node = {}
    for node, report in zip(nodes, reports, strict=True):
        grown = tree_rss(node.pid) - rss_before[node.name]
        per_node[node.name] = {
            "open": report["open"],
            "failed": report.get("failed", 0),
            "lost": report["lost"],
            "rss_mib": round(tree_rss(node.pid) / 2**20, 1),
            "kib_per_connection": round(grown / 1024 / report["open"], 2)
            if report["open"]
            else None,
        }
    total = sum(report["open"] for report in reports)
    grown_redis = redis_memory(redis) - redis_before
    kib = [
        value["kib_per_connection"] for value in per_node.values() if value["kib_per_connection"]
    ]
    return {
        "open": total,
        "failed": sum(value["failed"] for value in per_node.values()),
        "lost": sum(value["lost"] for value in per_node.values()),
        "seconds": round(seconds, 1),
        "node_kib_per_connection": {"min": min(kib), "max": max(kib)} if kib else None,
        "redis_bytes_per_connection": round(grown_redis / total) if total else None,
        "nodes": per_node,
    }


def format_step(step: dict[str, Any]) -> str:
    kib = step["node_kib_per_connection"] or {"min": "-", "max": "-"}
    return (
        f"{step['open']:>9,} open ({step['failed']} failed, {step['lost']} lost) in "
        f"{step['seconds']} s; per connection: node {kib['min']}{DASH}{kib['max']} KiB, "
        f"Redis {step['redis_bytes_per_connection']} B"
    )


def format_table(result: dict[str, Any], settings: dict[str, Any]) -> str:
    """The markdown the .md file holds."""
    lines = [
        f"{settings['connections']:,} idle connections on {settings['nodes']} nodes of one "
        f"machine, one Redis; held {result['held_seconds']} s.",
        "",
        f"| open | failed | lost | step s | node KiB/conn (min{DASH}max) | Redis B/conn |",
        "|---|---|---|---|---|---|",
    ]
    for step in result["steps"]:
        kib = step["node_kib_per_connection"] or {"min": "", "max": ""}
        lines.append(
            f"| {step['open']:,} | {step['failed']} | {step['lost']} | {step['seconds']} | "
            f"{kib['min']}{DASH}{kib['max']} | {step['redis_bytes_per_connection']} |"
        )
    counted = result["counted_after_hold"]
    on_nodes = sum(node["connections"] for node in counted["nodes"].values())
    lines += [
        "",
        f"Opening them took {result['open_seconds']} s ({result['handshakes_per_s']:,} "
        f"handshakes/s, {result['busy_cores_while_opening']} cores busy). "
        f"After {result['held_seconds']} s: "
        f"{counted['clients']:,} held by the clients ({counted['lost']} lost), {on_nodes:,} "
        f"open on the nodes, {counted['registry']:,} in the registry. Once the clients left, "
        f"no node held a socket and the registry listed none after {result['released_seconds']} s.",
    ]
    return "\n".join(lines) + "\n"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=0, help="0: as few as the file limit allows")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds held before counting")
    parser.add_argument("--quick", action="store_true", help="3 nodes, 3,000 connections, 5 s")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.nodes, args.steps, args.hold = 3_000, 3, 2, 5.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Hold the connections once; exit 1 when they could not all be held."""
    args = _parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    most = hard - _FILE_MARGIN
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    nodes_needed = math.ceil(args.connections / most)
    if args.nodes == 0:
        args.nodes = nodes_needed
    elif args.nodes < nodes_needed:
        print(f"{args.nodes} nodes cannot hold {args.connections:,}: {hard:,} files each")
        return 1
    settings = {"connections": args.connections, "nodes": args.nodes, "file_limit": hard}
    started = time.monotonic()
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="wsgate-many-") as folder:
            config = gateway_config(Path(folder), "idle")
            document = json.loads(config.read_text())
            document["server"] = {"cluster": _CLUSTER}
            config.write_text(json.dumps(document, indent=2) + "\n")
            try:
                redis, redis_pid = start_redis(children, Path(folder), None, 30)
                nodes = [
                    start_node(children, f"n{index}", redis, None, 60, config)
                    for index in range(1, args.nodes + 1)
                ]
                result = measure(args, redis, nodes, config)
                result["redis_rss_mib"] = round(tree_rss(redis_pid) / 2**20, 1)
            finally:
                children.stop_all()
    except KeyboardInterrupt:
        print("interrupted: every process stopped", file=sys.stderr)
        return 130
    except (StartError, RuntimeError, OSError, aiohttp.ClientError) as error:
        print(f"many_idle failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    table = format_table(result, settings)
    print(table)
    record = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "machine": describe_machine(),
        "settings": settings,
        **result,
        "processes": children.stopped,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(table)
    counted = result["counted_after_hold"]
    complete = counted["clients"] == args.connections and counted["lost"] == 0
    return 0 if complete and counted["registry"] == args.connections else 1


if __name__ == "__main__":
    sys.exit(main())
