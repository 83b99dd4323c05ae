"""SAM and CloudFormation templates served as they are: the real gateway, real clients."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.helpers import eventually
from wsgate.cli import main
from wsgate.config.template.load import load_api
from wsgate.config.template.options import TemplateOptions
from wsgate.server.app import Gateway

DATA = Path(__file__).parents[1] / "data"
SAMPLE = Path(__file__).parents[2] / "examples" / "sam-chat" / "template.yaml"


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Gateway]:
    shutil.copytree(DATA / "sam" / "python-chat", tmp_path / "chat")
    options = TemplateOptions(
        home=tmp_path / "home",
        parameter_overrides={"DatabasePath": str(tmp_path / "chat.sqlite3")},
        # Added to the function's environment, over the template's own value.
        env_vars={"SendMessageFunction": {"CALLBACK_SCHEME": "http"}},
        stack_name="chat",
    )
    loaded = load_api(tmp_path / "chat" / "template.yaml", options)
    assert loaded.outputs["WebSocketURI"] == (
        f"wss://{loaded.config.api_id}.execute-api.us-east-1.amazonaws.com/dev"
    )
    gateway = Gateway(loaded.config)
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def test_two_clients_chat_through_a_sam_template(chat: Gateway) -> None:
    url = f"ws://127.0.0.1:{chat.port}/dev"
    async with connect(url, proxy=None) as alice, connect(url, proxy=None) as bob:
        await eventually(lambda: len(chat.dataplane.live) == 2)
        await alice.send(json.dumps({"action": "sendmessage", "data": "hi bob"}))
        assert await asyncio.wait_for(bob.recv(), 15) == "hi bob"
        await bob.send(json.dumps({"action": "sendmessage", "data": "hi alice"}))
        assert await asyncio.wait_for(alice.recv(), 15) == "hi alice"
        # $default runs the in-line function; its answer comes back through the route response.
        await bob.send("hello?")
        hint = json.loads(await asyncio.wait_for(bob.recv(), 15))
        assert hint == {
            "message": 'Use {"action": "sendmessage", "data": "..."} to chat.',
            "stage": "dev",
        }


def test_the_template_translates_what_it_declares(tmp_path: Path) -> None:
    shutil.copytree(DATA / "sam" / "python-chat", tmp_path / "chat")
    options = TemplateOptions(home=tmp_path / "home", parameter_overrides={"StageName": "prod"})
    loaded = load_api(tmp_path / "chat" / "template.yaml", options)
    config = loaded.config
    assert config.name == "template-chat"
    assert list(config.stages) == ["prod"]
    assert config.stages["prod"].stage_variables == {"mode": "production"}
    send = config.functions["SendMessageFunction"]
    assert send.timeout == 3 and send.memory_size == 256 and send.runtime == "python3.11"
    assert send.environment["TABLE_NAME"] == loaded.outputs["TableName"]
    assert config.routes["$default"].two_way and not config.routes["sendmessage"].two_way
    # FunctionName names the function in its ARN; the integration still finds it.
    assert loaded.outputs["ConnectFunctionArn"].endswith(":function:template-connect")
    assert str(config.integrations["ConnectIntegration"].integration_uri).endswith(
        ":function:OnConnectFunction/invocations"
    )
    hint = Path(config.functions["HintFunction"].code_uri)
    assert hint.parent == tmp_path / "home" / "templates" and (hint / "index.py").is_file()
    assert [issue.path for issue in loaded.skipped] == [
        "Resources.ConnectionsTable",
        "Resources.SendPermission",
    ]


def test_validate_reads_a_node_chat_written_as_aws_samples_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "skipped  Resources.ConnectionsTable: AWS::DynamoDB::Table" in out
    assert "skipped  Resources.SendPermission: AWS::Lambda::Permission" in out
    assert "AWS_ENDPOINT_URL_DYNAMODB" in out
    assert "output   WebSocketURI = wss://" in out
    assert "valid (API 'ChatApi', stages: dev, routes: $connect, $disconnect, sendmessage)" in out


def test_validate_takes_the_template_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "env.json"
    env.write_text(
        json.dumps({"Parameters": {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}})
    )
    argv = [
        "validate",
        str(SAMPLE),
        "--parameter-overrides",
        "ParameterKey=TableName,ParameterValue=chat_table",
        "--env-vars",
        str(env),
        "--stack-name",
        "demo",
        "--region",
        "eu-west-1",
        "--account-id",
        "111122223333",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stack 'demo' (region eu-west-1, account 111122223333)" in out
    assert "arn:aws:dynamodb:eu-west-1:111122223333:table/chat_table" in out


BAD_TEMPLATES = [
    (
        "Resources.ChatRoute.Properties.Target: no integration named 'Missing'",
        {
            "ChatRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "chat",
                    "Target": "integrations/Missing",
                },
            }
        },
    ),
    (
        "Parameters.Table: no value: give a Default, or --parameter-overrides Table=VALUE",
        {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "app.h",
                    "CodeUri": ".",
                    "Environment": {"Variables": {"T": {"Ref": "Table"}}},
                },
            }
        },
    ),
    (
        "Resources.Fn.Properties.CodeUri: s3://bucket/code.zip is in S3: "
        "point CodeUri at the local folder that holds the code",
        {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "app.h", "CodeUri": "s3://bucket/code.zip"},
            }
        },
    ),
    (
        "Resources.Integ.Properties.IntegrationUri.Fn::GetAtt: "
        "no parameter or resource named 'Nope'",
        {
            "Integ": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {"Fn::GetAtt": ["Nope", "Arn"]},
                },
            }
        },
    ),
]


@pytest.mark.parametrize(("message", "resources"), BAD_TEMPLATES)
def test_invalid_templates_name_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], message: str, resources: dict[str, Any]
) -> None:
    template = {
        "Parameters": {"Table": {"Type": "String"}} if "Table" in message else {},
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": "a",
                    "ProtocolType": "WEBSOCKET",
                    "RouteSelectionExpression": "$request.body.action",
                },
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "dev"},
            },
            **resources,
        },
    }
    path = tmp_path / "bad.template.json"
    path.write_text(json.dumps(template))
    assert main(["validate", str(path)]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--parameter-overrides", "novalue"],
            "--parameter-overrides: 'novalue': expected KEY=VALUE",
        ),
        (["--env-vars", "/nonexistent/env.json"], "--env-vars: cannot read /nonexistent/env.json"),
    ],
)
def test_bad_template_flags_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["validate", str(SAMPLE), *argv]) == 2
    assert message in capsys.readouterr().err


def test_template_flags_on_a_config_file_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = Path(__file__).parents[2] / "examples" / "chat" / "wsgate.yaml"
    assert main(["validate", str(config), "--region", "eu-west-1"]) == 2
    assert "--region: only for templates" in capsys.readouterr().err
