"""Three nodes on one Redis, in one process: owner-targeted calls, groups, fan-out, outages.

Every node is a real gateway with its own listeners; clients are real WebSocket clients spread
over the nodes; the management API is called with the unmodified boto3 client on a node that
does not hold the connection. The real ``kill -9`` of a node is in test_deploy.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from botocore.exceptions import ClientError

from tests.helpers import UNIT, eventually, management_client, ws_client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

APP = Path(__file__).parent / "apps" / "cluster" / "wsgate.yaml"

# start(count, node_id=None, **cluster): nodes named node1, node2... unless node_id names them
# all; ``cluster`` overrides the app's server.cluster timing.
Start = Callable[..., Awaitable[list[Gateway]]]


@contextlib.asynccontextmanager
async def node_starter(tmp_path: Path, redis_url: str) -> AsyncIterator[Start]:
    """Start gateways named node1, node2... on one Redis; stop them all at the end."""
    started: list[Gateway] = []

    async def start(count: int, node_id: str | None = None, **cluster: float) -> list[Gateway]:
        data = yaml.safe_load(APP.read_text(encoding="utf-8"))
        data["server"]["cluster"].update(cluster)
        for function in data["functions"].values():
            function["codeUri"] = str(APP.parent)  # the copy lives in tmp_path
        for n in range(len(started) + 1, len(started) + count + 1):
            name = node_id or f"node{n}"
            data["server"].update({"registry": redis_url, "nodeId": name, "adminPort": 0})
            # Delivery across nodes is under test here, not signatures: calls go unsigned.
            data["server"]["managementAuthorization"] = "NONE"
            path = tmp_path / f"node{n}.yaml"
            path.write_text(yaml.safe_dump(data), encoding="utf-8")
            gateway = Gateway(load_config(path), base_dir=APP.parent)
            await gateway.start(port=0)
            started.append(gateway)
        return started[-count:]

    try:
        yield start
    finally:
        for gateway in started:
            await gateway.stop(timeout=5)


@pytest.fixture
async def start_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> AsyncIterator[Start]:
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    async with node_starter(tmp_path, redis_url) as start:
        yield start


def url(node: Gateway, query: str = "") -> str:
    return f"ws://127.0.0.1:{node.port}/dev" + (f"?{query}" if query else "")


def endpoint(node: Gateway) -> str:
    return f"http://127.0.0.1:{node.port}/dev"


async def call(node: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{endpoint(node)}{path}", **kwargs) as reply:
            body = await reply.read()
            return reply.status, json.loads(body) if body else None


async def open_on(node: Gateway, query: str = "", *, registered: bool = True) -> tuple[Any, str]:
    """A client on ``node`` and its connection id (once other nodes can find it)."""
    before = set(node.dataplane.live)
    client = await ws_client(url(node, query)).__aenter__()
    (connection_id,) = await eventually(lambda: set(node.dataplane.live) - before)
    if registered:
        await eventually(lambda: node.dataplane.live[connection_id].registered)
    return client, connection_id


async def test_management_calls_reach_the_owner_node(start_nodes):
    one, two, _ = await start_nodes(3)
    client, connection_id = await open_on(two)
    boto = management_client(endpoint(one))  # a node that does not hold the connection
    try:
        await asyncio.to_thread(boto.post_to_connection, ConnectionId=connection_id, Data=b"hi")
        assert await asyncio.wait_for(client.recv(), 5) == "hi"
        info = await asyncio.to_thread(boto.get_connection, ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        await asyncio.to_thread(boto.delete_connection, ConnectionId=connection_id)
        await asyncio.wait_for(client.wait_closed(), 5)
        assert client.close_code == 1000
        await eventually(lambda: connection_id not in two.dataplane.live)
        with pytest.raises(boto.exceptions.GoneException):
            await asyncio.to_thread(boto.post_to_connection, ConnectionId=connection_id, Data=b"x")
    finally:
        boto.close()


async def test_groups_and_fan_out_report_who_got_the_message(start_nodes):
    nodes = await start_nodes(3)
    clients = [await open_on(node, "groups=room") for node in nodes for _ in range(2)]
    outsider, outsider_id = await open_on(nodes[0])
    ids = [connection_id for _, connection_id in clients]
    # Each message crosses Redis once per other node that holds members: count the requests.
    sent: list[str] = []
    registry = nodes[0].registry
    original = registry.request

    async def counting(node_id: str, payload: bytes, timeout: float) -> bytes:
        sent.append(node_id)
        reply: bytes = await original(node_id, payload, timeout)
        return reply

    registry.request = counting
    status, report = await call(nodes[0], "POST", "/@groups/room", data=b"to the room")
    assert status == 200
    assert (report["delivered"], report["gone"], report["failed"]) == (6, 0, 0)
    assert sorted(report["deliveredIds"]) == sorted(ids)
    assert sorted(sent) == ["node2", "node3"]
    for client, _ in clients:
        assert await asyncio.wait_for(client.recv(), 5) == "to the room"
    # Joining through the API, from yet another node; leaving too.
    assert (await call(nodes[2], "PUT", f"/@groups/room/{outsider_id}"))[0] == 204
    assert (await call(nodes[1], "DELETE", f"/@groups/room/{ids[0]}"))[0] == 204
    status, report = await call(nodes[1], "POST", "/@groups/room", data=b"again")
    assert report["delivered"] == 6 and ids[0] not in report["deliveredIds"]
    assert await asyncio.wait_for(outsider.recv(), 5) == "again"
    # A list of ids, with one gone, and a broadcast to the whole stage.
    gone = "AAAAAAAAAAAAAAA="
    body = {"connectionIds": [ids[1], ids[4], gone, ids[4]], "data": "some of you"}
    status, report = await call(nodes[2], "POST", "/@connections", json=body)
    assert (status, report["delivered"], report["goneIds"]) == (200, 2, [gone])
    status, report = await call(nodes[1], "POST", "/@broadcast", data=b"everyone")
    assert report["delivered"] == 7
    for client, _ in clients:
        await client.close()
    await outsider.close()


async def test_listing_pages_through_every_node(start_nodes):
    nodes = await start_nodes(2)
    opened = [await open_on(node, "groups=a" if i % 2 else "") for i, node in enumerate(nodes * 3)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        status, page = await call(nodes[0], "GET", f"/@connections{query}")
        assert status == 200
        seen += [item["connectionId"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(cid for _, cid in opened)
    assert {
        item["node"] for item in (await call(nodes[1], "GET", "/@connections"))[1]["items"]
    } == {
        "node1",
        "node2",
    }
    status, members = await call(nodes[0], "GET", "/@groups/a")
    assert len(members["items"]) == 3 and all(item["groups"] == ["a"] for item in members["items"])
    for client, _ in opened:
        await client.close()


async def test_a_redis_outage_keeps_local_traffic_and_recovers(start_nodes, redis_server):
    one, two = await start_nodes(2)
    client, connection_id = await open_on(two)
    redis_server.stop()
    try:
        # Local traffic goes on: routes, integrations, and @connections on the owner node.
        await client.send(json.dumps({"action": "echo", "n": 1}))
        assert json.loads(await asyncio.wait_for(client.recv(), 5)) == {"action": "echo", "n": 1}
        assert (await call(two, "POST", f"/@connections/{connection_id}", data=b"local"))[0] == 200
        assert await asyncio.wait_for(client.recv(), 5) == "local"
        # A cross-node call fails at once, clearly.
        started = asyncio.get_running_loop().time()
        status, body = await call(one, "POST", f"/@connections/{connection_id}", data=b"far")
        assert status == 503 and "registry" in body["message"].lower()
        assert asyncio.get_running_loop().time() - started < 3 * UNIT
        # A client connecting during the outage is served locally.
        late, late_id = await open_on(one, registered=False)
    finally:
        redis_server.start()

    # Everything comes back by itself: both connections are reachable from the other node.
    async def reachable(node: Gateway, cid: str) -> bool:
        return (await call(node, "POST", f"/@connections/{cid}", data=b"back"))[0] == 200

    await eventually(lambda: reachable(one, connection_id), timeout=10)
    await eventually(lambda: reachable(two, late_id), timeout=10)
    assert await asyncio.wait_for(client.recv(), 5) == "back"
    assert await asyncio.wait_for(late.recv(), 5) == "back"
    await client.close()
    await late.close()


async def test_an_unreachable_owner_gives_504_quickly(start_nodes):
    one, two = await start_nodes(2)
    client, connection_id = await open_on(two)

    # The owner stops answering (its requests are ignored) but stays registered.
    async def silent(payload: bytes) -> bytes:
        await asyncio.sleep(30)
        return b""

    await two.registry.serve("node2", silent)
    boto = management_client(endpoint(one))
    try:
        with pytest.raises(ClientError) as caught:
            await asyncio.to_thread(boto.post_to_connection, ConnectionId=connection_id, Data=b"x")
        assert caught.value.response["Error"]["Code"] == "GatewayTimeoutException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 504
    finally:
        boto.close()
        await client.close()
