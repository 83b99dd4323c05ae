"""The apigatewayv2 control plane on the admin listener, driven by the unmodified boto3 client.

An API is built from nothing (CreateApi, CreateIntegration, CreateRoute, CreateStage with
AutoDeploy), a real WebSocket client talks to it at ``ApiEndpoint/stage``, listings page, every
refusal raises AWS's exception class, and definitions survive a restart with a state file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus

from tests.helpers import local_secrets, management_client, ws_client
from wsgate.config.load import parse_config
from wsgate.server.app import Gateway

CONFIG = """
name: base
routeSelectionExpression: $request.body.action
stages: {dev: {}}
server: {adminPort: 0}
"""


def _client(gateway: Gateway, *, secret: str | None = None) -> Any:
    admin = next(listener for listener in gateway.listeners if listener.role == "admin")
    key = local_secrets()
    return boto3.client(
        "apigatewayv2",
        endpoint_url=f"http://{admin.host}:{admin.port}",
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret or key.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


async def call(client: Any, operation: str, **params: Any) -> Any:
    """A boto3 call off the event loop, which serves it."""
    return await asyncio.to_thread(getattr(client, operation), **params)


async def _start(state: Path) -> Gateway:
    gateway = Gateway(parse_config(CONFIG, base_dir=state.parent), state=state)
    await gateway.start(port=0)
    return gateway


@pytest.fixture
async def backend() -> AsyncIterator[str]:
    """An HTTP backend that answers every message with its body, upper-cased."""

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        return web.Response(text=json.dumps({"got": body["data"].upper()}))

    app = web.Application()
    app.router.add_post("/chat", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/chat"
    finally:
        await runner.cleanup()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await _start(tmp_path / "state.db")
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def _chat(client: Any, backend: str) -> dict[str, Any]:
    api = await call(
        client,
        "create_api",
        Name="chat",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression="$request.body.action",
    )
    integration = await call(
        client,
        "create_integration",
        ApiId=api["ApiId"],
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=backend,
    )
    route_id = await two_way_route(
        client, api["ApiId"], "sendmessage", f"integrations/{integration['IntegrationId']}"
    )
    await call(client, "create_stage", ApiId=api["ApiId"], StageName="dev", AutoDeploy=True)
    return {"api": api, "integration": integration, "route": {"RouteId": route_id}}


async def two_way_route(client: Any, api_id: str, route_key: str, target: str) -> str:
    """A route whose integration's answer goes back to the client; returns its id."""
    route = await call(
        client,
        "create_route",
        ApiId=api_id,
        RouteKey=route_key,
        Target=target,
        RouteResponseSelectionExpression="$default",
    )
    await call(
        client,
        "create_route_response",
        ApiId=api_id,
        RouteId=route["RouteId"],
        RouteResponseKey="$default",
    )
    return str(route["RouteId"])


async def mock_integration(client: Any, api_id: str, answer: str) -> str:
    """A MOCK integration answering ``answer``; returns the route target naming it."""
    integration = await call(
        client,
        "create_integration",
        ApiId=api_id,
        IntegrationType="MOCK",
        RequestTemplates={"$default": '{"statusCode": 200}'},
    )
    await call(
        client,
        "create_integration_response",
        ApiId=api_id,
        IntegrationId=integration["IntegrationId"],
        IntegrationResponseKey="$default",
        ResponseTemplates={"$default": answer},
    )
    return f"integrations/{integration['IntegrationId']}"


async def _exchange(endpoint: str) -> str:
    async with ws_client(f"{endpoint}/dev") as ws:
        await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        return str(await asyncio.wait_for(ws.recv(), 5))


async def test_build_chat_from_nothing(gateway: Gateway, backend: str) -> None:
    client = _client(gateway)
    made = await _chat(client, backend)
    api = await call(client, "get_api", ApiId=made["api"]["ApiId"])
    assert api["ApiEndpoint"] == f"ws://127.0.0.1:{gateway.port}/{api['ApiId']}"
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["ApiKeySelectionExpression"] == "$request.header.x-api-key"
    assert json.loads(await _exchange(api["ApiEndpoint"])) == {"got": "HI"}
    # The config file's API is still served where it was.
    async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev"):
        pass


async def test_changes_are_served_at_once(gateway: Gateway, backend: str) -> None:
    client = _client(gateway)
    made = await _chat(client, backend)
    api_id = made["api"]["ApiId"]
    # A client connected before the change stays connected and meets it at its next message.
    async with ws_client(f"{made['api']['ApiEndpoint']}/dev") as ws:
        await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        assert await asyncio.wait_for(ws.recv(), 5) != "mocked"
        mock = await mock_integration(client, api_id, "mocked")
        route_id = made["route"]["RouteId"]
        await call(client, "update_route", ApiId=api_id, RouteId=route_id, Target=mock)
        assert await _exchange(made["api"]["ApiEndpoint"]) == "mocked"
        await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        assert await asyncio.wait_for(ws.recv(), 5) == "mocked"


async def test_connections_of_a_hosted_api(gateway: Gateway, backend: str) -> None:
    client = _client(gateway)
    made = await _chat(client, backend)
    endpoint = made["api"]["ApiEndpoint"]
    async with ws_client(f"{endpoint}/dev") as ws:
        admin = next(listener for listener in gateway.listeners if listener.role == "admin")
        hosted = gateway.hosted[made["api"]["ApiId"], "dev"]
        connection_id = next(iter(hosted.dataplane.live))
        url = f"http://{admin.host}:{admin.port}/{made['api']['ApiId']}/dev"
        await call(
            management_client(url), "post_to_connection", ConnectionId=connection_id, Data=b"x"
        )
        assert await asyncio.wait_for(ws.recv(), 5) == "x"


async def test_defaults_and_listings(gateway: Gateway) -> None:
    client = _client(gateway)
    api = await call(
        client,
        "create_api",
        Name="a",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression="$request.body.a",
    )
    api_id = api["ApiId"]
    mock = await call(client, "create_integration", ApiId=api_id, IntegrationType="MOCK")
    assert mock["IntegrationResponseSelectionExpression"] == "${integration.response.statuscode}"
    assert mock["PassthroughBehavior"] == "WHEN_NO_MATCH"
    assert mock["TimeoutInMillis"] == 29000
    assert mock["ConnectionType"] == "INTERNET"
    for key in ("one", "two", "three"):
        route = await call(client, "create_route", ApiId=api_id, RouteKey=key)
        assert route["AuthorizationType"] == "NONE"
        assert route["ApiKeyRequired"] is False
    page = await call(client, "get_routes", ApiId=api_id, MaxResults="2")
    assert len(page["Items"]) == 2
    rest = await call(client, "get_routes", ApiId=api_id, NextToken=page["NextToken"])
    assert [item["RouteKey"] for item in page["Items"] + rest["Items"]] == ["one", "two", "three"]
    assert "NextToken" not in rest
    paginator = client.get_paginator("get_routes")
    pages = await asyncio.to_thread(
        lambda: list(paginator.paginate(ApiId=api_id, PaginationConfig={"PageSize": 1}))
    )
    assert sum(len(p["Items"]) for p in pages) == 3
    stage = await call(client, "create_stage", ApiId=api_id, StageName="prod")
    assert stage["AutoDeploy"] is False
    assert stage["DefaultRouteSettings"]["LoggingLevel"] == "OFF"
    deployment = await call(client, "create_deployment", ApiId=api_id, StageName="prod")
    assert deployment["DeploymentStatus"] == "DEPLOYED"
    got = await call(client, "get_stage", ApiId=api_id, StageName="prod")
    assert got["DeploymentId"] == deployment["DeploymentId"]
    assert (await call(client, "get_apis"))["Items"][0]["ApiId"] == api_id
    await call(client, "update_api", ApiId=api_id, Description="renamed")
    assert (await call(client, "get_api", ApiId=api_id))["Description"] == "renamed"
    await call(client, "delete_route", ApiId=api_id, RouteId=route["RouteId"])
    assert len((await call(client, "get_routes", ApiId=api_id))["Items"]) == 2
    await call(client, "delete_api", ApiId=api_id)
    assert (await call(client, "get_apis"))["Items"] == []


async def test_errors_have_aws_types(gateway: Gateway) -> None:
    client = _client(gateway)
    with pytest.raises(client.exceptions.NotFoundException):
        await call(client, "get_api", ApiId="nosuchapi0")
    with pytest.raises(client.exceptions.BadRequestException):
        await call(client, "create_api", Name="h", ProtocolType="HTTP")
    api = await call(
        client,
        "create_api",
        Name="a",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression="$request.body.a",
    )
    api_id = api["ApiId"]
    with pytest.raises(client.exceptions.BadRequestException):
        await call(
            client,
            "create_integration",
            ApiId=api_id,
            IntegrationType="MOCK",
            TimeoutInMillis=29001,
        )
    with pytest.raises(client.exceptions.BadRequestException, match="Invalid integration"):
        await call(
            client, "create_route", ApiId=api_id, RouteKey="x", Target="integrations/nope123"
        )
    await call(client, "create_route", ApiId=api_id, RouteKey="x")
    with pytest.raises(client.exceptions.ConflictException):
        await call(client, "create_route", ApiId=api_id, RouteKey="x")
    with pytest.raises(client.exceptions.NotFoundException):
        await call(client, "get_route", ApiId=api_id, RouteId="nope123")
    with pytest.raises(client.exceptions.BadRequestException, match="routeSelectionExpression"):
        await call(client, "update_api", ApiId=api_id, RouteSelectionExpression="$request.body.")
    with pytest.raises(ClientError) as refused:
        await call(_client(gateway, secret="wrong"), "get_apis")
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"


async def test_definitions_survive_a_restart(tmp_path: Path, backend: str) -> None:
    state = tmp_path / "state.db"
    first = await _start(state)
    try:
        made = await _chat(_client(first), backend)
    finally:
        await first.stop(timeout=5)
    second = await _start(state)
    try:
        client = _client(second)
        api = await call(client, "get_api", ApiId=made["api"]["ApiId"])
        assert api["ApiEndpoint"].endswith(f":{second.port}/{api['ApiId']}")
        routes = await call(client, "get_routes", ApiId=api["ApiId"])
        assert [route["RouteKey"] for route in routes["Items"]] == ["sendmessage"]
        assert json.loads(await _exchange(api["ApiEndpoint"])) == {"got": "HI"}
    finally:
        await second.stop(timeout=5)


HANDLERS = """
def shout(event, context):
    return {"statusCode": 200, "body": event["body"].upper()}


def gate(event, context):
    allowed = event["queryStringParameters"]["token"] == "ok"
    return {
        "principalId": "me",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if allowed else "Deny",
                    "Resource": event["methodArn"],
                }
            ],
        },
    }
"""

FUNCTIONS = """
functions:
  shout: {handler: plane_handlers.shout, isolation: inprocess}
  gate: {handler: plane_handlers.gate, isolation: inprocess}
"""

SHOUT = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:shout/invocations"
)


async def _status(url: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        async with ws_client(url):
            pass
    return caught.value.response.status_code


async def _send(ws: Any, data: str) -> str:
    await ws.send(data)
    return str(await asyncio.wait_for(ws.recv(), 5))


async def test_deployments_authorizers_and_the_hosts_functions(tmp_path: Path) -> None:
    (tmp_path / "plane_handlers.py").write_text(HANDLERS)
    config = parse_config(CONFIG + FUNCTIONS, base_dir=tmp_path)
    gateway = Gateway(config, state=tmp_path / "state.db")
    await gateway.start(port=0)
    try:
        client = _client(gateway)
        api = await call(
            client,
            "create_api",
            Name="shout",
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.action",
        )
        api_id, endpoint = api["ApiId"], f"{api['ApiEndpoint']}/dev"
        shout = await call(
            client,
            "create_integration",
            ApiId=api_id,
            IntegrationType="AWS_PROXY",
            IntegrationUri=SHOUT,
        )
        route_id = await two_way_route(
            client, api_id, "$default", f"integrations/{shout['IntegrationId']}"
        )
        gate = await call(
            client,
            "create_authorizer",
            ApiId=api_id,
            AuthorizerType="REQUEST",
            Name="gate",
            AuthorizerUri="arn:aws:lambda:us-east-1:123456789012:function:gate",
            IdentitySource=["route.request.querystring.token"],
        )
        await call(
            client,
            "create_route",
            ApiId=api_id,
            RouteKey="$connect",
            AuthorizationType="CUSTOM",
            AuthorizerId=gate["AuthorizerId"],
        )
        await call(client, "create_stage", ApiId=api_id, StageName="dev")
        assert await _status(f"{endpoint}?token=ok") == 403  # a stage with no deployment
        first = await call(client, "create_deployment", ApiId=api_id, StageName="dev")
        assert await _status(endpoint) == 401  # no identity
        assert await _status(f"{endpoint}?token=no") == 403
        async with ws_client(f"{endpoint}?token=ok") as ws:
            assert await _send(ws, "hi") == "HI"
            mock = await mock_integration(client, api_id, "mocked")
            await call(client, "update_route", ApiId=api_id, RouteId=route_id, Target=mock)
            assert await _send(ws, "hi") == "HI"  # not deployed: not seen
            await call(client, "create_deployment", ApiId=api_id, StageName="dev")
            assert await _send(ws, "hi") == "mocked"
            # Back to the first deployment, on the same connection.
            await call(
                client,
                "update_stage",
                ApiId=api_id,
                StageName="dev",
                DeploymentId=first["DeploymentId"],
            )
            assert await _send(ws, "hi") == "HI"
        deployments = await call(client, "get_deployments", ApiId=api_id)
        assert len(deployments["Items"]) == 2
        assert all(item["DeploymentStatus"] == "DEPLOYED" for item in deployments["Items"])
        with pytest.raises(ClientError, match="used by route"):
            await call(client, "delete_authorizer", ApiId=api_id, AuthorizerId=gate["AuthorizerId"])
        model = await call(
            client,
            "create_model",
            ApiId=api_id,
            Name="Message",
            Schema='{"type": "object", "required": ["action"]}',
        )
        assert (await call(client, "get_model", ApiId=api_id, ModelId=model["ModelId"]))[
            "Name"
        ] == "Message"
    finally:
        await gateway.stop(timeout=5)


async def test_a_route_removed_in_flight_finishes_as_it_started(gateway: Gateway) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(text="finished")

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        client = _client(gateway)
        made = await _chat(client, f"http://127.0.0.1:{runner.addresses[0][1]}/slow")
        api_id = made["api"]["ApiId"]
        # Another route, so that the API can still be deployed once the first is gone.
        await call(client, "create_route", ApiId=api_id, RouteKey="other")
        async with ws_client(f"{made['api']['ApiEndpoint']}/dev") as ws:
            await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
            await asyncio.wait_for(arrived.wait(), 5)
            await call(client, "delete_route", ApiId=api_id, RouteId=made["route"]["RouteId"])
            await call(
                client,
                "delete_integration",
                ApiId=api_id,
                IntegrationId=made["integration"]["IntegrationId"],
            )
            release.set()
            assert await asyncio.wait_for(ws.recv(), 5) == "finished"
            # The next message meets the API without the route (no $default either).
            await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer["message"] == "Forbidden"
    finally:
        await runner.cleanup()


async def test_two_apis_side_by_side(gateway: Gateway) -> None:
    client = _client(gateway)
    endpoints = {}
    for answer in ("first", "second"):
        api = await call(
            client,
            "create_api",
            Name=answer,
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.action",
        )
        target = await mock_integration(client, api["ApiId"], answer)
        await two_way_route(client, api["ApiId"], "sendmessage", target)
        await call(client, "create_stage", ApiId=api["ApiId"], StageName="dev", AutoDeploy=True)
        endpoints[answer] = api["ApiEndpoint"]
    assert await _exchange(endpoints["first"]) == "first"
    assert await _exchange(endpoints["second"]) == "second"
    listed = await call(client, "get_apis")
    assert sorted(item["Name"] for item in listed["Items"]) == ["first", "second"]
