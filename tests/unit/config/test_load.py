"""Loading a config file: every problem reported together, with its place."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from wsgate.config.load import (
    default_api_id,
    function_name_from_uri,
    load_config,
    parse_config,
)
from wsgate.config.model import ApiConfig
from wsgate.errors import ConfigError, ConfigIssue

_BASE = {
    "name": "chat",
    "routeSelectionExpression": "$request.body.action",
    "stages": {"prod": {}},
    "routes": {
        "$connect": {"target": "integrations/chat"},
        "$disconnect": {"target": "chat"},
        "$default": {"target": "chat"},
        "sendmessage": {
            "target": "chat",
            "routeResponseSelectionExpression": "$default",
            "routeResponses": {"$default": {}},
        },
    },
    "integrations": {"chat": {"integrationType": "AWS_PROXY", "integrationUri": "chat"}},
    "functions": {"chat": {"handler": "handlers.handler"}},
}

_VALID_YAML = """\
name: chat
description: a chat API
routeSelectionExpression: $request.body.action
stages:
  prod:
    stageVariables:
      fn: chat
    limits:
      idleTimeoutSeconds: 300
  dev:
    awsStrict: true
routes:
  $connect:
    target: integrations/chat
  $default:
    target: chat
  sendmessage:
    target: chat
    routeResponseSelectionExpression: $default
integrations:
  chat:
    integrationType: AWS_PROXY
    integrationUri: >-
      arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:chat/invocations
    timeoutInMillis: 5000
functions:
  chat:
    handler: handlers.handler
    environment:
      Variables:
        TABLE: connections
        DEBUG: true
        RETRIES: 3
"""


@pytest.fixture
def code_dir(tmp_path):
    (tmp_path / "handlers.py").write_text("def handler(event, context):\n    return None\n")
    return tmp_path


def _data(**changes):
    data = copy.deepcopy(_BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target: Any = data
        for part in parents:
            target = target.setdefault(part, {})
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


_DELETE = object()


def _dump(data):
    return yaml.safe_dump(data, sort_keys=False)


def _issues(data, base_dir):
    with pytest.raises(ConfigError) as caught:
        parse_config(_dump(data), base_dir=base_dir)
    return [str(issue) for issue in caught.value.issues]


# --- valid files ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_load_valid_file(code_dir, suffix):
    data = yaml.safe_load(_VALID_YAML)
    text = json.dumps(data, indent=2) if suffix == ".json" else _VALID_YAML
    path = code_dir / f"api{suffix}"
    path.write_text(text, encoding="utf-8")

    config = load_config(path)

    assert isinstance(config, ApiConfig)
    assert config.name == "chat"
    assert config.description == "a chat API"
    assert config.api_id == default_api_id("chat")
    assert set(config.stages) == {"prod", "dev"}
    assert config.stages["prod"].stage_variables == {"fn": "chat"}
    assert config.stages["prod"].limits.idle_timeout_seconds == 300
    assert config.stages["dev"].aws_strict is True
    assert set(config.routes) == {"$connect", "$default", "sendmessage"}
    assert config.routes["$connect"].integration_name == "chat"
    assert config.routes["sendmessage"].two_way is True
    assert config.routes["$default"].two_way is False
    assert config.integrations["chat"].timeout_in_millis == 5000
    function = config.functions["chat"]
    assert function.code_uri == str(code_dir.resolve())
    assert function.environment == {"TABLE": "connections", "DEBUG": "true", "RETRIES": "3"}


def test_load_accepts_a_string_path(code_dir):
    path = code_dir / "api.yaml"
    path.write_text(_VALID_YAML)
    assert load_config(str(path)) == load_config(path)


def test_relative_code_uri_resolves_against_the_config_folder(tmp_path):
    config_dir = tmp_path / "config"
    code = tmp_path / "src" / "app"
    code.mkdir(parents=True)
    config_dir.mkdir()
    (code / "handlers.py").write_text("")
    (config_dir / "api.yaml").write_text(
        _dump(_data(functions__chat={"handler": "handlers.handler", "codeUri": "../src/app"}))
    )
    config = load_config(config_dir / "api.yaml")
    assert config.functions["chat"].code_uri == str(code.resolve())


@pytest.mark.parametrize(
    ("files", "handler"),
    [
        (["handlers.py"], "handlers.handler"),
        (["pkg/__init__.py"], "pkg.handler"),
        (["pkg/__init__.py", "pkg/mod.py"], "pkg.mod.handler"),
        (["pkg/mod/__init__.py"], "pkg.mod.handler"),
    ],
)
def test_handler_module_forms(tmp_path, files, handler):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    data = _data(functions__chat={"handler": handler})
    config = parse_config(_dump(data), base_dir=tmp_path)
    assert config.functions["chat"].handler == handler


def test_absolute_code_uri(tmp_path, code_dir):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "h.py").write_text("")
    data = _data(functions__chat={"handler": "h.handler", "codeUri": str(elsewhere)})
    config = parse_config(_dump(data), base_dir=code_dir)
    assert config.functions["chat"].code_uri == str(elsewhere.resolve())


def test_a_code_uri_holding_nul_is_a_config_error(code_dir):
    for function in ({"handler": "h.handler"}, {"handler": "bootstrap", "runtime": "provided"}):
        data = _data(functions__chat={**function, "codeUri": "a\0b"})
        with pytest.raises(
            ConfigError, match=r"functions\.chat\.codeUri: a path cannot hold a NUL"
        ):
            parse_config(_dump(data), base_dir=code_dir)


def test_explicit_api_id_is_kept(code_dir):
    config = parse_config(_dump(_data(apiId="myapi12345")), base_dir=code_dir)
    assert config.api_id == "myapi12345"


def test_minimal_config_without_routes(tmp_path):
    data = {"name": "x", "routeSelectionExpression": "action", "stages": {"s": {}}}
    config = parse_config(json.dumps(data), base_dir=tmp_path)
    assert config.routes == {}
    assert config.api_id == default_api_id("x")


@pytest.mark.parametrize(
    "uri",
    [
        "chat",
        "arn:aws:lambda:us-east-1:123456789012:function:chat",
        "arn:aws:lambda:us-east-1:123456789012:function:chat:live",
        "${stageVariables.fn}",
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}/invocations",
    ],
)
def test_integration_uri_forms(code_dir, uri):
    data = _data(
        integrations__chat__integrationUri=uri,
        stages={
            "prod": {"stageVariables": {"fn": "chat"}},
            "dev": {"stageVariables": {"fn": "chat"}},
        },
    )
    config = parse_config(_dump(data), base_dir=code_dir)
    assert config.integrations["chat"].integration_uri == uri


_HTTP_YAML = """\
name: web
routeSelectionExpression: $request.body.action
stages:
  dev:
    stageVariables: {backend: "127.0.0.1:9000", path: items}
routes:
  $connect: {target: connect}
  $default: {target: proxy, routeResponseSelectionExpression: $default}
  send: {target: send, routeResponseSelectionExpression: $default}
  mocked: {target: mocked, routeResponseSelectionExpression: $default}
  app: {target: app}
integrations:
  connect:
    integrationType: MOCK
    requestTemplates:
      $default: '{"statusCode": 200}'
  proxy:
    integrationType: HTTP_PROXY
    integrationUri: http://${stageVariables.backend}/${stageVariables.path}/{id}
    integrationMethod: put
    timeoutInMillis: 100
    contentHandlingStrategy: CONVERT_TO_BINARY
    requestParameters:
      integration.request.header.connectionId: context.connectionId
      integration.request.path.id: route.request.body.id
  send:
    integrationType: HTTP
    integrationUri: https://backend.example/send
    templateSelectionExpression: \\$default
    passthroughBehavior: NEVER
    requestTemplates:
      $default: '{"id": "$context.connectionId", "data": $input.json(''$.data'')}'
    integrationResponses:
      /2\\d\\d/:
        templateSelectionExpression: ${integration.response.statuscode}
        responseTemplates: {"200": ok, $default: '$input.body'}
        contentHandlingStrategy: CONVERT_TO_TEXT
      $default:
        responseTemplates: {$default: failed}
  mocked:
    integrationType: MOCK
    requestTemplates: {$default: '{"statusCode": 404}'}
    integrationResponses:
      /4\\d\\d/: {responseTemplates: {$default: missing}}
  app:
    integrationType: HTTP_PROXY
    integrationUri: asgi:web.app:application/messages
"""


def test_load_http_and_mock_integrations(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text(_HTTP_YAML, encoding="utf-8")

    config = load_config(path)

    proxy = config.integrations["proxy"]
    assert proxy.integration_type == "HTTP_PROXY"
    assert proxy.integration_uri == "http://${stageVariables.backend}/${stageVariables.path}/{id}"
    assert proxy.integration_method == "put"
    assert proxy.timeout_in_millis == 100
    assert proxy.content_handling_strategy == "CONVERT_TO_BINARY"
    assert proxy.passthrough_behavior == "WHEN_NO_MATCH"
    assert proxy.request_parameters == {
        "integration.request.header.connectionId": "context.connectionId",
        "integration.request.path.id": "route.request.body.id",
    }
    send = config.integrations["send"]
    assert send.integration_method == "POST"
    assert send.template_selection_expression == "\\$default"
    assert send.passthrough_behavior == "NEVER"
    assert list(send.request_templates) == ["$default"]
    assert list(send.integration_responses) == ["/2\\d\\d/", "$default"]
    ok = send.integration_responses["/2\\d\\d/"]
    assert ok.template_selection_expression == "${integration.response.statuscode}"
    assert ok.response_templates == {"200": "ok", "$default": "$input.body"}
    assert ok.content_handling_strategy == "CONVERT_TO_TEXT"
    assert config.integrations["connect"].integration_uri is None
    assert config.integrations["app"].integration_uri == "asgi:web.app:application/messages"
    assert config.routes["$default"].two_way is True
    assert config.routes["app"].two_way is False


def test_http_uri_with_a_stage_variable_the_stage_lacks(code_dir):
    data = _data(
        stages={"prod": {"stageVariables": {"backend": "127.0.0.1:9000"}}, "dev": {}},
        integrations__chat={
            "integrationType": "HTTP_PROXY",
            "integrationUri": "http://${stageVariables.backend}/x",
        },
    )
    assert _issues(data, code_dir) == [
        "integrations.chat.integrationUri: stage dev: stage variable 'backend' is not set"
    ]


def test_model_and_integration_checks_are_reported_together(code_dir):
    data = _data(
        integrations__web={
            "integrationType": "HTTP",
            "integrationUri": "ftp://x",
            "passthroughBehavior": "SOMETIMES",
            "requestParameters": {"integration.request.header.A": "bogus"},
            "integrationResponses": {"2xx": {}},
        },
        routes__send={"target": "web"},
    )
    places = [issue.split(":")[0] for issue in _issues(data, code_dir)]
    assert places == [
        "integrations.web.passthroughBehavior",
        "integrations.web.integrationUri",
        "integrations.web.requestParameters.integration.request.header.A",
        "integrations.web.integrationResponses.2xx",
    ]


# --- errors, each with its place -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "issue"),
    [
        (
            {"routes__sendmessage__target": "chatfn"},
            "routes.sendmessage.target: no integration named 'chatfn'",
        ),
        (
            {"routes__sendmessage__target": "integrations/chatfn"},
            "routes.sendmessage.target: no integration named 'chatfn'",
        ),
        ({"bogus": 1}, "bogus: unknown field"),
        ({"routes__sendmessage__bogus": 1}, "routes.sendmessage.bogus: unknown field"),
        ({"stages__prod__limits": {"frameSize": 1}}, "stages.prod.limits.frameSize: unknown field"),
        (
            {"routes__$foo": {"target": "chat"}},
            "routes.$foo: route keys starting with $ are reserved "
            "($connect, $default, $disconnect)",
        ),
        (
            {"routes__$Default": {"target": "chat"}},
            "routes.$Default: route keys starting with $ are reserved "
            "($connect, $default, $disconnect)",
        ),
        ({"routes__": {"target": "chat"}}, "routes.: route key must not be empty"),
        (
            {"routes__sendmessage__routeResponseSelectionExpression": "$request.body.x"},
            "routes.sendmessage.routeResponseSelectionExpression: '$request.body.x' is not "
            "supported; WebSocket APIs support only '$default'",
        ),
        (
            {"routes__sendmessage__routeResponseSelectionExpression": "\\$default"},
            "routes.sendmessage.routeResponseSelectionExpression: write '$default' without the "
            "backslash: WebSocket APIs support only '$default' here, as is",
        ),
        (
            {"routeSelectionExpression": "$default"},
            "routeSelectionExpression: '$default' is read as a variable; write '\\$default' for "
            "the literal $default key",
        ),
        (
            {"routes__sendmessage__routeResponses": {"ok": {}}},
            "routes.sendmessage.routeResponses.ok: only the '$default' route response key is "
            "supported",
        ),
        (
            {"routeSelectionExpression": "$request.header.x-api-key"},
            "routeSelectionExpression: unsupported variable $request.header.x-api-key; "
            "expected $request.body.*",
        ),
        (
            {"routeSelectionExpression": "${request.body.items[*]}"},
            "routeSelectionExpression: unsupported JSONPath syntax at '[*]'",
        ),
        (
            {"integrations__chat__integrationUri": "nofn"},
            "integrations.chat.integrationUri: no function named 'nofn'",
        ),
        (
            {"integrations__chat__integrationUri": "arn:aws:lambda:us-east-1:1:function:nofn:v2"},
            "integrations.chat.integrationUri: no function named 'nofn'",
        ),
        (
            {"integrations__chat__integrationUri": _DELETE},
            "integrations.chat.integrationUri: an AWS_PROXY integration needs a function",
        ),
        (
            {"integrations__chat__integrationUri": ""},
            "integrations.chat.integrationUri: an AWS_PROXY integration needs a function",
        ),
        (
            {
                "integrations__chat__integrationType": "AWS",
                "integrations__chat__integrationUri": "arn:aws:apigateway:us-east-1:lambda:"
                "path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:nofn/invocations",
            },
            "integrations.chat.integrationUri: no function named 'nofn'",
        ),
        (
            {
                "integrations__chat__integrationType": "AWS",
                "integrations__chat__integrationUri": (
                    "arn:aws:apigateway:us-east-1:nosuch:action/Do"
                ),
            },
            "integrations.chat.integrationUri: unknown service 'nosuch'; wsgate calls dynamodb, "
            "email, events, firehose, kinesis, kms, logs, monitoring, s3, secretsmanager, sns, "
            "sqs, ssm, states, sts",
        ),
        (
            {"integrations__chat__integrationType": "HTTP"},
            "integrations.chat.integrationUri: 'chat' is neither an http(s):// URL nor "
            "asgi:module:attribute[/path]",
        ),
        (
            {"integrations__chat__integrationType": "HTTP_PROXY"},
            "integrations.chat.integrationUri: 'chat' is neither an http(s):// URL nor "
            "asgi:module:attribute[/path]",
        ),
        (
            {
                "integrations__chat__integrationType": "HTTP",
                "integrations__chat__integrationUri": _DELETE,
            },
            "integrations.chat.integrationUri: an HTTP integration needs a URL",
        ),
        (
            {
                "integrations__chat__integrationType": "HTTP_PROXY",
                "integrations__chat__integrationUri": "",
            },
            "integrations.chat.integrationUri: an HTTP_PROXY integration needs a URL",
        ),
        (
            {
                "integrations__chat__integrationType": "HTTP_PROXY",
                "integrations__chat__integrationUri": "http://backend/x",
                "integrations__chat__requestTemplates": {"$default": "x"},
            },
            "integrations.chat.requestTemplates: proxy integrations take no templates",
        ),
        (
            {
                "integrations__chat__integrationType": "HTTP",
                "integrations__chat__integrationUri": "http://backend/x",
                "integrations__chat__integrationMethod": "FETCH",
            },
            "integrations.chat.integrationMethod: must be one of DELETE, GET, HEAD, OPTIONS, "
            "PATCH, POST, PUT",
        ),
        (
            {
                "integrations__chat__integrationType": "MOCK",
                "integrations__chat__requestTemplates": {"$default": "#if($x)"},
            },
            "integrations.chat.requestTemplates.$default: line 1, column 8: expected #else, "
            "#elseif or #end in if directive, got: ...",
        ),
        (
            {
                "integrations__chat__integrationType": "HTTP",
                "integrations__chat__integrationUri": "http://backend/x",
                "integrations__chat__requestParameters": {
                    "integration.request.header.connectionId": "connectionId"
                },
            },
            "integrations.chat.requestParameters.integration.request.header.connectionId: "
            "unknown source 'connectionId'; expected route.request.{header,multivalueheader,"
            "querystring,multivaluequerystring}.<name>, route.request.body.<JSONPath>, "
            "context.<name>, stageVariables.<name> or a 'static' value",
        ),
        (
            {
                "integrations__chat__integrationType": "HTTP",
                "integrations__chat__integrationUri": "http://backend/x",
                "integrations__chat__passthroughBehavior": "SOMETIMES",
            },
            "integrations.chat.passthroughBehavior: input should be 'WHEN_NO_MATCH', "
            "'WHEN_NO_TEMPLATES' or 'NEVER'",
        ),
        (
            {"integrations__chat__contentHandlingStrategy": "CONVERT"},
            "integrations.chat.contentHandlingStrategy: input should be 'CONVERT_TO_TEXT' or "
            "'CONVERT_TO_BINARY'",
        ),
        (
            {
                "integrations__chat__integrationType": "MOCK",
                "integrations__chat__integrationResponses": {
                    "$default": {"contentHandlingStrategy": "TEXT"}
                },
            },
            "integrations.chat.integrationResponses.$default.contentHandlingStrategy: input "
            "should be 'CONVERT_TO_TEXT' or 'CONVERT_TO_BINARY'",
        ),
        (
            {
                "integrations__chat__integrationType": "MOCK",
                "integrations__chat__integrationResponses": {"$default": {"templates": {}}},
            },
            "integrations.chat.integrationResponses.$default.templates: unknown field",
        ),
        (
            {"integrations__chat__integrationMethod": 5},
            "integrations.chat.integrationMethod: input should be a valid string",
        ),
        (
            {"integrations__chat__integrationType": "LAMBDA"},
            "integrations.chat.integrationType: input should be 'AWS_PROXY', 'AWS', "
            "'HTTP_PROXY', 'HTTP' or 'MOCK'",
        ),
        (
            {"integrations__chat__timeoutInMillis": 49},
            "integrations.chat.timeoutInMillis: input should be greater than or equal to 50",
        ),
        (
            {"integrations__chat__timeoutInMillis": 29001},
            "integrations.chat.timeoutInMillis: input should be less than or equal to 29000",
        ),
        (
            {"functions__chat__handler": "handler"},
            "functions.chat.handler: handler 'handler' must look like 'module.function'",
        ),
        (
            {"stages__prod__stageVariables": {"bad-name": "x"}},
            "stages.prod.stageVariables: stage variable name 'bad-name' must be "
            "letters, digits or _",
        ),
        (
            {"stages__prod__stageVariables": {"fn": "a b"}},
            "stages.prod.stageVariables: stage variable 'fn': value must be 1-2048 characters "
            "from [A-Za-z0-9-._~:/?#&=,]",
        ),
        (
            {"stages__prod__stageVariables": {"fn": ""}},
            "stages.prod.stageVariables: stage variable 'fn': value must be 1-2048 characters "
            "from [A-Za-z0-9-._~:/?#&=,]",
        ),
        (
            {"stages__prod__stageVariables": {"fn": "x" * 2049}},
            "stages.prod.stageVariables: stage variable 'fn': value must be 1-2048 characters "
            "from [A-Za-z0-9-._~:/?#&=,]",
        ),
        (
            {"stages__prod__stageVariables": {"fn": "chat\n"}},
            "stages.prod.stageVariables: stage variable 'fn': value must be 1-2048 characters "
            "from [A-Za-z0-9-._~:/?#&=,]",
        ),
        (
            {"stages__prod__stageVariables": {"fn\n": "chat"}},
            "stages.prod.stageVariables: stage variable name 'fn\\n' must be letters, digits or _",
        ),
        # A bad name with a bad value: both problems, in one message.
        (
            {"stages__prod__stageVariables": {"bad-name": "a b"}},
            "stages.prod.stageVariables: stage variable name 'bad-name' must be "
            "letters, digits or _; stage variable 'bad-name': value must be 1-2048 characters "
            "from [A-Za-z0-9-._~:/?#&=,]",
        ),
        (
            {"stages__prod__limits": {"messageSizeBytes": 1000}},
            "stages.prod: limits.frameSizeBytes must not exceed limits.messageSizeBytes",
        ),
        (
            {"stages__prod__limits": {"frameSizeBytes": 131073}},
            "stages.prod: limits.frameSizeBytes must not exceed limits.messageSizeBytes",
        ),
        (
            {"stages__prod__limits": {"frameSizeBytes": 200, "messageSizeBytes": 100}},
            "stages.prod: limits.frameSizeBytes must not exceed limits.messageSizeBytes",
        ),
        (
            {"stages__prod": {"awsStrict": True, "limits": {"frameSizeBytes": 65536}}},
            "stages.prod: limits.frameSizeBytes cannot exceed AWS's 32768 when awsStrict is true",
        ),
        (
            {"stages__prod": {"awsStrict": True, "limits": {"messageSizeBytes": 262144}}},
            "stages.prod: limits.messageSizeBytes cannot exceed AWS's 131072 "
            "when awsStrict is true",
        ),
        (
            {"stages__prod": {"awsStrict": True, "limits": {"idleTimeoutSeconds": 600.5}}},
            "stages.prod: limits.idleTimeoutSeconds cannot exceed AWS's 600 when awsStrict is true",
        ),
        (
            {"stages__prod": {"awsStrict": True, "limits": {"maxConnectionSeconds": 7201}}},
            "stages.prod: limits.maxConnectionSeconds cannot exceed AWS's 7200 "
            "when awsStrict is true",
        ),
        # Frame above message and above AWS's quota: both problems, in one message.
        (
            {
                "stages__prod": {
                    "awsStrict": True,
                    "limits": {"frameSizeBytes": 65536, "messageSizeBytes": 32768},
                }
            },
            "stages.prod: limits.frameSizeBytes must not exceed limits.messageSizeBytes; "
            "limits.frameSizeBytes cannot exceed AWS's 32768 when awsStrict is true",
        ),
        (
            {"stages__bad stage": {}},
            "stages: stage name 'bad stage' must be 1-128 letters, digits, - or _",
        ),
        (
            {"stages": {"prod\n": {}}},
            "stages: stage name 'prod\\n' must be 1-128 letters, digits, - or _",
        ),
        ({"stages": {}}, "stages: dictionary should have at least 1 item after validation, not 0"),
        ({"name": _DELETE}, "name: field required"),
        ({"routeSelectionExpression": _DELETE}, "routeSelectionExpression: field required"),
        ({"routes": "sendmessage"}, "routes: input should be a valid dictionary"),
        (
            {"routes__sendmessage": ["chat"]},
            "routes.sendmessage: input should be a valid dictionary or instance of RouteConfig",
        ),
        (
            {"integrations__chat": "AWS_PROXY"},
            "integrations.chat: input should be a valid dictionary or instance of "
            "IntegrationConfig",
        ),
        ({"functions__chat__codeUri": 5}, "functions.chat.codeUri: input should be a valid string"),
        ({"functions__chat__handler": 5}, "functions.chat.handler: input should be a valid string"),
        (
            {"stages__prod": "x"},
            "stages.prod: input should be a valid dictionary or instance of StageConfig",
        ),
    ],
)
def test_config_errors(code_dir, changes, issue):
    issues = _issues(_data(**changes), code_dir)
    assert issues == [issue]


# --- templates YAML did not read as text -------------------------------------------------------

_MOCK = {"integrationType": "MOCK"}
_NOT_TEXT = "not text; quote it or use a block scalar (|)"


@pytest.mark.parametrize(
    ("yaml_value", "message"),
    [
        (
            '{"statusCode": 200}',
            "the template was read as a YAML mapping, not text; quote it "
            "('{\"statusCode\": 200}') or use a block scalar (|)",
        ),
        (
            "\n        statusCode: 200\n        body: it's",
            "the template was read as a YAML mapping, not text; quote it "
            '(\'{"statusCode": 200, "body": "it\'\'s"}\') or use a block scalar (|)',
        ),
        (
            '{"message": "é", "when": 2024-01-02}',
            "the template was read as a YAML mapping, not text; quote it "
            '(\'{"message": "é", "when": "2024-01-02"}\') or use a block scalar (|)',
        ),
        (
            "[1, 2]",
            "the template was read as a YAML list, not text; quote it ('[1, 2]') "
            "or use a block scalar (|)",
        ),
        (
            '{"message": "' + "x" * 45 + '"}',
            "the template was read as a YAML mapping, not text; quote it "
            '(\'{"message": "' + "x" * 45 + "\"}') or use a block scalar (|)",
        ),
        (
            '{"message": "' + "x" * 46 + '"}',
            f"the template was read as a YAML mapping, {_NOT_TEXT}",
        ),
        ("200", f"the template was read as a YAML number, {_NOT_TEXT}"),
        ("1.5", f"the template was read as a YAML number, {_NOT_TEXT}"),
        ("true", f"the template was read as a YAML boolean, {_NOT_TEXT}"),
        ("2024-01-02", f"the template was read as a YAML date, {_NOT_TEXT}"),
        ("", "the template is empty (YAML null); write '' for an empty template"),
        ("~", "the template is empty (YAML null); write '' for an empty template"),
    ],
)
def test_request_template_that_is_not_text(tmp_path, yaml_value, message):
    text = (
        "name: chat\nrouteSelectionExpression: $request.body.action\nstages: {prod: {}}\n"
        "integrations:\n  m:\n    integrationType: MOCK\n    requestTemplates:\n"
        f"      $default: {yaml_value}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=tmp_path)
    assert [str(issue) for issue in caught.value.issues] == [
        f"integrations.m.requestTemplates.$default: {message}"
    ]


@pytest.mark.parametrize(
    ("integration", "issue"),
    [
        (
            {**_MOCK, "integrationResponses": {"$default": {"responseTemplates": {"a": {"x": 1}}}}},
            "integrations.m.integrationResponses.$default.responseTemplates.a: the template was "
            "read as a YAML mapping, not text; quote it ('{\"x\": 1}') or use a block scalar (|)",
        ),
        (
            {**_MOCK, "integrationResponses": {"$default": {"responseTemplates": {"a": None}}}},
            "integrations.m.integrationResponses.$default.responseTemplates.a: the template is "
            "empty (YAML null); write '' for an empty template",
        ),
        # Not a template value: the usual messages.
        (
            {**_MOCK, "requestTemplates": ["{}"]},
            "integrations.m.requestTemplates: input should be a valid dictionary",
        ),
        (
            {**_MOCK, "integrationResponses": {"$default": {"templateSelectionExpression": 5}}},
            "integrations.m.integrationResponses.$default.templateSelectionExpression: input "
            "should be a valid string",
        ),
    ],
)
def test_response_templates_and_lookalikes(tmp_path, integration, issue):
    data = {**_data(), "routes": {}, "functions": {}, "integrations": {"m": integration}}
    assert _issues(data, tmp_path) == [issue]


def test_an_integration_named_like_a_template_field(tmp_path):
    data = {
        **_data(),
        "routes": {},
        "functions": {},
        "integrations": {"requestTemplates": {**_MOCK, "description": 5}},
    }
    assert _issues(data, tmp_path) == [
        "integrations.requestTemplates.description: input should be a valid string"
    ]


def test_metrics_need_the_admin_listener(code_dir):
    assert _issues(_data(server={"metrics": True}), code_dir) == [
        "server.metrics: metrics are served on the admin listener: set adminPort"
    ]


def test_missing_handler_module(code_dir):
    issues = _issues(_data(functions__chat={"handler": "nothere.handler"}), code_dir)
    assert issues == [
        f"functions.chat.handler: module 'nothere' not found in {str(code_dir.resolve())!r}"
    ]


def test_missing_package_module(code_dir):
    (code_dir / "pkg").mkdir()
    issues = _issues(_data(functions__chat={"handler": "pkg.mod.handler"}), code_dir)
    assert issues == [
        f"functions.chat.handler: module 'pkg.mod' not found in {str(code_dir.resolve())!r}"
    ]


def test_missing_code_uri_folder(code_dir):
    issues = _issues(
        _data(functions__chat={"handler": "handlers.handler", "codeUri": "src"}), code_dir
    )
    missing = (code_dir / "src").resolve()
    assert issues == [f"functions.chat.codeUri: folder {str(missing)!r} does not exist"]


def test_code_uri_that_is_a_file(code_dir):
    issues = _issues(
        _data(functions__chat={"handler": "handlers.handler", "codeUri": "handlers.py"}), code_dir
    )
    not_a_folder = str((code_dir / "handlers.py").resolve())
    assert issues == [f"functions.chat.codeUri: folder {not_a_folder!r} does not exist"]


@pytest.mark.parametrize(
    ("stages", "uri", "issues"),
    [
        (
            {"prod": {}},
            "${stageVariables.fn}",
            ["integrations.chat.integrationUri: stage prod: stage variable 'fn' is not set"],
        ),
        (
            {"prod": {"stageVariables": {"fn": "chat"}}, "dev": {}},
            "arn:aws:lambda:us-east-1:1:function:${stageVariables.fn}",
            ["integrations.chat.integrationUri: stage dev: stage variable 'fn' is not set"],
        ),
        (
            {
                "prod": {"stageVariables": {"fn": "chat"}},
                "dev": {"stageVariables": {"fn": "other"}},
            },
            "${stageVariables.fn}",
            ["integrations.chat.integrationUri: no function named 'other' (in stage dev)"],
        ),
        (
            {"prod": {"stageVariables": {"fn": "x"}}, "dev": {"stageVariables": {"fn": "y"}}},
            "${stageVariables.fn}",
            [
                "integrations.chat.integrationUri: no function named 'x' (in stage prod)",
                "integrations.chat.integrationUri: no function named 'y' (in stage dev)",
            ],
        ),
        # The same problem in every stage is reported once.
        (
            {"prod": {}, "dev": {}, "test": {}},
            "nofn",
            ["integrations.chat.integrationUri: no function named 'nofn'"],
        ),
    ],
)
def test_function_per_stage(code_dir, stages, uri, issues):
    data = _data(stages=stages, integrations__chat__integrationUri=uri)
    assert _issues(data, code_dir) == issues


@pytest.mark.parametrize(
    ("limits", "issues"),
    [
        ({"frameSizeBytes": 32768, "messageSizeBytes": 131072}, []),
        ({"frameSizeBytes": 1024, "idleTimeoutSeconds": 60}, []),
        ({"sendBufferBytes": 1 << 30}, []),  # not an AWS quota
        (
            {
                "frameSizeBytes": 32768,
                "messageSizeBytes": 131072,
                "idleTimeoutSeconds": 600,
                "maxConnectionSeconds": 7200,
            },
            [],
        ),
        ({"frameSizeBytes": 32769}, ["frameSizeBytes"]),
        (
            {"frameSizeBytes": 65536, "messageSizeBytes": 65536, "idleTimeoutSeconds": 601},
            ["frameSizeBytes", "idleTimeoutSeconds"],
        ),
        (
            {
                "frameSizeBytes": 65536,
                "messageSizeBytes": 262144,
                "idleTimeoutSeconds": 601,
                "maxConnectionSeconds": 7201,
                "sendBufferBytes": 1 << 30,
            },
            ["frameSizeBytes", "messageSizeBytes", "idleTimeoutSeconds", "maxConnectionSeconds"],
        ),
    ],
)
def test_aws_strict_limits(code_dir, limits, issues):
    data = _data(stages__prod={"awsStrict": True, "limits": limits})
    if not issues:
        config = parse_config(_dump(data), base_dir=code_dir)
        assert config.stages["prod"].aws_strict is True
    else:
        aws = {
            "frameSizeBytes": 32768,
            "messageSizeBytes": 131072,
            "idleTimeoutSeconds": 600,
            "maxConnectionSeconds": 7200,
        }
        # Every limit above AWS's quota, in one message at the stage.
        assert _issues(data, code_dir) == [
            "stages.prod: "
            + "; ".join(
                f"limits.{field} cannot exceed AWS's {aws[field]} when awsStrict is true"
                for field in issues
            )
        ]


def test_limits_above_aws_are_fine_without_aws_strict(code_dir):
    data = _data(stages__prod={"limits": {"frameSizeBytes": 65536, "idleTimeoutSeconds": 3600}})
    config = parse_config(_dump(data), base_dir=code_dir)
    assert config.stages["prod"].limits.frame_size_bytes == 65536


@pytest.mark.parametrize(
    "limits",
    [
        {"bogus": 1},
        {"frameSizeBytes": "big"},
    ],
)
def test_aws_strict_leaves_malformed_limits_to_the_model(code_dir, limits):
    data = _data(stages__prod={"awsStrict": True, "limits": limits})
    issues = _issues(data, code_dir)
    assert len(issues) == 1
    assert "awsStrict" not in issues[0]


_STRICT_FRAME = (
    "stages.prod: limits.frameSizeBytes cannot exceed AWS's 32768 when awsStrict is true"
)


@pytest.mark.parametrize(
    ("stage", "issues"),
    [
        ({"awsStrict": "true", "limits": {"frameSizeBytes": 65536}}, [_STRICT_FRAME]),
        ({"awsStrict": 1, "limits": {"frameSizeBytes": 65536}}, [_STRICT_FRAME]),
        ({"awsStrict": True, "limits": {"frameSizeBytes": "65536"}}, [_STRICT_FRAME]),
        (
            {"limits": {"frameSizeBytes": "200000"}},
            ["stages.prod: limits.frameSizeBytes must not exceed limits.messageSizeBytes"],
        ),
        (
            {"limits": {"frameSizeBytes": 4096, "messageSizeBytes": "2048"}},
            ["stages.prod: limits.frameSizeBytes must not exceed limits.messageSizeBytes"],
        ),
        # Coerced to False: limits above AWS's are allowed.
        ({"awsStrict": "false", "limits": {"frameSizeBytes": 65536}}, []),
        ({"awsStrict": 0, "limits": {"frameSizeBytes": "65536"}}, []),
    ],
)
def test_limit_checks_see_coerced_values(code_dir, stage, issues):
    data = _data(stages__prod=stage)
    if issues:
        assert _issues(data, code_dir) == issues
    else:
        config = parse_config(_dump(data), base_dir=code_dir)
        assert config.stages["prod"].aws_strict is False
        assert config.stages["prod"].limits.frame_size_bytes == 65536


def test_every_bad_stage_variable_is_reported(code_dir):
    data = _data(stages__prod={"stageVariables": {"bad-name": "x", "ok": "y", "fn": "a b"}})
    assert _issues(data, code_dir) == [
        "stages.prod.stageVariables: stage variable name 'bad-name' must be letters, digits or _; "
        "stage variable 'fn': value must be 1-2048 characters from [A-Za-z0-9-._~:/?#&=,]"
    ]


def test_every_problem_is_reported_at_once(code_dir):
    data = _data(
        bogus=1,
        routeSelectionExpression="$request.header.x",
        routes__sendmessage__target="chatfn",
        **{"routes__$foo": {"target": "chat"}},
        integrations__chat__timeoutInMillis=10,
        integrations__http={"integrationType": "HTTP"},
        functions__chat={"handler": "nothere.handler"},
        stages__prod={"awsStrict": True, "limits": {"frameSizeBytes": 65536}},
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(_dump(data), base_dir=code_dir, source="api.yaml")
    error = caught.value
    places = [issue.path for issue in error.issues]
    # The model's issues come first (in field order), then the cross-reference checks'.
    assert places == [
        "stages.prod",
        "integrations.chat.timeoutInMillis",
        "bogus",
        "routeSelectionExpression",
        "routes.sendmessage.target",
        "routes.$foo",
        "integrations.http.integrationUri",
        "functions.chat.handler",
    ]
    assert error.source == "api.yaml"
    assert str(error).startswith("api.yaml: 8 errors in config\n  ")
    assert "\n  routes.sendmessage.target: no integration named 'chatfn'" in str(error)
    assert "\n  integrations.http.integrationUri: an HTTP integration needs a URL" in str(error)
    assert (
        "\n  stages.prod: limits.frameSizeBytes cannot exceed AWS's 32768 when awsStrict is true"
        in str(error)
    )
    assert all("value error" not in issue.message.lower() for issue in error.issues)


def test_cross_reference_errors_without_model_errors(code_dir):
    data = _data(routes__sendmessage__target="a", routes__other={"target": "b"})
    with pytest.raises(ConfigError) as caught:
        parse_config(_dump(data), base_dir=code_dir)
    assert caught.value.issues == [
        ConfigIssue("routes.sendmessage.target", "no integration named 'a'"),
        ConfigIssue("routes.other.target", "no integration named 'b'"),
    ]
    assert caught.value.__cause__ is None


def test_model_errors_chain_the_validation_error(code_dir):
    from pydantic import ValidationError

    with pytest.raises(ConfigError) as caught:
        parse_config(_dump(_data(bogus=1)), base_dir=code_dir)
    assert isinstance(caught.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        (
            "name: x\nroutes: [\n",
            "line 3, column 1: not valid YAML or JSON: expected the node content, but found "
            "'<stream end>'",
        ),
        ("name: x\nstages: {prod: {}\n", "line 3, column 1: not valid YAML or JSON: "),
        (
            "a: b: c",
            "line 1, column 5: not valid YAML or JSON: mapping values are not allowed here",
        ),
        ('{"name": "x",\n "stages": {]}', "line 2, column 13: not valid YAML or JSON: "),
        ("name: x\n\tstages: {}\n", "line 2, column 1: not valid YAML or JSON: "),
        (
            'routeSelectionExpression: "\\$default"\n',
            "line 1, column 29: not valid YAML or JSON: found unknown escape character '$'; "
            "inside double quotes a backslash starts an escape: use single quotes "
            "('\\$default', '/2\\d\\d/') or double the backslash (\"\\\\$default\")",
        ),
        (
            '{"integrationResponses": {"/2\\d\\d/": {}}}',
            "line 1, column 31: not valid YAML or JSON: found unknown escape character 'd'; "
            "inside double quotes a backslash starts an escape",
        ),
    ],
)
def test_invalid_yaml_reports_the_line(text, issue):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=Path("."), source="api.yaml")
    [found] = caught.value.issues
    assert str(found).startswith(issue)
    assert isinstance(caught.value.__cause__, yaml.YAMLError)
    assert caught.value.source == "api.yaml"


def test_yaml_error_without_a_position():
    with pytest.raises(ConfigError) as caught:
        parse_config("name: \x07", base_dir=Path("."))
    [found] = caught.value.issues
    assert found.path == ""
    assert found.message.startswith("not valid YAML or JSON: unacceptable character #x0007")
    assert caught.value.source == "<config>"


@pytest.mark.parametrize("text", ["", "# nothing\n", "[1, 2]", "just text", "42", "null", "- a: 1"])
def test_top_level_must_be_a_mapping(text):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=Path("."))
    assert caught.value.issues == [ConfigIssue("", "the file must hold a mapping at the top level")]


def test_unreadable_file(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.issues == [ConfigIssue("", "cannot read file: No such file or directory")]
    assert (
        str(caught.value)
        == f"{path}: 1 error in config\n  cannot read file: No such file or directory"
    )


def test_directory_instead_of_a_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.issues == [ConfigIssue("", "cannot read file: Is a directory")]


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.issues == [
        ConfigIssue("", "not UTF-8 text: invalid continuation byte at byte 9")
    ]
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)


def test_file_errors_name_the_file(code_dir):
    path = code_dir / "api.yaml"
    path.write_text(_dump(_data(bogus=1)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert str(caught.value) == f"{path}: 1 error in config\n  bogus: unknown field"


# --- function names from integration URIs --------------------------------------------------

_INVOKE = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations"


@pytest.mark.parametrize(
    ("uri", "variables", "name"),
    [
        ("chat", {}, "chat"),
        ("chat-fn_2", {}, "chat-fn_2"),
        ("arn:aws:lambda:us-east-1:123456789012:function:chat", {}, "chat"),
        ("arn:aws:lambda:us-east-1:123456789012:function:chat:live", {}, "chat"),
        ("arn:aws:lambda:us-east-1:123456789012:function:chat:7", {}, "chat"),
        ("arn:aws:lambda:us-east-1:123456789012:function:chat:$LATEST", {}, "chat"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:chat", {}, "chat"),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:chat", {}, "chat"),
        (_INVOKE.format("arn:aws:lambda:us-east-1:123456789012:function:chat"), {}, "chat"),
        (_INVOKE.format("arn:aws:lambda:us-east-1:123456789012:function:chat:prod"), {}, "chat"),
        (
            "arn:aws-cn:apigateway:cn-north-1:lambda:path/2015-03-31/functions/"
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:chat/invocations",
            {},
            "chat",
        ),
        ("${stageVariables.fn}", {"fn": "chat"}, "chat"),
        ("${stageVariables.fn}", {"fn": "chat", "other": "x"}, "chat"),
        ("fn-${stageVariables.suffix}", {"suffix": "prod"}, "fn-prod"),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}",
            {"fn": "chat"},
            "chat",
        ),
        (
            _INVOKE.format("arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}"),
            {"fn": "chat"},
            "chat",
        ),
        (
            _INVOKE.format(
                "arn:aws:lambda:us-east-1:123456789012:function:chat:${stageVariables.a}"
            ),
            {"a": "live"},
            "chat",
        ),
        # A stage variable holding a whole ARN.
        (
            "${stageVariables.arn}",
            {"arn": "arn:aws:lambda:us-east-1:123456789012:function:chat:live"},
            "chat",
        ),
        # Not a Lambda ARN: taken as a name.
        ("arn:aws:s3:::bucket", {}, "arn:aws:s3:::bucket"),
    ],
)
def test_function_name_from_uri(uri, variables, name):
    assert function_name_from_uri(uri, variables) == name


@pytest.mark.parametrize(
    ("uri", "variables", "missing"),
    [
        ("${stageVariables.fn}", {}, "fn"),
        ("${stageVariables.fn}", {"FN": "chat"}, "fn"),
        (_INVOKE.format("arn:aws:lambda:r:1:function:${stageVariables.fn}"), {"x": "y"}, "fn"),
        ("${stageVariables.a}-${stageVariables.b}", {"a": "x"}, "b"),
    ],
)
def test_function_name_from_uri_missing_variable(uri, variables, missing):
    with pytest.raises(ValueError, match=f"stage variable '{missing}' is not set"):
        function_name_from_uri(uri, variables)


# --- default API id ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "api_id"),
    [("chat", "nidr3cfkoa"), ("Chat", "8lwrqhd5nr"), ("", "l6q4ia2uk9")],
)
def test_default_api_id(name, api_id):
    assert default_api_id(name) == api_id
    assert re.fullmatch(r"[a-z0-9]{10}", api_id)


@pytest.mark.parametrize("name", ["chat", "a much longer API name", "é", "x" * 1000])
def test_default_api_id_is_stable_and_aws_shaped(name):
    api_id = default_api_id(name)
    assert re.fullmatch(r"[a-z0-9]{10}", api_id)
    assert default_api_id(name) == api_id
    assert default_api_id(name + "2") != api_id


@pytest.mark.parametrize(
    ("settings", "valid"),
    [
        ({"format": "$context.requestId $context.routeKey"}, True),
        ({"format": "$context.routeKey"}, False),
        ({"format": 7}, False),
    ],
)
def test_access_log_settings(tmp_path: Path, settings: dict[str, object], valid: bool) -> None:
    text = json.dumps(
        {
            "name": "x",
            "routeSelectionExpression": "$request.body.action",
            "stages": {"dev": {"accessLogSettings": settings}},
        }
    )
    if valid:
        config = parse_config(text, base_dir=tmp_path)
        log = config.stages["dev"].access_log_settings
        assert log is not None and log.destination == "stderr"
    else:
        with pytest.raises(ConfigError) as caught:
            parse_config(text, base_dir=tmp_path)
        assert caught.value.issues[0].path.startswith("stages.dev.accessLogSettings.format")


def test_files_named_by_the_config_resolve_against_its_folder(tmp_path):
    config_dir = tmp_path / "config"
    (config_dir / "tls").mkdir(parents=True)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "handlers.py").write_text("")
    for name in ("tls/cert.pem", "tls/key.pem", "credentials"):
        (config_dir / name).write_text("")
    data = _data(functions__chat={"handler": "handlers.handler", "codeUri": "../code"})
    data["iam"] = {"credentialsFile": "credentials"}
    data["server"] = {"tls": {"certFile": "tls/cert.pem", "keyFile": "tls/key.pem"}}
    (config_dir / "api.yaml").write_text(_dump(data))
    config = load_config(config_dir / "api.yaml")
    assert config.iam is not None and config.server.tls is not None
    assert config.iam.credentials_file == str((config_dir / "credentials").resolve())
    assert config.server.tls.cert_file == str((config_dir / "tls" / "cert.pem").resolve())
    assert config.server.tls.key_file == str((config_dir / "tls" / "key.pem").resolve())


# --- request validation ----------------------------------------------------------------------


def test_models_and_request_validation_load(code_dir):
    schema = {"type": "object", "required": ["data"]}
    data = _data(
        models={"Message": {"schema": schema}, "Text": {"schema": '{"type": "string"}'}},
        routes__sendmessage__modelSelectionExpression="$request.body.action",
        routes__sendmessage__requestModels={"sendmessage": "Message", "$default": "Text"},
    )
    config = parse_config(_dump(data), base_dir=code_dir)
    route = config.routes["sendmessage"]
    assert route.model_selection_expression == "$request.body.action"
    assert route.request_models == {"sendmessage": "Message", "$default": "Text"}
    assert config.models["Message"].content_type == "application/json"
    assert json.loads(config.models["Message"].schema_text) == schema
    assert config.models["Text"].schema_text == '{"type": "string"}'


def test_a_bad_schema_is_a_config_error_naming_its_model(code_dir):
    data = _data(
        models={"Message": {"schema": {"type": 5}}, "Other": {"schema": 3}},
        routes__sendmessage__requestModels={"x": "Missing"},
    )
    found = _issues(data, code_dir)
    assert found[0].startswith("models.Other.schema")  # the model's own check: not text
    assert any(i.startswith("models.Message.schema: not a valid draft 4 schema") for i in found)
    assert "routes.sendmessage.requestModels.x: no model named 'Missing'" in found


# --- functions at a Lambda Invoke endpoint ---------------------------------------------------


def test_a_remote_function_needs_no_local_code_nor_a_runtime_wsgate_runs(tmp_path):
    data = _data(
        functions={
            "chat": {
                "lambdaEndpoint": "http://127.0.0.1:3001",
                "functionName": "ChatFunction",
                "runtime": "java21",
                "codeUri": "missing-folder",
            }
        }
    )
    function = parse_config(_dump(data), base_dir=tmp_path).functions["chat"]
    assert function.remote and function.handler == "" and function.function_name == "ChatFunction"


def test_the_endpoint_flag_reaches_every_function(tmp_path):
    data = _data(functions={"chat": {"runtime": "dotnet8", "handler": "Chat::Chat.Fn::Handle"}})
    with pytest.raises(ConfigError):
        parse_config(_dump(data), base_dir=tmp_path)
    config = parse_config(_dump(data), base_dir=tmp_path, lambda_endpoint="http://127.0.0.1:3001")
    assert config.functions["chat"].lambda_endpoint == "http://127.0.0.1:3001"
    own = _data(functions={"chat": {"lambdaEndpoint": "https://lambda.eu-west-1.amazonaws.com"}})
    config = parse_config(_dump(own), base_dir=tmp_path, lambda_endpoint="http://127.0.0.1:3001")
    assert config.functions["chat"].lambda_endpoint == "https://lambda.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("functions", [["not", "a", "mapping"], {"chat": "not a mapping"}])
def test_the_endpoint_flag_leaves_malformed_functions_to_the_model(tmp_path, functions):
    with pytest.raises(ConfigError) as caught:
        parse_config(
            _dump(_data(functions=functions)), base_dir=tmp_path, lambda_endpoint="http://x"
        )
    assert str(caught.value.issues[0]).startswith("functions")


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ({"lambdaEndpoint": "ftp://x"}, "functions.chat.lambdaEndpoint: lambdaEndpoint 'ftp://x'"),
        ({}, "functions.chat.handler: field required"),
        ({"runtime": "java21", "handler": "a.b"}, "functions.chat.runtime: unknown runtime"),
    ],
)
def test_remote_function_problems(tmp_path, function, message):
    found = _issues(_data(functions={"chat": function}), tmp_path)
    assert any(issue.startswith(message) for issue in found), found
