"""Posts to one connection of ``cluster.py``: to the node that holds it, and through another.

One client sits on node B. ``POST /latency/@connections/{id}`` goes to B itself (``same``) or
to node A (``cross``: A asks Redis for the owner, publishes the frame to B's channel, B hands it
to the socket and publishes the answer back). The posts run in blocks that alternate between the
two paths, so that a slow patch of the machine hits both; each block keeps a fixed number of
posts in flight. Measured per post: the HTTP round trip and the time until the client has the
frame; per path: posts per second while its blocks ran, and the CPU each process spent per post.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from cluster_clients import message
from cluster_processes import Node, cpu_seconds

PATHS = ("same", "cross")
# Blocks per path: at most this many, of at least _BLOCK_MIN posts each.
_BLOCKS = 10
_BLOCK_MIN = 50


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 (nearest rank) and mean of ``values`` (seconds), in milliseconds."""
    if not values:
        return {"p50": None, "p99": None, "mean": None}
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

    return {
        "p50": round(rank(0.5) * 1000, 3),
        "p99": round(rank(0.99) * 1000, 3),
        "mean": round(statistics.fmean(ordered) * 1000, 3),
    }


@dataclass(slots=True)
class _PathRun:
    """One path's posts: (number, sent, answered, status); its time and CPU per process."""

    url: str
    samples: list[tuple[int, float, float, int]] = field(default_factory=list)
    busy: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Poster:
    session: aiohttp.ClientSession
    size: int
    pids: dict[str, int]  # process name -> pid, whose CPU is charged to the path posted
    numbers: Iterator[int] = field(default_factory=itertools.count)

    async def block(self, run: _PathRun, count: int, inflight: int) -> None:
        """``count`` posts to ``run.url``, ``inflight`` at a time."""
        left = count

        async def lane() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                number = next(self.numbers)
                body = message(number, self.size)
                sent = time.monotonic()
                async with self.session.post(run.url, data=body) as response:
                    await response.read()
                run.samples.append((number, sent, time.monotonic(), response.status))

        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        started = time.monotonic()
        await asyncio.gather(*(lane() for _ in range(min(inflight, count))))
        run.busy += time.monotonic() - started
        for name, pid in self.pids.items():
            run.cpu[name] = run.cpu.get(name, 0.0) + cpu_seconds(pid) - cpu[name]

    async def alternate(
        self, urls: dict[str, str], posts: int, inflight: int
    ) -> dict[str, _PathRun]:
        """``posts`` to each URL, in blocks that alternate between them."""
        runs = {path: _PathRun(url) for path, url in urls.items()}
        blocks = max(1, min(_BLOCKS, posts // _BLOCK_MIN))
        per_block = math.ceil(posts / blocks)
        for index in range(blocks):
            for path in list(urls) if index % 2 == 0 else list(reversed(urls)):
                count = min(per_block, posts - len(runs[path].samples))
                if count > 0:
                    await self.block(runs[path], count, inflight)
        return runs


async def _collect_frames(ws: aiohttp.ClientWebSocketResponse, arrivals: dict[int, float]) -> None:
    async for frame in ws:
        if frame.type == aiohttp.WSMsgType.TEXT:
            arrivals[int(frame.data.partition("|")[0])] = time.monotonic()


async def _until_arrived(arrivals: dict[int, float], numbers: Sequence[int]) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not all(n in arrivals for n in numbers):
        await asyncio.sleep(0.01)


def _describe(
    inflight: int, path: str, run: _PathRun, arrivals: dict[int, float]
) -> dict[str, Any]:
    ok = [sample for sample in run.samples if sample[3] == 200]
    delivered = [arrivals[n] - sent for n, sent, _, _ in ok if n in arrivals]
    count = len(run.samples)
    return {
        "inflight": inflight,
        "path": path,
        "posts": count,
        "errors": count - len(ok),
        "lost_frames": len(ok) - len(delivered),
        "http_ms": summarize([answered - sent for _, sent, answered, _ in ok]),
        "frame_ms": summarize(delivered),
        "posts_per_s": round(count / run.busy) if run.busy else None,
        "cpu_us_per_post": {name: round(s * 1e6 / count) for name, s in run.cpu.items()},
    }


async def measure_posts(
    session: aiohttp.ClientSession,
    node_a: Node,
    node_b: Node,
    *,
    posts: int,
    inflight: int,
    size: int,
    pids: dict[str, int],
) -> list[dict[str, Any]]:
    """Both paths, one post in flight and then ``inflight``; one row per (in flight, path)."""
    async with session.ws_connect(f"{node_b.websocket}/latency") as ws:
        await ws.send_str('{"action":"whoami"}')
        connection_id = quote((await ws.receive(timeout=10)).data, safe="=")
        urls = {
            "same": f"{node_b.public}/latency/@connections/{connection_id}",
            "cross": f"{node_a.public}/latency/@connections/{connection_id}",
        }
        arrivals: dict[int, float] = {}
        reader = asyncio.create_task(_collect_frames(ws, arrivals))
        poster = _Poster(session, size, pids)
        rows = []
        try:
            await poster.alternate(urls, min(200, posts), inflight)  # warm-up
            for depth in dict.fromkeys((1, inflight)):
                print(f"posts: {posts} per path, {depth} in flight ...", flush=True)
                runs = await poster.alternate(urls, posts, depth)
                sent = [sample[0] for run in runs.values() for sample in run.samples]
                await _until_arrived(arrivals, sent)
                rows += [_describe(depth, path, run, arrivals) for path, run in runs.items()]
        finally:
            reader.cancel()
    return rows


def post_ratios(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cross over same, per number in flight, for each latency figure and the rate."""
    ratios = []
    for inflight in dict.fromkeys(row["inflight"] for row in rows):
        same, cross = (
            next(r for r in rows if r["inflight"] == inflight and r["path"] == path)
            for path in PATHS
        )
        ratio: dict[str, Any] = {"inflight": inflight}
        for figure in ("http_ms", "frame_ms"):
            for stat in ("p50", "p99", "mean"):
                base, value = same[figure][stat], cross[figure][stat]
                ratio[f"{figure}_{stat}"] = round(value / base, 2) if base and value else None
        base, value = same["posts_per_s"], cross["posts_per_s"]
        ratio["posts_per_s"] = round(value / base, 2) if base and value else None
        ratios.append(ratio)
    return ratios
