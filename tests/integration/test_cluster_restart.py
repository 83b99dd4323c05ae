"""A node restarted under the same id ends what its killed predecessor left, exactly once.

A ``wsgate serve`` process is killed with SIGKILL (no goodbye, no ``$disconnect`` of its own)
and started again at once with the same ``--node-id``, before its heartbeat expired: no other
node ever takes it for dead. The new process must remove its predecessor's connections from
listings and groups and run their ``$disconnect`` (1006, "Gateway node lost"), once each. In one
process, two gateways given the same node id by mistake must leave each other's connections be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import UNIT, eventually, ws_client
from tests.integration.test_cluster import Start, node_starter, open_on
from tests.integration.test_deploy import ROOT, Node, disconnects, management, post, start_node


@pytest.fixture
def spawn(tmp_path: Path, redis_url: str) -> Iterator[Any]:
    """Start ``wsgate serve`` processes on one Redis; whatever still runs is stopped at the end."""
    env = {
        **os.environ,
        "EVENTS_FILE": str(tmp_path / "events.jsonl"),
        "PYTHONPATH": str(ROOT / "src"),
    }
    nodes: list[Node] = []

    def start(name: str) -> Node:
        nodes.append(start_node(name, redis_url, env))
        return nodes[-1]

    try:
        yield start
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
            node.process.wait(10)
            if node.process.stdout is not None:
                node.process.stdout.close()


async def listed(node: Node, path: str = "/@connections") -> set[str]:
    status, _, page = await management("GET", f"/dev{path}", node=node)
    assert status == 200, page
    return {item["connectionId"] for item in page["items"]}


async def test_a_restarted_node_ends_its_predecessors_connections_once(spawn, tmp_path):
    events = tmp_path / "events.jsonl"
    first = spawn("node1")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            url = f"ws://127.0.0.1:{first.port}/dev?groups=room"
            await stack.enter_async_context(ws_client(url))

        async def all_listed() -> set[str]:
            ids = await listed(first)
            return ids if len(ids) == 3 else set()

        old = await eventually(all_listed)
        first.process.kill()  # SIGKILL: its connections stay registered
        first.process.wait()
    second = spawn("node1")

    def ended() -> list[dict[str, Any]]:
        found = [e for e in disconnects(events) if e["requestContext"]["connectionId"] in old]
        return found if len(found) >= len(old) else []

    found = await eventually(ended, timeout=10)
    assert sorted(e["requestContext"]["connectionId"] for e in found) == sorted(old)
    for event in found:
        assert event["requestContext"]["disconnectStatusCode"] == 1006
        assert event["requestContext"]["disconnectReason"] == "Gateway node lost"
    assert await listed(second) == set()
    assert await listed(second, "/@groups/room") == set()
    status, _, report = await management("POST", "/dev/@groups/room", b"anyone?", node=second)
    assert (status, report["delivered"], report["gone"]) == (200, 0, 0)
    # The new process serves as usual; its own connections are not taken for its predecessor's.
    async with ws_client(f"ws://127.0.0.1:{second.port}/dev?groups=room") as client:
        (new,) = await eventually(lambda: listed(second))
        assert await post(second, new, b"hi") == 200
        assert await asyncio.wait_for(client.recv(), 5 * UNIT) == "hi"
    # Exactly once: a few more heartbeats bring no second $disconnect.
    await asyncio.sleep(0.5 * UNIT)
    assert len(ended()) == len(old)


@pytest.fixture
async def start_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> AsyncIterator[Start]:
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    async with node_starter(tmp_path, redis_url) as start:
        yield start


async def test_two_live_processes_with_one_node_id_leave_each_other_be(start_nodes, caplog):
    caplog.set_level(logging.ERROR, logger="wsgate.server.membership")
    timing = {"heartbeatSeconds": 0.1, "nodeTimeoutSeconds": 1.0}
    (one,) = await start_nodes(1, **timing)
    client, connection_id = await open_on(one)
    (twin,) = await start_nodes(1, node_id="node1", **timing)

    def complaints() -> int:
        return sum("node ids must be unique" in r.getMessage() for r in caplog.records)

    # Each hears the other at every heartbeat (both complain, 20 a second), for longer than a
    # heartbeat lives: neither is dead.
    await eventually(lambda: complaints() >= 30)
    assert await twin.registry.get(connection_id) is not None
    assert connection_id in one.dataplane.live
    await client.close()
