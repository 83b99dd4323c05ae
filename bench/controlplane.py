"""How fast control plane changes reach clients: one node, and two nodes on Redis.

For each of N rounds: ``UpdateRoute`` on an ``AutoDeploy`` stage re-points the route at another
MOCK integration, and a client connected all along sends a message every millisecond until it
gets the new answer. Measured per change: the boto3 call's duration (the change is checked,
kept and deployed before it answers), and the time from the call's start until the client sees
the change on the node that made it, then on a second node that shares the definitions through
Redis (polled every 0.5 s; rounds start at random moments). Prints medians, p90 and the
worst, and writes JSON.

    .venv/bin/python bench/controlplane.py [--rounds 30] [--output bench/results/controlplane.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import ws_client  # noqa: E402
from tests.integration.test_controlplane import (  # noqa: E402
    _client,
    call,
    mock_integration,
    two_way_route,
)
from tests.redis_server import RedisServer, find_redis_server  # noqa: E402

from wsgate.config.load import parse_config  # noqa: E402
from wsgate.server.app import Gateway  # noqa: E402

CONFIG = """
name: base
routeSelectionExpression: $request.body.action
stages: {dev: {}}
server: {adminPort: 0, registry: "%s", nodeId: "%s"}
"""


async def _until(ws: Any, answer: str, started: float) -> float:
    """Seconds from ``started`` until the connection answers ``answer``."""
    while True:
        await ws.send('{"action": "x"}')
        if await asyncio.wait_for(ws.recv(), 5) == answer:
            return time.perf_counter() - started
        await asyncio.sleep(0.001)


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 1),
        "worst_ms": round(ordered[-1] * 1000, 1),
    }


async def measure(rounds: int, folder: Path) -> dict[str, Any]:
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("redis-server is not installed")
    (folder / "redis").mkdir()
    redis = RedisServer(binary, folder / "redis")
    redis.start()
    nodes = []
    try:
        for name in ("n1", "n2"):
            gateway = Gateway(parse_config(CONFIG % (redis.url, name), base_dir=folder))
            await gateway.start(port=0)
            nodes.append(gateway)
        first, second = nodes
        v2 = _client(first)
        api = await call(
            v2,
            "create_api",
            Name="bench",
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.action",
        )
        api_id = api["ApiId"]
        targets = [await mock_integration(v2, api_id, answer) for answer in ("a", "b")]
        route_id = await two_way_route(v2, api_id, "$default", targets[0])
        await call(v2, "create_stage", ApiId=api_id, StageName="dev", AutoDeploy=True)
        while (api_id, "dev") not in second.hosted:
            await asyncio.sleep(0.05)
        calls, here, there = [], [], []
        url_one = f"ws://127.0.0.1:{first.port}/{api_id}/dev"
        url_two = f"ws://127.0.0.1:{second.port}/{api_id}/dev"
        async with ws_client(url_one) as one, ws_client(url_two) as two:
            for number in range(rounds):
                # Out of step with the other node's polling, so the delay is sampled fairly.
                await asyncio.sleep(random.uniform(0, 0.5))
                answer = "b" if number % 2 == 0 else "a"
                target = targets[1] if answer == "b" else targets[0]
                started = time.perf_counter()
                await call(v2, "update_route", ApiId=api_id, RouteId=route_id, Target=target)
                calls.append(time.perf_counter() - started)
                here.append(await _until(one, answer, started))
                there.append(await _until(two, answer, started))
        return {
            "rounds": rounds,
            "update_route_call": _summary(calls),
            "seen_on_the_same_node": _summary(here),
            "seen_on_another_node": _summary(there),
        }
    finally:
        for node in nodes:
            await node.stop(timeout=5)
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/controlplane.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wsgate-cp-") as folder:
        result = asyncio.run(measure(args.rounds, Path(folder)))
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
