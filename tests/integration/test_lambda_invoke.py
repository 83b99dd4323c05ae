"""Functions run at a Lambda Invoke endpoint: a fake Lambda service started by the test."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import UNIT, eventually, ws_client
from wsgate.cli import main
from wsgate.config.load import config_from_data
from wsgate.config.template.load import load_api
from wsgate.config.template.options import TemplateOptions
from wsgate.errors import FunctionError, IntegrationUnavailable
from wsgate.integrations.base import IntegrationRequest
from wsgate.integrations.lambda_invoke import LambdaInvokeRunner, endpoint_region
from wsgate.server.app import Gateway

INTERNAL = re.compile(
    r'\{"message": "Internal server error", "connectionId":"[^"]+", "requestId":"[^"]+"\}'
)
SIGNATURE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=AKIDFAKE/\d{8}/us-east-1/lambda/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}"
)


@dataclass
class FakeLambda:
    """Lambda's Invoke REST shape: POST /2015-03-31/functions/{name}/invocations."""

    url: str = ""
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    async def invoke(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        event = await request.json()
        self.calls.append((name, event, dict(request.headers)))
        if name == "echo":
            answer = {"statusCode": 200, "body": event.get("body")}
            return web.json_response(answer, headers={"X-Amz-Executed-Version": "$LATEST"})
        if name == "boom":
            error = {
                "errorType": "java.lang.IllegalStateException",
                "errorMessage": "boom",
                "stackTrace": ["Handler.handleRequest(Handler.java:12)"],
            }
            return web.json_response(error, headers={"X-Amz-Function-Error": "Unhandled"})
        if name == "busy":
            return web.json_response(
                {"Type": "User", "message": "Rate Exceeded."},
                status=429,
                headers={"x-amzn-ErrorType": "TooManyRequestsException"},
            )
        return web.json_response(
            {"Type": "User", "Message": f"Function not found: {name}"},
            status=404,
            headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
        )


@pytest.fixture
async def fake_lambda() -> AsyncIterator[FakeLambda]:
    fake = FakeLambda()
    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", fake.invoke)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The usual chain finds this key (and nothing from the machine's own AWS config)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def _config(tmp_path: Path, endpoint: str, functions: dict[str, Any]) -> Any:
    routes: dict[str, Any] = {
        key: {"target": key, "routeResponseSelectionExpression": "$default"} for key in functions
    }
    data = {
        "name": "remote",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
        "routes": routes,
        "integrations": {
            key: {"integrationType": "AWS_PROXY", "integrationUri": key} for key in functions
        },
        "functions": functions,
    }
    return config_from_data(data, base_dir=tmp_path, source="test", lambda_endpoint=endpoint)


async def test_messages_reach_the_endpoint_and_errors_come_back_as_aws_sends_them(
    tmp_path: Path, fake_lambda: FakeLambda
) -> None:
    functions = {
        "echo": {"runtime": "java21", "handler": "chat.Handler::handleRequest"},
        "boom": {"runtime": "dotnet8"},
        "busy": {"functionName": "busy"},
        "named": {"functionName": "echo"},
    }
    gateway = Gateway(_config(tmp_path, fake_lambda.url, functions))
    await gateway.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as client:
            message = json.dumps({"action": "echo", "data": "hi"})
            await client.send(message)
            assert await asyncio.wait_for(client.recv(), 10 * UNIT) == message
            await client.send(json.dumps({"action": "named"}))
            assert json.loads(await asyncio.wait_for(client.recv(), 10 * UNIT)) == {
                "action": "named"
            }
            for action in ("boom", "busy"):
                await client.send(json.dumps({"action": action}))
                assert INTERNAL.fullmatch(await asyncio.wait_for(client.recv(), 10 * UNIT))
    finally:
        await gateway.stop(timeout=5)
    names = [name for name, _, _ in fake_lambda.calls]
    assert names == ["echo", "echo", "boom", "busy"]
    _, event, headers = fake_lambda.calls[0]
    assert event["requestContext"]["routeKey"] == "echo" and event["body"] == message
    assert SIGNATURE.fullmatch(headers["Authorization"]), headers["Authorization"]
    assert headers["X-Amz-Invocation-Type"] == "RequestResponse"


async def _runner(endpoint: str, **fields: Any) -> LambdaInvokeRunner:
    from wsgate.config.model import FunctionConfig

    config = FunctionConfig.model_validate({"lambdaEndpoint": endpoint, **fields})
    runner = LambdaInvokeRunner("f", "f", config, region="us-east-1", account_id="1")
    await runner.start()
    return runner


async def test_an_unhandled_error_is_the_function_error(fake_lambda: FakeLambda) -> None:
    runner = await _runner(fake_lambda.url, functionName="boom")
    try:
        with pytest.raises(FunctionError) as caught:
            await runner.invoke(IntegrationRequest({"x": 1}, None, 5000))
    finally:
        await runner.stop()
    error = caught.value
    assert (error.error_type, error.error_message) == ("java.lang.IllegalStateException", "boom")
    assert error.stack == ["Handler.handleRequest(Handler.java:12)"]


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("busy", "Lambda answered 429 TooManyRequestsException (throttled): Rate Exceeded."),
        ("gone", "Lambda answered 404 ResourceNotFoundException: Function not found: gone"),
    ],
)
async def test_lambda_service_errors_are_an_unreachable_integration(
    fake_lambda: FakeLambda, function: str, reason: str
) -> None:
    runner = await _runner(fake_lambda.url, functionName=function)
    try:
        with pytest.raises(IntegrationUnavailable, match=re.escape(reason)):
            await runner.invoke(IntegrationRequest({}, None, 5000))
    finally:
        await runner.stop()


async def test_an_unreachable_endpoint(tmp_path: Path) -> None:
    # A port nothing listens on: the fake server's, once it has stopped.
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await runner.cleanup()
    gateway = Gateway(_config(tmp_path, f"http://127.0.0.1:{port}", {"echo": {}}))
    await gateway.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as client:
            await client.send(json.dumps({"action": "echo"}))
            assert INTERNAL.fullmatch(await asyncio.wait_for(client.recv(), 10 * UNIT))
    finally:
        await gateway.stop(timeout=5)


async def test_a_stopped_runner_refuses_calls(fake_lambda: FakeLambda) -> None:
    runner = await _runner(fake_lambda.url)
    await runner.stop()
    with pytest.raises(IntegrationUnavailable, match="stopped"):
        await runner.invoke(IntegrationRequest({}, None, 5000))


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://lambda.eu-west-1.amazonaws.com", "eu-west-1"),
        ("https://lambda-fips.us-gov-west-1.amazonaws.com/", "us-gov-west-1"),
        ("http://127.0.0.1:3001", "us-east-1"),
    ],
)
def test_endpoint_region(endpoint: str, region: str) -> None:
    assert endpoint_region(endpoint, "us-east-1") == region


TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      {Name: java, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Integration}",
                 RouteResponseSelectionExpression: $default}
  Response:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties: {ApiId: !Ref Api, RouteId: !Ref Route, RouteResponseKey: $default}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Join ["", ["arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/",
                                  !GetAtt EchoFunction.Arn, "/invocations"]]
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: dev}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: build/echo.jar, Handler: "chat.Echo::handleRequest", Runtime: java21}
"""


async def test_a_template_function_at_the_endpoint(tmp_path: Path, fake_lambda: FakeLambda) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE.replace("EchoFunction", "echo"), encoding="utf-8")
    options = TemplateOptions(home=tmp_path / "home", lambda_endpoint=fake_lambda.url)
    loaded = load_api(path, options)
    assert loaded.config.functions["echo"].lambda_endpoint == fake_lambda.url
    gateway = Gateway(loaded.config)
    await gateway.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as client:
            await client.send("plain text")
            assert await asyncio.wait_for(client.recv(), 10 * UNIT) == "plain text"
    finally:
        await gateway.stop(timeout=5)
    await eventually(lambda: fake_lambda.calls)


def test_validate_takes_the_flag(
    tmp_path: Path, fake_lambda: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    assert main(["validate", str(path)]) == 1  # java21 cannot run here
    assert "unknown runtime 'java21'" in capsys.readouterr().err
    assert main(["validate", str(path), "--lambda-endpoint", fake_lambda.url]) == 0
