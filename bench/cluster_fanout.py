"""Fan-out rounds of ``cluster.py``: one request to node A, thousands of clients to reach.

Stage ``one`` has every client on node A; stage ``two`` as many clients, half on A and half on
B. All of them joined group ``bench`` at ``$connect``. A round is one ``POST
/{stage}/@broadcast`` or ``POST /{stage}/@groups/bench`` sent to A; it ends when every client
of the stage has the message. Rounds alternate between the stages, so that both placements see
the same machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from cluster_clients import ReceiverPool, message
from cluster_processes import Node, cpu_seconds

GROUP = "bench"
KINDS = ("broadcast", "group")
STAGES = ("one", "two")
# Seconds between two rounds, for the sockets and the nodes to settle.
_PAUSE = 0.25
# Warm-up rounds tried per kind and stage before the run gives up: one must reach every client.
_WARMUPS = 5


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def placement_plan(connections: int) -> list[tuple[str, str, int]]:
    """(stage, node, clients): stage ``one`` all on A, stage ``two`` spread over A and B."""
    half = connections // 2
    plan = [("one", "a", connections), ("two", "a", half), ("two", "b", connections - half)]
    return [step for step in plan if step[2]]


async def connect_receivers(
    pool: ReceiverPool, nodes: dict[str, Node], connections: int
) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Open every client; returns how long each step took, and the workers of each stage.

    Raises:
        RuntimeError: some clients did not connect.
    """
    steps = []
    workers: dict[str, set[int]] = {}
    for stage, node, count in placement_plan(connections):
        print(f"fan-out: connecting {count} clients to node {node} ({stage}) ...", flush=True)
        shares = [(i, share) for i, share in enumerate(_split(count, pool.size)) if share]
        url = f"{nodes[node].websocket}/{stage}"
        started = time.monotonic()
        replies = await asyncio.gather(
            *(pool.ask(i, "connect", stage, url, share, timeout=600) for i, share in shares)
        )
        seconds = time.monotonic() - started
        opened = sum(reply[2] for reply in replies)
        if opened < count:
            errors = [error for reply in replies for error in reply[4]]
            raise RuntimeError(f"{count - opened} of {count} clients did not connect: {errors}")
        workers.setdefault(stage, set()).update(i for i, _ in shares)
        steps.append(
            {
                "stage": stage,
                "node": node,
                "clients": count,
                "seconds": round(seconds, 2),
                "connects_per_s": round(count / seconds),
            }
        )
    return steps, {stage: sorted(indexes) for stage, indexes in workers.items()}


@dataclass(frozen=True, slots=True)
class FanOut:
    """What every round needs."""

    session: aiohttp.ClientSession
    pool: ReceiverPool
    sender: Node  # the node every request goes to
    workers: dict[str, list[int]]  # stage -> the receiver workers holding its clients
    pids: dict[str, int]  # process name -> pid, for the CPU each spends per round
    expected: int  # clients per stage: a report short of it ends the round at once
    size: int
    timeout: float

    async def round(self, kind: str, stage: str, tag: str) -> dict[str, Any]:
        """Send one fan-out request and wait until every client of the stage has the message."""
        path = "@broadcast" if kind == "broadcast" else f"@groups/{GROUP}"
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        started = time.monotonic()
        url = f"{self.sender.public}/{stage}/{path}"
        async with self.session.post(url, data=message(tag, self.size)) as response:
            body = await response.read()
        answered = time.monotonic()
        report = json.loads(body) if response.status == 200 else {}
        done = None
        if report.get("delivered") == self.expected:
            done = await self.pool.wait_done(tag, self.workers[stage], self.timeout)
        cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in self.pids.items()}
        row: dict[str, Any] = {
            "kind": kind,
            "stage": stage,
            "tag": tag,
            "status": response.status,
            "delivered": report.get("delivered"),
            "gone": report.get("gone"),
            "failed": report.get("failed"),
            "report_ms": round((answered - started) * 1000, 3),
            "cpu_ms": {name: round(seconds * 1000) for name, seconds in cpu.items()},
        }
        if done is None:
            return {**row, "complete": False}
        last = max(part[4] for part in done.values()) - started
        received = sum(part[2] for part in done.values())
        return {
            **row,
            "complete": True,
            "received": received,
            "first_ms": round((min(part[3] for part in done.values()) - started) * 1000, 3),
            "all_ms": round(last * 1000, 3),
            "msgs_per_s": round(received / last) if last > 0 else None,
        }


async def run_rounds(fan: FanOut, rounds: int) -> dict[str, Any]:
    """Warm up, then ``rounds`` of each kind on each stage, the stages alternating.

    Raises:
        RuntimeError: a warm-up round did not reach every client.
    """
    for kind, stage in itertools.product(KINDS, STAGES):
        for attempt in range(_WARMUPS):
            warm = await fan.round(kind, stage, f"{stage}.{kind}.warmup{attempt}")
            if warm["complete"]:
                break
            # A node registers again, at its next heartbeat, what the registry missed.
            await asyncio.sleep(1.0)
        else:
            raise RuntimeError(f"warm-up {kind} to stage {stage} incomplete: {warm}")
        await asyncio.sleep(_PAUSE)
    rows = []
    for number in range(rounds):
        print(f"fan-out: round {number + 1} of {rounds} ...", flush=True)
        stages = STAGES if number % 2 == 0 else tuple(reversed(STAGES))
        for kind, stage in itertools.product(KINDS, stages):
            rows.append(await fan.round(kind, stage, f"{stage}.{kind}.{number}"))
            await asyncio.sleep(_PAUSE)
    return {"rounds": rows, "summary": summarize_fan_out(rows)}


def summarize_fan_out(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per (kind, stage); stage ``two`` rows also get their ratio to stage ``one``."""
    summary = []
    for kind, stage in itertools.product(KINDS, STAGES):
        mine = [r for r in rows if r["kind"] == kind and r["stage"] == stage]
        complete = [r for r in mine if r["complete"]]
        line: dict[str, Any] = {"kind": kind, "stage": stage, "rounds": len(complete)}
        line["incomplete"] = len(mine) - len(complete)
        if complete:
            for figure in ("report_ms", "first_ms", "all_ms", "msgs_per_s", "delivered"):
                line[figure] = round(statistics.median(r[figure] for r in complete), 1)
            line["cpu_ms"] = {
                name: round(statistics.fmean(r["cpu_ms"][name] for r in complete))
                for name in complete[0]["cpu_ms"]
            }
        summary.append(line)
    one = {line["kind"]: line for line in summary if line["stage"] == "one" and line["rounds"]}
    for line in summary:
        base = one.get(line["kind"])
        if line["stage"] == "two" and line["rounds"] and base is not None:
            line["ratio_msgs_per_s"] = round(line["msgs_per_s"] / base["msgs_per_s"], 2)
            line["ratio_report_ms"] = round(line["report_ms"] / base["report_ms"], 2)
            line["ratio_all_ms"] = round(line["all_ms"] / base["all_ms"], 2)
    return summary
