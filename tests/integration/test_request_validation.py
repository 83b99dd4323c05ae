"""Request validation with models, through the real gateway and a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import UNIT, ws_client
from wsgate.config.load import config_from_data
from wsgate.config.template.load import load_api
from wsgate.config.template.options import TemplateOptions
from wsgate.errors import ConfigError
from wsgate.server.app import Gateway

HANDLER = """\
import json, os


def echo(event, context):
    with open(os.environ["CALLS_FILE"], "a", encoding="utf-8") as calls:
        calls.write(event["body"] + "\\n")
    return {"statusCode": 200, "body": event["body"]}
"""

MESSAGE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["action", "data"],
    "properties": {"action": {"type": "string"}, "data": {"type": "string", "maxLength": 16}},
}
BAD_BODY = re.compile(
    r'\{"message" : "Bad request body", "connectionId": "[A-Za-z0-9_=-]{16}", '
    r'"messageId": "[A-Za-z0-9_=-]{16}"\}'
)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Path]]:
    (tmp_path / "app.py").write_text(HANDLER, encoding="utf-8")
    calls = tmp_path / "calls.txt"
    calls.touch()
    data = {
        "name": "validated",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
        "models": {"Message": {"schema": MESSAGE_SCHEMA}},
        "routes": {
            "sendmessage": {
                "target": "echo",
                "routeResponseSelectionExpression": "$default",
                "modelSelectionExpression": "$request.body.action",
                "requestModels": {"sendmessage": "Message"},
            },
        },
        "integrations": {"echo": {"integrationType": "AWS_PROXY", "integrationUri": "echo"}},
        "functions": {
            "echo": {
                "handler": "app.echo",
                "concurrency": 1,
                "environment": {"CALLS_FILE": str(calls)},
            }
        },
    }
    config = config_from_data(data, base_dir=tmp_path, source="test")
    running = Gateway(config)
    await running.start(port=0)
    try:
        yield running, calls
    finally:
        await running.stop(timeout=5)


async def test_a_refused_body_never_reaches_the_function(
    gateway: tuple[Gateway, Path], caplog: pytest.LogCaptureFixture
) -> None:
    running, calls = gateway
    caplog.set_level(logging.INFO, logger="wsgate.server.messages")
    async with ws_client(f"ws://127.0.0.1:{running.port}/dev") as client:
        await client.send(json.dumps({"action": "sendmessage", "data": "far too long to pass"}))
        answer = await asyncio.wait_for(client.recv(), 10 * UNIT)
        assert BAD_BODY.fullmatch(answer), answer
        await client.send(json.dumps({"action": "sendmessage"}))
        assert BAD_BODY.fullmatch(await asyncio.wait_for(client.recv(), 10 * UNIT))
        # The socket stays open, and a valid message goes through to the function.
        valid = json.dumps({"action": "sendmessage", "data": "hi"})
        await client.send(valid)
        assert await asyncio.wait_for(client.recv(), 10 * UNIT) == valid
    assert calls.read_text(encoding="utf-8").splitlines() == [valid]
    reasons = [r.getMessage() for r in caplog.records if "message refused" in r.getMessage()]
    assert reasons == [
        "message refused: model Message: at '/data': 'far too long to pass' is too long",
        "message refused: model Message: at '/': 'data' is a required property",
    ]


TEMPLATE = {
    "Resources": {
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": "models",
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "JoinModel": {
            "Type": "AWS::ApiGatewayV2::Model",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "Name": "Join",
                "ContentType": "application/json",
                "Schema": {
                    "type": "object",
                    "required": ["room"],
                    "properties": {"room": {"type": "integer", "minimum": 1}},
                },
            },
        },
        "JoinRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "RouteKey": "join",
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "Mock"}]]},
                "RouteResponseSelectionExpression": "$default",
                "ModelSelectionExpression": "\\$default",
                "RequestModels": {"$default": "Join"},
            },
        },
        "JoinResponse": {
            "Type": "AWS::ApiGatewayV2::RouteResponse",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "RouteId": {"Ref": "JoinRoute"},
                "RouteResponseKey": "$default",
            },
        },
        "Mock": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "IntegrationType": "MOCK",
                "RequestTemplates": {"$default": '{"statusCode": 200}'},
                "TemplateSelectionExpression": "\\$default",
            },
        },
        "MockResponse": {
            "Type": "AWS::ApiGatewayV2::IntegrationResponse",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "IntegrationId": {"Ref": "Mock"},
                "IntegrationResponseKey": "$default",
                "ResponseTemplates": {"$default": "joined"},
            },
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "dev"},
        },
    }
}


async def test_a_template_model_is_enforced(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(TEMPLATE), encoding="utf-8")
    loaded = load_api(path, TemplateOptions(home=tmp_path / "home"))
    assert not [note for note in loaded.notes if "Model" in note.path]
    running = Gateway(loaded.config)
    await running.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{running.port}/dev") as client:
            await client.send(json.dumps({"action": "join", "room": 0}))
            assert BAD_BODY.fullmatch(await asyncio.wait_for(client.recv(), 10 * UNIT))
            await client.send(json.dumps({"action": "join", "room": 2}))
            assert await asyncio.wait_for(client.recv(), 10 * UNIT) == "joined"
    finally:
        await running.stop(timeout=5)


def test_a_template_model_with_a_bad_schema_is_refused(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(TEMPLATE))
    broken["Resources"]["JoinModel"]["Properties"]["Schema"] = {"type": "room"}
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_api(path, TemplateOptions(home=tmp_path / "home"))
    places = [issue.path for issue in caught.value.issues]
    assert places == ["Resources.JoinModel.Properties.Schema"]
