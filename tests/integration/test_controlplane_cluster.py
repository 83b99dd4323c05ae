"""Control plane definitions shared by two nodes over a real redis-server.

An API built on one node with the boto3 ``apigatewayv2`` client is served by the other within
its polling period; a change made on the second reaches a client connected to the first, on
its open connection; two writes of one API from stale copies meet AWS's ``ConflictException``;
a node started later finds every definition; and an outage of Redis is answered with a clear
error and survived.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import eventually, management_client, ws_client
from tests.integration.test_controlplane import _client, call, mock_integration, two_way_route
from tests.redis_server import RedisServer
from wsgate.config.load import parse_config
from wsgate.errors import ConfigError
from wsgate.registry.definitions import RedisApiStore
from wsgate.server.apistore import definition_store
from wsgate.server.app import Gateway

CONFIG = """
name: base
routeSelectionExpression: $request.body.action
stages: {dev: {}}
server: {adminPort: 0, registry: "%s", nodeId: "%s"}
"""

Start = Callable[[str], Awaitable[Gateway]]


@pytest.fixture
async def start_node(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Start]:
    nodes: list[Gateway] = []

    async def start(name: str) -> Gateway:
        config = parse_config(CONFIG % (redis_server.url, name), base_dir=tmp_path)
        gateway = Gateway(config)
        await gateway.start(port=0)
        nodes.append(gateway)
        return gateway

    try:
        yield start
    finally:
        for node in nodes:
            await node.stop(timeout=5)


async def _mock_api(client: Any, answer: str) -> tuple[str, str, str]:
    api = await call(
        client,
        "create_api",
        Name="shared",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression="$request.body.action",
    )
    api_id = api["ApiId"]
    target = await mock_integration(client, api_id, answer)
    route_id = await two_way_route(client, api_id, "$default", target)
    await call(client, "create_stage", ApiId=api_id, StageName="live", AutoDeploy=True)
    return api_id, route_id, target


async def _say(ws: Any) -> str:
    await ws.send(json.dumps({"action": "x"}))
    return str(await asyncio.wait_for(ws.recv(), 5))


async def test_a_change_on_one_node_is_live_on_the_other(start_node: Start) -> None:
    first, second = await start_node("n1"), await start_node("n2")
    one, two = _client(first), _client(second)
    api_id, route_id, _ = await _mock_api(one, "from one")
    # The second node serves the API once its poll has seen it, at its own endpoint.
    await eventually(lambda: (api_id, "live") in second.hosted, timeout=5)
    api = await call(two, "get_api", ApiId=api_id)
    assert api["ApiEndpoint"] == f"ws://127.0.0.1:{second.port}/{api_id}"
    async with ws_client(f"{api['ApiEndpoint']}/live") as ws:
        assert await _say(ws) == "from one"
    # A client of the first node meets a change made on the second on its open connection.
    async with ws_client(f"ws://127.0.0.1:{first.port}/{api_id}/live") as ws:
        assert await _say(ws) == "from one"
        target = await mock_integration(two, api_id, "from two")
        other = target.removeprefix("integrations/")
        await call(two, "update_route", ApiId=api_id, RouteId=route_id, Target=target)
        await eventually(lambda: _routed(first, api_id, other), timeout=5)
        assert await _say(ws) == "from two"
        # Its @connections API answers on every node: the second forwards to the first.
        (connection_id,) = first.hosted[api_id, "live"].dataplane.live
        admin = next(listener for listener in second.listeners if listener.role == "admin")
        management = management_client(f"http://{admin.host}:{admin.port}/{api_id}/live")
        await asyncio.to_thread(
            management.post_to_connection, ConnectionId=connection_id, Data=b"via two"
        )
        assert await asyncio.wait_for(ws.recv(), 5) == "via two"
    # A node that starts later finds it; a deletion reaches every node.
    third = await start_node("n3")
    assert (api_id, "live") in third.hosted
    await call(one, "delete_api", ApiId=api_id)
    await eventually(lambda: all((api_id, "live") not in n.hosted for n in (second, third)))
    with pytest.raises(ClientError) as caught:
        await call(two, "get_api", ApiId=api_id)
    assert caught.value.response["Error"]["Code"] == "NotFoundException"


def _routed(node: Gateway, api_id: str, integration: str) -> bool:
    route = node.hosted[api_id, "live"].config.routes["$default"]
    return route.integration_name == integration


async def test_writes_from_a_stale_copy_conflict(redis_server: RedisServer) -> None:
    first, second = RedisApiStore(redis_server.url), RedisApiStore(redis_server.url)
    try:
        await first.save("a1", {"n": 1})
        assert await second.load() == {"a1": {"n": 1}}
        await first.save("a1", {"n": 2})
        with pytest.raises(Exception, match="changed by another node"):
            await second.save("a1", {"n": 3})  # second still holds revision 1
        assert await second.fetch("a1") == {"n": 2}
        await second.save("a1", {"n": 3})  # once it has read revision 2
        seen: list[str] = []

        async def changed(api_id: str) -> None:
            seen.append(api_id)
            await first.fetch(api_id)

        first._poll_seconds = 0.05
        await first.watch(changed)
        await eventually(lambda: seen == ["a1"], timeout=5)
        await second.delete("a1")
        await eventually(lambda: seen == ["a1", "a1"], timeout=5)
        assert await first.fetch("a1") is None
    finally:
        await first.close()
        await second.close()


async def test_an_outage_is_a_clear_error_and_survived(
    start_node: Start, redis_server: RedisServer
) -> None:
    node = await start_node("n1")
    client = _client(node)
    redis_server.stop()
    with pytest.raises(ClientError) as caught:
        await call(
            client,
            "create_api",
            Name="x",
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.a",
        )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "Redis" in caught.value.response["Error"]["Message"]
    redis_server.start()
    await eventually(lambda: node.cluster.registry_healthy, timeout=10)
    api_id, _, _ = await _mock_api(client, "back")
    assert (api_id, "live") in node.hosted


def test_state_and_redis_do_not_mix(redis_server: RedisServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drop --state"):
        definition_store(tmp_path / "s.db", redis_server.url, prefix="p:")
