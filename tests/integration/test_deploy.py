"""The recipe of docs/deploy.md, run for real: three node processes, Redis, HAProxy, kill -9.

Each node is a ``wsgate serve`` process started on free ports (read back from what it prints);
HAProxy runs deploy/haproxy.cfg unchanged, its front end on a Unix socket so that no port is
guessed. Clients connect through HAProxy; one node is then killed with SIGKILL, and the
survivors must run ``$disconnect`` for each of its connections, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import unix_connect

from tests.helpers import UNIT, eventually, missing_tool

ROOT = Path(__file__).parents[2]
APP = Path(__file__).parent / "apps" / "cluster" / "wsgate.yaml"
HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)


@dataclass
class Node:
    name: str
    process: subprocess.Popen[str]
    port: int
    admin_port: int


def start_node(name: str, registry: str, env: dict[str, str]) -> Node:
    command = [
        sys.executable, "-m", "wsgate", "serve", str(APP),
        "--port", "0", "--admin-port", "0", "--registry", registry, "--node-id", name,
        "--log-format", "json", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    port = admin = None
    for line in process.stdout:
        found = re.search(r"ws://127\.0\.0\.1:(\d+)/dev", line)
        port = int(found[1]) if found else port
        found = re.search(r"dashboard\s+http://127\.0\.0\.1:(\d+)/", line)
        if found:
            admin = int(found[1])
            break
    assert port is not None and admin is not None, f"{name} did not start"
    return Node(name, process, port, admin)


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[Node], Path, Path]]:
    if HAPROXY is None:
        missing_tool("haproxy is not installed (apt install haproxy)")
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "EVENTS_FILE": str(events), "PYTHONPATH": str(ROOT / "src")}
    nodes = [start_node(f"node{n}", redis_url, env) for n in (1, 2, 3)]
    front = tmp_path / "front.sock"
    proxy_env = {**env, "WSGATE_FRONT": f"unix@{front}"}
    for n, node in enumerate(nodes, 1):
        proxy_env[f"WSGATE_NODE{n}"] = f"127.0.0.1:{node.port}"
        proxy_env[f"WSGATE_NODE{n}_ADMIN"] = str(node.admin_port)
    assert HAPROXY is not None
    proxy = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        env=proxy_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes: list[subprocess.Popen[Any]] = [proxy, *(node.process for node in nodes)]
    try:
        yield nodes, front, events
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


async def listing(node: Node) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{node.port}/dev/@connections?limit=1000") as reply:
            items: list[dict[str, Any]] = (await reply.json())["items"]
            return items


async def post(node: Node, connection_id: str, data: bytes) -> int:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{node.port}/dev/@connections/{connection_id}"
        async with http.post(url, data=data) as reply:
            return reply.status


def disconnects(events: Path) -> list[dict[str, Any]]:
    if not events.exists():
        return []
    found = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    return [e for e in found if e["requestContext"]["eventType"] == "DISCONNECT"]


async def test_three_nodes_behind_haproxy_and_a_node_killed(cluster) -> None:
    nodes, front, events = cluster
    await eventually(front.exists, timeout=10)
    clients = []
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(9):
            client = await stack.enter_async_context(
                unix_connect(str(front), "ws://wsgate.test/dev", proxy=None)
            )
            clients.append(client)
        records = await eventually(lambda: _all_registered(nodes[0], 9), timeout=10)
        by_node: dict[str, list[str]] = {}
        for record in records:
            by_node.setdefault(record["node"], []).append(record["connectionId"])
        assert len(by_node) >= 2, f"HAProxy spread the clients over {sorted(by_node)}"
        # Every connection is reachable from one node, whichever holds it.
        for record in records:
            assert await post(nodes[0], record["connectionId"], b"hello") == 200
        for client in clients:
            assert await asyncio.wait_for(client.recv(), 5 * UNIT) == "hello"

        victim = max(nodes[1:], key=lambda node: len(by_node.get(node.name, [])))
        lost = set(by_node.get(victim.name, []))
        assert lost, "the node to kill holds no connection"
        victim.process.kill()  # SIGKILL: no goodbye, no $disconnect of its own
        victim.process.wait()

        def lost_events() -> list[dict[str, Any]]:
            found = [e for e in disconnects(events) if e["requestContext"]["connectionId"] in lost]
            return found if len(found) >= len(lost) else []

        found = await eventually(lost_events, timeout=15)
        assert sorted(e["requestContext"]["connectionId"] for e in found) == sorted(lost)
        for event in found:
            assert event["requestContext"]["disconnectStatusCode"] == 1006
            assert event["requestContext"]["disconnectReason"] == "Gateway node lost"
        survivor = next(node for node in nodes if node is not victim)
        for connection_id in lost:
            assert await post(survivor, connection_id, b"x") == 410
        remaining = await listing(survivor)
        assert {r["connectionId"] for r in remaining} == {r["connectionId"] for r in records} - lost
        # Exactly once: nothing more arrives for them.
        await asyncio.sleep(2 * UNIT)
        assert len(lost_events()) == len(lost)


async def _all_registered(node: Node, count: int) -> list[dict[str, Any]]:
    records = await listing(node)
    return records if len(records) == count else []
