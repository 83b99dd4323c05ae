"""The config model: apigatewayv2's names, validated and frozen."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wsgate.config.model import (
    AWS_LIMITS,
    ApiConfig,
    FunctionConfig,
    IntegrationConfig,
    Limits,
    RouteConfig,
    ServerConfig,
    StageConfig,
    runtime_version,
)

_API = {"name": "chat", "routeSelectionExpression": "$request.body.action", "stages": {"prod": {}}}


def _errors(model, data):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_aws_limits():
    assert AWS_LIMITS == Limits()
    assert AWS_LIMITS.frame_size_bytes == 32 * 1024
    assert AWS_LIMITS.message_size_bytes == 128 * 1024
    assert AWS_LIMITS.idle_timeout_seconds == 600
    assert AWS_LIMITS.max_connection_seconds == 7200
    assert AWS_LIMITS.send_buffer_bytes == 1024 * 1024


@pytest.mark.parametrize(
    "field",
    [
        "frameSizeBytes",
        "messageSizeBytes",
        "idleTimeoutSeconds",
        "maxConnectionSeconds",
        "sendBufferBytes",
    ],
)
@pytest.mark.parametrize(("value", "valid"), [(1, True), (0, False), (-1, False)])
def test_limits_must_be_positive(field, value, valid):
    if valid:
        assert Limits.model_validate({field: value})
    else:
        assert _errors(Limits, {field: value}) == [(field, "Input should be greater than 0")]


@pytest.mark.parametrize(
    ("variables", "valid"),
    [
        ({}, True),
        ({"fn": "chat"}, True),
        ({"FN_2": "chat"}, True),
        ({"_": "x"}, True),
        ({"url": "https://example.com:8443/a/b?x=1&y=2#frag"}, True),
        ({"chars": "A-Za-z0-9-._~:/?#&=,"}, True),
        ({"long": "x" * 2048}, True),
        ({"one": "x"}, True),
        ({"bad-name": "x"}, False),
        ({"bad name": "x"}, False),
        ({"bad.name": "x"}, False),
        ({"": "x"}, False),
        ({"é": "x"}, False),
        ({"fn": "a b"}, False),
        ({"fn": "a$b"}, False),
        ({"fn": "a'b"}, False),
        ({"fn": 'a"b'}, False),
        ({"fn": "é"}, False),
        ({"fn": "x" * 2049}, False),
        ({"fn": ""}, False),
        ({"fn": "chat\n"}, False),
        ({"fn\n": "chat"}, False),
        ({"ok": "x", "bad-name": "x"}, False),
        ({"bad-name": "x", "fn": ""}, False),
    ],
)
def test_stage_variables(variables, valid):
    if valid:
        assert (
            StageConfig.model_validate({"stageVariables": variables}).stage_variables == variables
        )
    else:
        [(place, message)] = _errors(StageConfig, {"stageVariables": variables})
        assert place == "stageVariables"
        assert message.startswith("Value error, stage variable")


def _bad_name(name):
    return f"stage variable name {name!r} must be letters, digits or _"


def _bad_value(name):
    return f"stage variable {name!r}: value must be 1-2048 characters from [A-Za-z0-9-._~:/?#&=,]"


@pytest.mark.parametrize(
    ("variables", "problems"),
    [
        ({"bad-name": "x"}, [_bad_name("bad-name")]),
        ({"fn": "a b"}, [_bad_value("fn")]),
        ({"fn": "x" * 2049}, [_bad_value("fn")]),
        # AWS's pattern is [A-Za-z0-9-._~:/?#&=,]+: an empty value is refused.
        ({"fn": ""}, [_bad_value("fn")]),
        # Every bad stage variable is reported, in order, in one message.
        ({"bad-name": "a b"}, [_bad_name("bad-name"), _bad_value("bad-name")]),
        (
            {"bad-name": "x", "ok": "y", "fn": "", "2": "é"},
            [_bad_name("bad-name"), _bad_value("fn"), _bad_value("2")],
        ),
    ],
)
def test_stage_variable_messages(variables, problems):
    assert _errors(StageConfig, {"stageVariables": variables}) == [
        ("stageVariables", "Value error, " + "; ".join(problems))
    ]


# YAML block scalars end with a newline; the patterns must match the whole text.
@pytest.mark.parametrize(
    ("model", "data", "error"),
    [
        (
            StageConfig,
            {"stageVariables": {"fn": "chat\n"}},
            ("stageVariables", "Value error, " + _bad_value("fn")),
        ),
        (
            StageConfig,
            {"stageVariables": {"fn\n": "chat"}},
            ("stageVariables", "Value error, " + _bad_name("fn\n")),
        ),
        (
            ApiConfig,
            {**_API, "stages": {"prod\n": {}}},
            (
                "stages",
                "Value error, stage name 'prod\\n' must be 1-128 letters, digits, - or _",
            ),
        ),
    ],
)
def test_trailing_newline_is_rejected(model, data, error):
    assert _errors(model, data) == [error]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("prod", True),
        ("v1_beta-2", True),
        ("$default", False),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("bad stage", False),
        ("a/b", False),
        ("é", False),
    ],
)
def test_stage_names(name, valid):
    data = {**_API, "stages": {name: {}}}
    if valid:
        assert list(ApiConfig.model_validate(data).stages) == [name]
    else:
        [(place, message)] = _errors(ApiConfig, data)
        assert place == "stages"
        assert f"stage name {name!r} must be 1-128 letters, digits, - or _" in message


_FRAME_OVER_MESSAGE = "limits.frameSizeBytes must not exceed limits.messageSizeBytes"


def _over_aws(field, value):
    return f"limits.{field} cannot exceed AWS's {value} when awsStrict is true"


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ({}, []),
        ({"limits": {"frameSizeBytes": 1000, "messageSizeBytes": 1000}}, []),
        ({"limits": {"frameSizeBytes": 1001, "messageSizeBytes": 1000}}, [_FRAME_OVER_MESSAGE]),
        ({"limits": {"frameSizeBytes": 131073}}, [_FRAME_OVER_MESSAGE]),
        ({"limits": {"messageSizeBytes": 32767}}, [_FRAME_OVER_MESSAGE]),
        # Limits above AWS's quotas are fine unless awsStrict is set.
        (
            {
                "limits": {
                    "frameSizeBytes": 65536,
                    "messageSizeBytes": 262144,
                    "idleTimeoutSeconds": 3600,
                    "maxConnectionSeconds": 86400,
                }
            },
            [],
        ),
        ({"awsStrict": True}, []),
        (
            {
                "awsStrict": True,
                "limits": {
                    "frameSizeBytes": 32768,
                    "messageSizeBytes": 131072,
                    "idleTimeoutSeconds": 600,
                    "maxConnectionSeconds": 7200,
                    "sendBufferBytes": 1 << 30,  # not an AWS quota
                },
            },
            [],
        ),
        (
            {"awsStrict": True, "limits": {"frameSizeBytes": 32769}},
            [_over_aws("frameSizeBytes", 32768)],
        ),
        (
            {"awsStrict": True, "limits": {"messageSizeBytes": 131073}},
            [_over_aws("messageSizeBytes", 131072)],
        ),
        (
            {"awsStrict": True, "limits": {"idleTimeoutSeconds": 600.5}},
            [_over_aws("idleTimeoutSeconds", 600)],
        ),
        (
            {"awsStrict": True, "limits": {"maxConnectionSeconds": 7201}},
            [_over_aws("maxConnectionSeconds", 7200)],
        ),
        # Several problems: all of them, in one message.
        (
            {
                "awsStrict": True,
                "limits": {
                    "frameSizeBytes": 65536,
                    "messageSizeBytes": 262144,
                    "idleTimeoutSeconds": 601,
                    "maxConnectionSeconds": 7201,
                },
            },
            [
                _over_aws("frameSizeBytes", 32768),
                _over_aws("messageSizeBytes", 131072),
                _over_aws("idleTimeoutSeconds", 600),
                _over_aws("maxConnectionSeconds", 7200),
            ],
        ),
        (
            {"awsStrict": True, "limits": {"frameSizeBytes": 65536, "messageSizeBytes": 1000}},
            [_FRAME_OVER_MESSAGE, _over_aws("frameSizeBytes", 32768)],
        ),
        # The checks see coerced values.
        (
            {"awsStrict": "true", "limits": {"frameSizeBytes": "65536"}},
            [_over_aws("frameSizeBytes", 32768)],
        ),
        ({"limits": {"frameSizeBytes": "200000"}}, [_FRAME_OVER_MESSAGE]),
    ],
)
def test_stage_limit_checks(data, problems):
    if not problems:
        assert StageConfig.model_validate(data).limits == Limits.model_validate(
            data.get("limits", {})
        )
    else:
        assert _errors(StageConfig, data) == [("", "Value error, " + "; ".join(problems))]


def test_stage_limit_checks_run_inside_an_api():
    data = {**_API, "stages": {"prod": {"limits": {"messageSizeBytes": 1000}}}}
    assert _errors(ApiConfig, data) == [("stages.prod", "Value error, " + _FRAME_OVER_MESSAGE)]


def test_api_needs_a_stage():
    [(place, message)] = _errors(ApiConfig, {**_API, "stages": {}})
    assert place == "stages"
    assert "at least 1 item" in message


def test_api_required_fields():
    assert _errors(ApiConfig, {}) == [
        ("name", "Field required"),
        ("routeSelectionExpression", "Field required"),
        ("stages", "Field required"),
    ]


def test_api_defaults():
    config = ApiConfig.model_validate(_API)
    assert config.api_id is None
    assert config.region == "us-east-1"
    assert config.account_id == "000000000000"
    assert config.routes == {}
    assert config.integrations == {}
    assert config.functions == {}
    assert config.server == ServerConfig()
    assert config.stages["prod"] == StageConfig()
    assert config.stages["prod"].limits == AWS_LIMITS
    assert config.stages["prod"].aws_strict is False


def test_camel_case_aliases_and_snake_case_names_both_work():
    by_alias = ApiConfig.model_validate({**_API, "apiId": "abc"})
    by_name = ApiConfig(
        name="chat",
        route_selection_expression="$request.body.action",
        stages={"prod": StageConfig()},
        api_id="abc",
    )
    assert by_alias == by_name


@pytest.mark.parametrize(
    ("model", "data", "place"),
    [
        (ApiConfig, {**_API, "bogus": 1}, "bogus"),
        (ApiConfig, {**_API, "route_selection_expressions": "x"}, "route_selection_expressions"),
        (StageConfig, {"limits": {"frameSize": 1}}, "limits.frameSize"),
        (RouteConfig, {"integration": "x"}, "integration"),
        (FunctionConfig, {"handler": "a.b", "runtimes": "python3.11"}, "runtimes"),
        (ServerConfig, {"listen": "0.0.0.0"}, "listen"),
    ],
)
def test_unknown_fields_are_refused(model, data, place):
    assert _errors(model, data) == [(place, "Extra inputs are not permitted")]


@pytest.mark.parametrize("model", [Limits, StageConfig, ServerConfig])
def test_models_are_frozen(model):
    instance = model()
    field = next(iter(model.model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(instance, field, getattr(instance, field))


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (None, None),
        ("chat", "chat"),
        ("integrations/chat", "chat"),
        ("integrations/integrations/x", "integrations/x"),
    ],
)
def test_route_integration_name(target, name):
    assert RouteConfig(target=target).integration_name == name


@pytest.mark.parametrize(
    ("selection", "responses", "two_way"),
    [
        (None, None, False),
        (None, {"$default": {}}, False),
        ("$default", None, True),
        ("$default", {"$default": {}}, True),
        ("$default", {"$default": {"modelSelectionExpression": "x"}}, True),
        ("$default", {}, False),
        ("$default", {"other": {}}, False),
        ("$request.body.x", {"$default": {}}, False),
    ],
)
def test_route_two_way(selection, responses, two_way):
    route = RouteConfig.model_validate(
        {"routeResponseSelectionExpression": selection, "routeResponses": responses}
    )
    assert route.two_way is two_way


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"integrationType": "AWS_PROXY"}, None),
        ({"integrationType": "MOCK"}, None),
        ({"integrationType": "HTTP_PROXY", "integrationUri": "http://x"}, None),
        ({"integrationType": "AWS_PROXY", "timeoutInMillis": 50}, None),
        ({"integrationType": "AWS_PROXY", "timeoutInMillis": 29000}, None),
        (
            {"integrationType": "AWS_PROXY", "timeoutInMillis": 49},
            ("timeoutInMillis", "Input should be greater than or equal to 50"),
        ),
        (
            {"integrationType": "AWS_PROXY", "timeoutInMillis": 29001},
            ("timeoutInMillis", "Input should be less than or equal to 29000"),
        ),
        (
            {"integrationType": "LAMBDA"},
            (
                "integrationType",
                "Input should be 'AWS_PROXY', 'AWS', 'HTTP_PROXY', 'HTTP' or 'MOCK'",
            ),
        ),
        ({}, ("integrationType", "Field required")),
    ],
)
def test_integration(data, error):
    if error is None:
        integration = IntegrationConfig.model_validate(data)
        assert integration.integration_method == "POST"
        assert 50 <= integration.timeout_in_millis <= 29000
    else:
        assert _errors(IntegrationConfig, data) == [error]


def test_integration_defaults():
    integration = IntegrationConfig(integration_type="AWS_PROXY")
    assert integration.timeout_in_millis == 29000
    assert integration.integration_uri is None


@pytest.mark.parametrize(
    ("handler", "valid"),
    [
        ("handlers.handler", True),
        ("pkg.module.handler", True),
        ("a.b", True),
        ("handler", False),
        ("", False),
        (".handler", False),
        ("handlers.", False),
        (".", False),
    ],
)
def test_function_handler(handler, valid):
    if valid:
        assert FunctionConfig(handler=handler).handler == handler
    else:
        [(place, message)] = _errors(FunctionConfig, {"handler": handler})
        assert place == "handler"
        assert f"handler {handler!r} must look like 'module.function'" in message


@pytest.mark.parametrize(
    ("runtime", "handler", "family", "version"),
    [
        (None, "app.handler", "python", None),
        ("python3.9", "app.handler", "python", (3, 9)),
        ("python3.14", "pkg.app.handler", "python", (3, 14)),
        ("nodejs18.x", "app.handler", "nodejs", (18, 0)),
        ("nodejs24.x", "src/app.handlers.send", "nodejs", (24, 0)),
        ("provided", "anything", "provided", None),
        ("provided.al2", "x", "provided", None),
        ("provided.al2023", "bootstrap.handler", "provided", None),
    ],
)
def test_function_runtime(runtime, handler, family, version):
    function = FunctionConfig(handler=handler, runtime=runtime)
    assert (function.runtime, function.family) == (runtime, family)
    assert runtime_version(runtime) == version


@pytest.mark.parametrize(
    "runtime", ["java21", "python2.7", "nodejs19.x", "nodejs16.x", "go1.x", ""]
)
def test_unknown_runtimes_are_refused(runtime):
    [(place, message)] = _errors(FunctionConfig, {"handler": "a.b", "runtime": runtime})
    assert place == "runtime"
    assert f"unknown runtime {runtime!r}; supported: python3.x, nodejs18.x, nodejs20.x" in message
    assert "provided.al2023" in message


@pytest.mark.parametrize(
    ("runtime", "handler", "message"),
    [
        ("nodejs20.x", "index", "handler 'index' must look like 'file.function'"),
        ("provided.al2023", "", "handler must not be empty"),
        ("bogus", "index", "handler 'index' must look like 'module.function'"),
    ],
)
def test_handler_shape_depends_on_the_runtime(runtime, handler, message):
    errors = _errors(FunctionConfig, {"handler": handler, "runtime": runtime})
    assert ("handler", message) in [
        (place, text.removeprefix("Value error, ")) for place, text in errors
    ]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, {}),
        ({"TABLE": "chat"}, {"TABLE": "chat"}),
        (
            {"N": 3, "F": 1.5, "ON": True, "OFF": False, "S": "x"},
            {
                "N": "3",
                "F": "1.5",
                "ON": "true",
                "OFF": "false",
                "S": "x",
            },
        ),
        # SAM's Environment: {Variables: {...}}.
        ({"Variables": {"TABLE": "chat", "N": 3}}, {"TABLE": "chat", "N": "3"}),
        ({"variables": {"DEBUG": True}}, {"DEBUG": "true"}),
        ({"Variables": {}}, {}),
    ],
)
def test_function_environment(environment, expected):
    function = FunctionConfig.model_validate({"handler": "a.b", "environment": environment})
    assert function.environment == expected


@pytest.mark.parametrize(
    ("environment", "place"),
    [
        ("TABLE=chat", "environment"),
        (["TABLE=chat"], "environment"),
        ({"TABLE": None}, "environment.TABLE"),
        ({"TABLE": ["a"]}, "environment.TABLE"),
        ({"Variables": {"A": 1}, "B": "2"}, "environment.Variables"),
    ],
)
def test_function_environment_errors(environment, place):
    errors = _errors(FunctionConfig, {"handler": "a.b", "environment": environment})
    assert [error_place for error_place, _ in errors] == [place]


def test_function_defaults():
    function = FunctionConfig(handler="handlers.handler")
    assert function.code_uri == "."
    assert function.environment == {}
    assert function.timeout == 3
    assert function.memory_size == 128
    assert function.concurrency == 4
    assert function.isolation == "process"


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("timeout", 900, True),
        ("timeout", 0.5, True),
        ("timeout", 0, False),
        ("timeout", 901, False),
        ("memorySize", 128, True),
        ("memorySize", 10240, True),
        ("memorySize", 127, False),
        ("memorySize", 10241, False),
        ("concurrency", 1, True),
        ("concurrency", 256, True),
        ("concurrency", 0, False),
        ("concurrency", 257, False),
        ("isolation", "inprocess", True),
        ("isolation", "thread", False),
    ],
)
def test_function_bounds(field, value, valid):
    data = {"handler": "a.b", field: value}
    if valid:
        FunctionConfig.model_validate(data)
    else:
        assert [place for place, _ in _errors(FunctionConfig, data)] == [field]


def test_server_defaults_are_loopback():
    server = ServerConfig()
    assert server.host == "127.0.0.1"
    assert server.port == 8080
    assert server.admin_host == "127.0.0.1"
    assert server.admin_port is None
    assert server.management_on_public is True
    assert server.domain_name is None


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("port", 0, True),
        ("port", 65535, True),
        ("port", -1, False),
        ("port", 65536, False),
        ("adminPort", None, True),
        ("adminPort", 0, True),
        ("adminPort", 65536, False),
        ("shutdownTimeoutSeconds", 0, False),
    ],
)
def test_server_bounds(field, value, valid):
    if valid:
        ServerConfig.model_validate({field: value})
    else:
        assert [place for place, _ in _errors(ServerConfig, {field: value})] == [field]
