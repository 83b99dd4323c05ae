"""Functions on Lambda's Runtime API: a provided.al2023 bootstrap and Node.js handlers, in real
processes, and a gateway whose Node.js function answers through the AWS SDK for JavaScript."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import UNIT, missing_tool, ws_client
from wsgate.config.load import parse_config
from wsgate.config.model import FunctionConfig
from wsgate.errors import ConfigError, FunctionError
from wsgate.integrations.base import IntegrationRequest
from wsgate.integrations.function import FunctionIntegration
from wsgate.server.app import Gateway

FUNCTIONS = Path(__file__).parent / "functions"
PROVIDED = str(FUNCTIONS / "provided")
RIC = str(FUNCTIONS / "ric")
NODE = FUNCTIONS / "node"
TIMED_OUT = re.compile(r"^\S+Z \S+ Task timed out after 0\.50 seconds$")

MakeFunction = Callable[..., Awaitable[FunctionIntegration]]


def request(event: Any = None) -> IntegrationRequest:
    return IntegrationRequest(event or {"body": "hi"}, str(uuid.uuid4()), 10_000)


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None:
        missing_tool("node is not installed (apt install nodejs npm)")
    return found


@pytest.fixture
async def make_function() -> AsyncIterator[MakeFunction]:
    made: list[FunctionIntegration] = []

    async def make(handler: str, code_uri: str, runtime: str, **settings: Any) -> Any:
        config = FunctionConfig(handler=handler, code_uri=code_uri, runtime=runtime, **settings)
        function = FunctionIntegration(
            "chat-integration", "chat", config, region="eu-west-1", account_id="123456789012"
        )
        await function.start()
        made.append(function)
        return function

    yield make
    for function in made:
        await function.stop()


# -- provided.al2023 ---------------------------------------------------------------------------


async def test_provided_bootstrap_polls_the_runtime_api(make_function: MakeFunction) -> None:
    function = await make_function("echo", PROVIDED, "provided.al2023")
    call = request({"body": "hello"})
    first = (await function.invoke(call)).payload
    assert first["event"] == {"body": "hello"}
    headers = first["headers"]
    assert headers["Lambda-Runtime-Aws-Request-Id"] == call.invocation_id
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:chat"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == arn
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert 0 < deadline - time.time() * 1000 <= 3000
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    env = first["env"]
    assert env["_HANDLER"] == "echo"
    assert env["LAMBDA_TASK_ROOT"] == PROVIDED == first["cwd"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "chat"
    assert env["AWS_EXECUTION_ENV"] is None  # not set for OS-only runtimes, as in Lambda
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    invalid = [400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}]
    assert first["unknown"] == invalid
    assert first["late"] is None
    second = (await function.invoke(request())).payload
    assert second["pid"] == first["pid"]  # the environment stays warm
    assert second["late"] == invalid  # a second answer to an answered invocation


async def test_aws_runtime_interface_client_runs_unchanged(make_function: MakeFunction) -> None:
    # awslambdaric is what Lambda's own Python images run: it speaks the Runtime API as is.
    environment = {"RIC_PYTHON": sys.executable}
    function = await make_function("app.handler", RIC, "provided.al2023", environment=environment)
    call = request({"body": "hello"})
    result = (await function.invoke(call)).payload
    assert result["event"] == {"body": "hello"}
    assert result["requestId"] == call.invocation_id
    assert result["function"] == "chat"
    assert result["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:chat"
    assert 0 < result["remaining"] <= 3000
    failing = await make_function("app.fail", RIC, "provided.al2023", environment=environment)
    with pytest.raises(FunctionError) as caught:
        await failing.invoke(request())
    assert (caught.value.error_type, caught.value.error_message) == ("ValueError", "it broke")
    assert any("ric/app.py" in line for line in caught.value.stack)


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("fail", "Custom.Broken", "it broke"),
        ("init-fail", "Custom.InitFailure", "cannot start"),
        ("exit", "Runtime.ExitError", "Error: Runtime exited with error: exit status 3"),
    ],
)
async def test_provided_errors(
    make_function: MakeFunction, handler: str, error_type: str, message: str
) -> None:
    function = await make_function(handler, PROVIDED, "provided")
    for _ in range(2):  # the environment is replaced and fails the same way again
        with pytest.raises(FunctionError) as caught:
            await function.invoke(request())
        assert caught.value.error_type == error_type
        assert caught.value.error_message.endswith(message)


async def test_provided_timeout_kills_the_environment(make_function: MakeFunction) -> None:
    function = await make_function("sleep", PROVIDED, "provided.al2", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == "Sandbox.Timedout"
    assert TIMED_OUT.match(caught.value.error_message)
    assert time.monotonic() - started < 5 * UNIT


# -- Node.js -----------------------------------------------------------------------------------


async def test_node_commonjs_async_handler(node: str, make_function: MakeFunction) -> None:
    function = await make_function("app.echo", str(NODE / "cjs"), "nodejs20.x", timeout=5)
    call = request({"body": "hello"})
    payload = (await function.invoke(call)).payload
    assert payload["event"] == {"body": "hello"}
    context = payload["context"]
    remaining = context.pop("remaining")
    stream = context.pop("logStreamName")
    assert context == {
        "awsRequestId": call.invocation_id,
        "functionName": "chat",
        "functionVersion": "$LATEST",
        "invokedFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:chat",
        "memoryLimitInMB": "128",
        "logGroupName": "/aws/lambda/chat",
        "callbackWaitsForEmptyEventLoop": True,
    }
    assert 4000 < remaining <= 5000
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", stream)
    assert payload["env"] == {
        "_HANDLER": "app.echo",
        "LAMBDA_TASK_ROOT": str(NODE / "cjs"),
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x",
        "AWS_LAMBDA_FUNCTION_NAME": "chat",
        "AWS_REGION": "eu-west-1",
        "TZ": ":UTC",
    }
    again = (await function.invoke(request())).payload
    assert again["pid"] == payload["pid"]


@pytest.mark.parametrize(
    ("code", "handler", "body"),
    [
        ("cjs", "app.reply", "cjs: hi"),
        ("cjs", "app.nested.deeper.handler", "nested"),
        ("cjs", "app.legacy", "succeed"),
        ("cjs", "app.callback", "callback"),
        ("esm", "app.handler", "esm app.mjs: hi"),
        ("typemodule", "index.handler", "type module: undefined"),
    ],
)
async def test_node_handler_styles(
    node: str, make_function: MakeFunction, code: str, handler: str, body: str
) -> None:
    function = await make_function(handler, str(NODE / code), "nodejs22.x")
    payload = (await function.invoke(request())).payload
    assert payload == {"statusCode": 200, "body": body}


async def test_node_callback_waits_for_the_event_loop_unless_told(
    node: str, make_function: MakeFunction
) -> None:
    function = await make_function("app.noWait", str(NODE / "cjs"), "nodejs20.x", timeout=30)
    started = time.monotonic()
    assert (await function.invoke(request())).payload["body"] == "no wait"
    assert time.monotonic() - started < 10 * UNIT  # the pending 60 s timer did not hold it


async def test_node_remaining_time_and_timeout(node: str, make_function: MakeFunction) -> None:
    cjs = str(NODE / "cjs")
    remaining = await make_function("app.remaining", cjs, "nodejs20.x", timeout=2)
    payload = (await remaining.invoke(request())).payload
    assert 1500 < payload["first"] <= 2000
    assert payload["first"] - payload["second"] >= 150
    hung = await make_function("app.hang", cjs, "nodejs20.x", timeout=0.5)
    with pytest.raises(FunctionError) as caught:
        await hung.invoke(request())
    assert caught.value.error_type == "Sandbox.Timedout"
    assert TIMED_OUT.match(caught.value.error_message)
    # The killed environment is replaced: the next call is served by a new one.
    with pytest.raises(FunctionError, match=r"Sandbox\.Timedout"):
        await hung.invoke(request())


@pytest.mark.parametrize(
    ("code", "handler", "error_type", "message"),
    [
        ("cjs", "app.fail", "ChatError", "no such room"),
        ("cjs", "app.callbackError", "TypeError", "bad input"),
        (
            "cjs",
            "app.missing",
            "Runtime.HandlerNotFound",
            "app.missing is undefined or not exported",
        ),
        (
            "cjs",
            "app.notAFunction",
            "Runtime.HandlerNotFound",
            "app.notAFunction is not a function",
        ),
        ("cjs", "nope.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'nope'"),
        ("broken", "syntax.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected"),
    ],
)
async def test_node_errors(
    node: str, make_function: MakeFunction, code: str, handler: str, error_type: str, message: str
) -> None:
    function = await make_function(handler, str(NODE / code), "nodejs20.x")
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == error_type
    assert caught.value.error_message.startswith(message)
    if not error_type.startswith("Runtime."):
        assert caught.value.stack[0] == f"{error_type}: {message}"


async def test_node_console_goes_to_stderr_with_the_request_id(
    node: str, make_function: MakeFunction, capfd: pytest.CaptureFixture[str]
) -> None:
    function = await make_function("app.log", str(NODE / "cjs"), "nodejs20.x")
    call = request()
    assert (await function.invoke(call)).payload is None
    out, err = capfd.readouterr()
    assert re.search(rf"Z\t{call.invocation_id}\tINFO\thello from chat\n", err)
    assert "hello from" not in out


# -- a gateway with a Node.js function using the AWS SDK ----------------------------------------

_CHAT = """
name: nodechat
routeSelectionExpression: $request.body.action
stages: {dev: {}}
routes:
  send: {target: send}
  sendcjs: {target: sendcjs}
  hello: {target: hello, routeResponseSelectionExpression: $default}
integrations:
  send: {integrationType: AWS_PROXY, integrationUri: send}
  sendcjs: {integrationType: AWS_PROXY, integrationUri: sendcjs}
  hello: {integrationType: AWS_PROXY, integrationUri: hello}
functions:
  send:
    runtime: nodejs20.x
    handler: app.handler
    codeUri: chat
    timeout: 20
    environment: {CALLBACK_SCHEME: http}
  sendcjs:
    runtime: nodejs20.x
    handler: cjs.handler
    codeUri: chat
    timeout: 20
    environment: {CALLBACK_SCHEME: http}
  hello: {runtime: nodejs24.x, handler: app.reply, codeUri: cjs}
"""


@pytest.mark.timeout(600)  # the first run on a machine installs the SDK from npm
async def test_node_function_posts_back_with_the_sdk(node: str) -> None:
    config = parse_config(_CHAT, base_dir=NODE)
    gateway = Gateway(config)
    await gateway.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as client:
            await client.send(json.dumps({"action": "hello", "body": "x"}))
            reply = await asyncio.wait_for(client.recv(), 10 * UNIT)
            assert reply == 'cjs: {"action": "hello", "body": "x"}'
            await client.send(json.dumps({"action": "send", "data": "hi"}))
            assert await asyncio.wait_for(client.recv(), 20 * UNIT) == "node says: hi"
            await client.send(json.dumps({"action": "sendcjs"}))
            assert await asyncio.wait_for(client.recv(), 20 * UNIT) == "cjs says hi"
    finally:
        await gateway.stop(timeout=5)


async def test_missing_node_is_a_clear_start_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    config = parse_config(_CHAT, base_dir=NODE)
    gateway = Gateway(config)
    with pytest.raises(ConfigError) as caught:
        await gateway.start(port=0)
    await gateway.stop(timeout=1)
    text = str(caught.value)
    for name in ("send", "sendcjs", "hello"):
        assert f"functions.{name}.runtime" in text
    assert "needs Node.js: no `node` on PATH" in text
