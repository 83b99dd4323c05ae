"""AWS integrations end to end: Lambda custom functions and AWS service actions (§3.3, §5.1).

A real WebSocket client talks to a real gateway. Lambda custom integrations run a local function
with the event a request template renders, and render its answer or its error through
integration responses. Service integrations call moto's server, started by the tests as its own
process, signed with the credentials botocore finds; boto3 then checks the effect there (the
message in the queue, the item in the table, the record in the stream). Failures are real too:
a service error, an endpoint that drops or ignores the request, no credentials at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.aws_env import isolate_aws
from tests.helpers import UNIT, missing_tool, ws_client as client
from wsgate.config.load import config_from_data
from wsgate.server.app import Gateway

APP = Path(__file__).parent / "apps" / "aws"
FRAME = '{{"message": "{message}", "connectionId":"{cid}", "requestId":"{rid}"}}'
ROOT = Path(__file__).parents[2]
ACCOUNT = "123456789012"  # moto's
LAMBDA_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:000000000000:function:custom/invocations"
)


def _two_way(target: str) -> dict[str, str]:
    """A route whose integration's answer goes back to the client (a route response)."""
    return {"target": target, "routeResponseSelectionExpression": "$default"}


def _api(integrations: dict[str, Any], routes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "aws-integrations",
        "routeSelectionExpression": "$request.body.action",
        "stages": extra.pop("stages", {"dev": {}}),
        "integrations": integrations,
        "routes": routes,
        **extra,
    }


async def _start(data: dict[str, Any]) -> Gateway:
    gateway = Gateway(config_from_data(data, base_dir=APP, source="test"))
    await gateway.start(port=0)
    return gateway


@contextlib.asynccontextmanager
async def _serving(data: dict[str, Any]) -> AsyncIterator[Gateway]:
    gateway = await _start(data)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def _recv(ws: Any) -> Any:
    return await asyncio.wait_for(ws.recv(), 10 * UNIT)


def _error_frame(text: str, message: str) -> None:
    frame = json.loads(text)
    assert frame["message"] == message
    assert text == FRAME.format(message=message, cid=frame["connectionId"], rid=frame["requestId"])


# -- Lambda custom -----------------------------------------------------------------------------

_EVENT = (
    '{"text": "$input.path(\'$.text\')", "connectionId": "$context.connectionId", '
    '"route": "$context.routeKey", "eventType": "$context.eventType", '
    '"token": "$input.params(\'token\')"}'
)
_CUSTOM = {
    "integrationType": "AWS",
    "integrationUri": LAMBDA_URI,
    "requestTemplates": {"application/json": _EVENT},
    "integrationResponses": {
        "/Bad input.*/": {
            "responseTemplates": {
                "$default": '{"refused": "$input.path(\'$.errorMessage\')", '
                '"type": "$input.path(\'$.errorType\')"}'
            }
        },
        "$default": {"responseTemplates": {"$default": "{\"answer\": $input.json('$')}"}},
    },
}


def _custom_api(isolation: str) -> dict[str, Any]:
    function = {"handler": "custom.handle", "isolation": isolation, "timeout": 10}
    return _api(
        {
            "custom": _CUSTOM,
            # Only errors matching /Bad input.*/ have a response here: others fail the call.
            "strict": {**_CUSTOM, "integrationResponses": {"/Bad input.*/": {}}},
            # No template and no integration responses: the message is the event, the
            # function's JSON comes back as it is.
            "plain": {"integrationType": "AWS", "integrationUri": "custom"},
        },
        {
            "$connect": {"target": "integrations/custom"},
            # No message on $disconnect: the function gets {} as Lambda's empty payload.
            "$disconnect": {"target": "plain"},
            "echo": _two_way("custom"),
            "strict": _two_way("strict"),
            "plain": _two_way("plain"),
            "oneway": {"target": "custom"},
            "$default": _two_way("plain"),
        },
        functions={"custom": function},
    )


@pytest.fixture(params=["inprocess", "process"])
async def custom(request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    async with _serving(_custom_api(request.param)) as gateway:
        yield gateway


def _url(gateway: Gateway, stage: str = "dev", query: str = "") -> str:
    return f"ws://127.0.0.1:{gateway.port}/{stage}" + (f"?{query}" if query else "")


async def test_lambda_custom_renders_the_event_and_the_answer(custom: Gateway) -> None:
    async with client(_url(custom)) as ws:
        await ws.send(json.dumps({"action": "echo", "text": "hello", "extra": 1}))
        answer = json.loads(await _recv(ws))["answer"]
    # The function got the request template's output, not the proxy event.
    event = answer["received"]
    assert event["text"] == "hello"
    assert event["route"] == "echo"
    assert event["eventType"] == "MESSAGE"
    assert len(event["connectionId"]) == 16
    assert "requestContext" not in event and "extra" not in event
    assert answer["function"] == "custom"


async def test_lambda_custom_selects_errors_by_their_message(custom: Gateway) -> None:
    async with client(_url(custom)) as ws:
        # errorMessage "Bad input: bad" matches /Bad input.*/.
        await ws.send(json.dumps({"action": "echo", "text": "bad"}))
        assert json.loads(await _recv(ws)) == {"refused": "Bad input: bad", "type": "ValueError"}
        # "boom" matches no pattern: $default renders Lambda's error document.
        await ws.send(json.dumps({"action": "echo", "text": "boom"}))
        error = json.loads(await _recv(ws))["answer"]
        assert error["errorMessage"] == "boom"
        assert error["errorType"] == "RuntimeError"
        assert isinstance(error["stackTrace"], list)
        # Without $default, an error no pattern takes fails as a function error does.
        await ws.send(json.dumps({"action": "strict", "text": "boom"}))
        _error_frame(await _recv(ws), "Internal server error")
        # ... and the matching one comes back as it is (no templates in that response).
        await ws.send(json.dumps({"action": "strict", "text": "bad"}))
        body = json.loads(await _recv(ws))
        assert body["errorMessage"] == "Bad input: bad"
        # Success needs $default: a response selected by nothing is an unusable answer.
        await ws.send(json.dumps({"action": "strict", "text": "fine"}))
        _error_frame(await _recv(ws), "Internal server error")


async def test_lambda_custom_passes_the_message_through(custom: Gateway) -> None:
    async with client(_url(custom)) as ws:
        await ws.send(json.dumps({"action": "plain", "text": "raw"}))
        answer = json.loads(await _recv(ws))
        assert answer["received"] == {"action": "plain", "text": "raw"}
        # A message that is not JSON cannot be a Lambda event.
        await ws.send("not json")
        _error_frame(await _recv(ws), "Internal server error")
        # A one-way route sends nothing back, whatever the function answered.
        await ws.send(json.dumps({"action": "oneway", "text": "quiet"}))
        await ws.send(json.dumps({"action": "echo", "text": "after"}))
        assert json.loads(await _recv(ws))["answer"]["received"]["text"] == "after"


async def test_lambda_custom_connect_accepts_or_refuses(custom: Gateway) -> None:
    async with client(_url(custom, query="token=good")) as ws:
        await ws.send(json.dumps({"action": "echo", "text": "in"}))
        assert json.loads(await _recv(ws))["answer"]["received"]["text"] == "in"
    with pytest.raises(InvalidStatus) as refused:
        async with client(_url(custom, query="token=bad")):
            pass
    assert refused.value.response.status_code == 502


# -- moto's server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server in its own process on a port of its choosing, for this module."""
    if importlib.util.find_spec("moto") is None:
        missing_tool("moto is not installed (pip install -e '.[test]')")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.moto_server", "-H", "127.0.0.1", "-p", "0"],
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )
    try:
        yield f"http://127.0.0.1:{_port_from(log, process)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _port_from(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30 * UNIT
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if "Running on http://127.0.0.1:" in line:
                return line.rsplit(":", 1)[1].strip().strip("/")
        assert process.poll() is None, f"moto's server exited:\n{text}"
        time.sleep(0.05)
    raise AssertionError("moto's server did not start")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str) -> str:
    """An environment whose credentials and endpoint are moto's, as a user would set them."""
    isolate_aws(monkeypatch, tmp_path / "aws")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


def _boto(service: Any, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


_FORM = "'application/x-www-form-urlencoded'"


def _sqs_integration(responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "integrationType": "AWS",
        "integrationUri": (
            f"arn:aws:apigateway:us-east-1:sqs:path/{ACCOUNT}/${{stageVariables.queue}}"
        ),
        "credentialsArn": f"arn:aws:iam::{ACCOUNT}:role/apigateway-sqs",
        "requestParameters": {"integration.request.header.Content-Type": _FORM},
        "templateSelectionExpression": "\\$default",
        "requestTemplates": {
            "$default": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
        },
        "integrationResponses": responses,
    }


_QUEUED = {"/2\\d\\d/": {"responseTemplates": {"$default": '{"queued": true}'}}}


async def test_sqs_send_message_puts_the_message_in_the_queue(aws: str) -> None:
    sqs = _boto("sqs", aws)
    queue = _unique("wsgate-queue")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    stages = {
        "dev": {"stageVariables": {"queue": queue}},
        "gone": {"stageVariables": {"queue": "gone"}},
    }
    refused = {"$default": {"responseTemplates": {"$default": '{"queued": false}'}}}
    async with _serving(
        _api(
            {
                "enqueue": _sqs_integration({**_QUEUED, **refused}),
                "strict": _sqs_integration(_QUEUED),
            },
            {
                "enqueue": _two_way("enqueue"),
                "strict": _two_way("strict"),
            },
            stages=stages,
        )
    ) as gateway:
        message = json.dumps({"action": "enqueue", "text": "to the queue & back"})
        async with client(_url(gateway)) as ws:
            await ws.send(message)
            assert json.loads(await _recv(ws)) == {"queued": True}
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in received] == [message]
        # A queue that does not exist: SQS answers 400, and the integration responses decide.
        async with client(_url(gateway, "gone")) as ws:
            await ws.send(json.dumps({"action": "enqueue", "text": "lost"}))
            assert json.loads(await _recv(ws)) == {"queued": False}
            await ws.send(json.dumps({"action": "strict", "text": "lost"}))
            _error_frame(await _recv(ws), "Internal server error")


async def test_sns_publish_reaches_a_subscribed_queue(aws: str) -> None:
    sns, sqs = _boto("sns", aws), _boto("sqs", aws)
    topic = sns.create_topic(Name=_unique("wsgate-topic"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=_unique("wsgate-subscriber"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    endpoint = queue_arn["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=endpoint, Attributes={"RawMessageDelivery": "true"}
    )
    publish = {
        "integrationType": "AWS",
        "integrationUri": "arn:aws:apigateway:us-east-1:sns:action/Publish",
        # The action's parameters in the query string, as AWS's SNS examples map them; the
        # body is empty, so SNS reads no other parameters from it.
        "requestParameters": {
            "integration.request.querystring.TopicArn": "stageVariables.topic",
            "integration.request.querystring.Message": "route.request.body.text",
            "integration.request.header.Content-Type": _FORM,
        },
        "templateSelectionExpression": "\\$default",
        "requestTemplates": {"$default": ""},
        "integrationResponses": {
            "/2\\d\\d/": {"responseTemplates": {"$default": '{"published": true}'}},
        },
    }
    async with _serving(
        _api(
            {"publish": publish},
            {"publish": _two_way("publish")},
            stages={"dev": {"stageVariables": {"topic": topic}}},
        )
    ) as gateway:
        async with client(_url(gateway)) as ws:
            await ws.send(json.dumps({"action": "publish", "text": "news for everyone"}))
            assert json.loads(await _recv(ws)) == {"published": True}
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in received] == ["news for everyone"]


_PUT_ITEM = (
    '{"TableName": "$stageVariables.table", "Item": {'
    '"id": {"S": "$context.requestId"}, "connectionId": {"S": "$context.connectionId"}, '
    '"event": {"S": "$context.eventType"}}}'
)


async def test_dynamodb_put_item_on_connect_and_on_messages(aws: str) -> None:
    dynamodb = _boto("dynamodb", aws)
    table = _unique("wsgate-connections")
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    put = {
        "integrationType": "AWS",
        "integrationUri": "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem",
        "requestTemplates": {"application/json": _PUT_ITEM},
        "integrationResponses": {
            "/2\\d\\d/": {"responseTemplates": {"$default": '{"stored": true}'}},
            "/4\\d\\d/": {
                "responseTemplates": {
                    "$default": '{"stored": false, "error": $input.json(\'$.__type\')}'
                }
            },
        },
    }
    stages = {
        "dev": {"stageVariables": {"table": table}},
        "gone": {"stageVariables": {"table": "gone"}},
    }
    async with _serving(
        _api(
            {"put": put},
            {
                "$connect": {"target": "put"},
                "store": _two_way("put"),
            },
            stages=stages,
        )
    ) as gateway:
        async with client(_url(gateway)) as ws:
            await ws.send(json.dumps({"action": "store"}))
            assert json.loads(await _recv(ws)) == {"stored": True}
        items = dynamodb.scan(TableName=table)["Items"]
        assert sorted(item["event"]["S"] for item in items) == ["CONNECT", "MESSAGE"]
        assert len({item["connectionId"]["S"] for item in items}) == 1
        # The table of stage "gone" does not exist: DynamoDB's 400 answers the handshake.
        with pytest.raises(InvalidStatus) as refused:
            async with client(_url(gateway, "gone")):
                pass
        assert refused.value.response.status_code == 400


async def test_dynamodb_errors_go_through_integration_responses(aws: str) -> None:
    put = {
        "integrationType": "AWS",
        "integrationUri": "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem",
        "requestTemplates": {"application/json": _PUT_ITEM},
        "integrationResponses": {
            "/4\\d\\d/": {
                "responseTemplates": {"$default": "{\"error\": $input.json('$.__type')}"}
            },
        },
    }
    async with _serving(
        _api(
            {"put": put},
            {"store": _two_way("put")},
            stages={"dev": {"stageVariables": {"table": "no-such-table"}}},
        )
    ) as gateway:
        async with client(_url(gateway)) as ws:
            await ws.send(json.dumps({"action": "store"}))
            error = json.loads(await _recv(ws))["error"]
        assert error.endswith("ResourceNotFoundException")


async def test_kinesis_put_record_lands_in_the_stream(aws: str) -> None:
    kinesis = _boto("kinesis", aws)
    stream = _unique("wsgate-stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    put = {
        "integrationType": "AWS",
        "integrationUri": "arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
        "templateSelectionExpression": "\\$default",
        "requestTemplates": {
            "$default": '{"StreamName": "$stageVariables.stream", '
            '"Data": "$util.base64Encode($input.body)", '
            '"PartitionKey": "$context.connectionId"}'
        },
        "integrationResponses": {
            "/2\\d\\d/": {
                "responseTemplates": {"$default": "{\"shard\": $input.json('$.ShardId')}"}
            },
        },
    }
    async with _serving(
        _api(
            {"put": put},
            {"$default": _two_way("put")},
            stages={"dev": {"stageVariables": {"stream": stream}}},
        )
    ) as gateway:
        async with client(_url(gateway)) as ws:
            await ws.send("a record, as sent")
            assert json.loads(await _recv(ws)) == {"shard": "shardId-000000000000"}
        shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator)["Records"]
        # The template base64-encoded the message; Kinesis stores (and boto3 returns) the bytes.
        assert [r["Data"] for r in records] == [b"a record, as sent"]


# -- failures ------------------------------------------------------------------------------------


async def _server(on_connect: Any) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.close()


async def _ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the gateway gives up and closes
    writer.close()


async def _assert_fails(message: str, connect_status: int, timeout_ms: int = 29000) -> None:
    """A message gets ``message``'s frame; the same integration on $connect, that status."""
    enqueue = _sqs_integration(_QUEUED) | {"timeoutInMillis": timeout_ms}
    route = _two_way("enqueue")
    stages = {"dev": {"stageVariables": {"queue": "q"}}}
    async with _serving(_api({"enqueue": enqueue}, {"enqueue": route}, stages=stages)) as gateway:
        async with client(_url(gateway)) as ws:
            await ws.send(json.dumps({"action": "enqueue"}))
            _error_frame(await _recv(ws), message)
    routes = {"$connect": {"target": "enqueue"}}
    async with _serving(_api({"enqueue": enqueue}, routes, stages=stages)) as gateway:
        with pytest.raises(InvalidStatus) as refused:
            async with client(_url(gateway)):
                pass
        assert refused.value.response.status_code == connect_status


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path / "aws")


async def test_an_endpoint_that_hangs_up_is_unreachable(
    no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = await _server(_hang_up)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", url)
    try:
        await _assert_fails("Internal server error", 502)
    finally:
        server.close()


async def test_an_endpoint_that_never_answers_times_out(
    no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = await _server(_ignore)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        await _assert_fails("Endpoint request timed out", 504, timeout_ms=300)
    finally:
        server.close()


async def test_no_credentials_fail_the_call(no_aws: None) -> None:
    # Nothing is sent anywhere: the request cannot be signed.
    await _assert_fails("Internal server error", 502)


async def test_a_service_integration_made_through_the_control_plane(
    aws: str, tmp_path: Path
) -> None:
    from tests.integration.test_controlplane import CONFIG, _client, call
    from wsgate.config.load import parse_config

    sqs = _boto("sqs", aws)
    queue = _unique("wsgate-plane")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    gateway = Gateway(parse_config(CONFIG, base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        v2 = _client(gateway)
        api = await call(
            v2,
            "create_api",
            Name="queue",
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.action",
        )
        api_id = api["ApiId"]
        made = _sqs_integration({})
        integration = await call(
            v2,
            "create_integration",
            ApiId=api_id,
            IntegrationType="AWS",
            IntegrationMethod="POST",
            IntegrationUri=made["integrationUri"],
            CredentialsArn=made["credentialsArn"],
            RequestParameters=made["requestParameters"],
            TemplateSelectionExpression=made["templateSelectionExpression"],
            RequestTemplates=made["requestTemplates"],
        )
        assert integration["PassthroughBehavior"] == "WHEN_NO_MATCH"
        await call(
            v2,
            "create_route",
            ApiId=api_id,
            RouteKey="enqueue",
            Target=f"integrations/{integration['IntegrationId']}",
        )
        await call(
            v2,
            "create_stage",
            ApiId=api_id,
            StageName="dev",
            AutoDeploy=True,
            StageVariables={"queue": queue},
        )
        message = json.dumps({"action": "enqueue", "text": "through the control plane"})
        async with client(f"{api['ApiEndpoint']}/dev") as ws:
            await ws.send(message)

            def queued() -> list[str]:
                answer = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)
                return [m["Body"] for m in answer.get("Messages", [])]

            assert await asyncio.to_thread(queued) == [message]
    finally:
        await gateway.stop(timeout=5)
