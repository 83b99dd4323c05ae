"""The bundled chat example, end to end: two clients chat through sendmessage and boto3."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.helpers import eventually, management_client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

EXAMPLE = Path(__file__).parents[2] / "examples" / "chat"


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Gateway]:
    # A private copy, so the example's SQLite file lands in the test's folder.
    shutil.copytree(EXAMPLE, tmp_path / "chat")
    gateway = Gateway(load_config(tmp_path / "chat" / "wsgate.yaml"))
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def test_two_clients_chat(chat: Gateway) -> None:
    url = f"ws://127.0.0.1:{chat.port}/dev"
    async with connect(url, proxy=None) as alice, connect(url, proxy=None) as bob:
        await eventually(lambda: len(chat.dataplane.live) == 2)
        await alice.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        assert await asyncio.wait_for(alice.recv(), 15) == "hi"
        assert await asyncio.wait_for(bob.recv(), 15) == "hi"

        # Unknown actions get the $default route's hint through its route response.
        await bob.send("hello?")
        assert "sendmessage" in json.loads(await asyncio.wait_for(bob.recv(), 15))["message"]

        # A backend elsewhere pushes with boto3 too.
        api = management_client(f"http://127.0.0.1:{chat.port}/dev")
        for connection_id in list(chat.dataplane.live):
            await asyncio.to_thread(
                api.post_to_connection, ConnectionId=connection_id, Data=b"from boto3"
            )
        assert await asyncio.wait_for(alice.recv(), 15) == "from boto3"
        assert await asyncio.wait_for(bob.recv(), 15) == "from boto3"


async def test_disconnected_clients_leave_the_table(chat: Gateway) -> None:
    url = f"ws://127.0.0.1:{chat.port}/dev"
    async with connect(url, proxy=None) as alice:
        async with connect(url, proxy=None):
            await eventually(lambda: len(chat.dataplane.live) == 2)
        await eventually(lambda: len(chat.dataplane.live) == 1)
        await alice.send(json.dumps({"action": "sendmessage", "data": "still here"}))
        assert await asyncio.wait_for(alice.recv(), 15) == "still here"


async def test_the_chat_runs_on_two_nodes(tmp_path: Path, redis_url: str) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "chat")
    config = load_config(tmp_path / "chat" / "wsgate.yaml")
    nodes = []
    for name in ("node1", "node2"):
        server = config.server.model_copy(update={"registry": redis_url, "node_id": name})
        nodes.append(Gateway(config.model_copy(update={"server": server})))
    for node in nodes:
        await node.start(port=0)
    try:
        one, two = (f"ws://127.0.0.1:{node.port}/dev" for node in nodes)
        async with connect(one, proxy=None) as alice, connect(two, proxy=None) as bob:
            await eventually(lambda: all(len(node.dataplane.live) == 1 for node in nodes))
            # Alice's node runs sendmessage; its boto3 posts to Bob through her node, which
            # hands the call to the node that holds Bob.
            await alice.send(json.dumps({"action": "sendmessage", "data": "across"}))
            assert await asyncio.wait_for(alice.recv(), 15) == "across"
            assert await asyncio.wait_for(bob.recv(), 15) == "across"
            await bob.send(json.dumps({"action": "sendmessage", "data": "and back"}))
            assert await asyncio.wait_for(alice.recv(), 15) == "and back"
            assert await asyncio.wait_for(bob.recv(), 15) == "and back"
    finally:
        for node in nodes:
            await node.stop(timeout=5)
