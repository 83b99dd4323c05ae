"""Checks of HTTP, HTTP_PROXY and MOCK integrations: every problem found at load, with its place."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wsgate.config.checks import backend_issues, config_warnings, expression_issues, model_issues
from wsgate.config.model import ApiConfig
from wsgate.core.routing import compile_expression
from wsgate.core.templates import MAX_TEMPLATE_BYTES, compile_response_expression
from wsgate.errors import ConfigIssue

PLACE = "integrations.web"
URL = "http://backend.local/messages"
EXPECTED_SOURCES = (
    "expected route.request.{header,multivalueheader,querystring,multivaluequerystring}.<name>, "
    "route.request.body.<JSONPath>, context.<name>, stageVariables.<name> or a 'static' value"
)


def issues(kind: str, **fields: object) -> list[str]:
    return [str(issue) for issue in backend_issues(PLACE, kind, fields)]


# --- URIs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "http://backend.local",
        "https://backend.local:8443/a/b?x=1&y=2",
        "http://127.0.0.1:9000/echo",
        "http://backend.local/items/{id}",
        "http://${stageVariables.backend}/echo",
        "https://${stageVariables.host}:${stageVariables.port}/${stageVariables.path}",
        "http://backend.local/${stageVariables.path}?q=${stageVariables.q}",
        "asgi:app:application",
        "asgi:package.module:app",
        "asgi:package.module:app/some/path?x=1",
        "asgi:_private.mod:_app/",
    ],
)
@pytest.mark.parametrize("kind", ["HTTP", "HTTP_PROXY"])
def test_good_uris(kind: str, uri: str) -> None:
    assert issues(kind, integrationUri=uri) == []


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://backend.local/x",
        "backend.local/x",
        "http://",
        "http:///path",
        "http://backend local/x",
        "http://backend.local/a b",
        "HTTP://backend.local",
        " http://backend.local",
        "asgi:module",
        "asgi:module:",
        "asgi::app",
        "asgi:1module:app",
        "asgi:module:app.attr",
        "asgi:module:app path",
        "arn:aws:lambda:us-east-1:123456789012:function:chat",
    ],
)
@pytest.mark.parametrize("kind", ["HTTP", "HTTP_PROXY"])
def test_bad_uris(kind: str, uri: str) -> None:
    assert issues(kind, integrationUri=uri) == [
        f"{PLACE}.integrationUri: {uri!r} is neither an http(s):// URL nor "
        "asgi:module:attribute[/path]"
    ]


@pytest.mark.parametrize("fields", [{}, {"integrationUri": ""}, {"integrationUri": 5}])
@pytest.mark.parametrize("kind", ["HTTP", "HTTP_PROXY"])
def test_uri_is_required(kind: str, fields: dict[str, object]) -> None:
    assert issues(kind, **fields) == [f"{PLACE}.integrationUri: an {kind} integration needs a URL"]


@pytest.mark.parametrize("uri", [None, "", "not a url", URL])
def test_mock_needs_no_uri(uri: str | None) -> None:
    fields = {} if uri is None else {"integrationUri": uri}
    assert issues("MOCK", **fields) == []


# --- methods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "Post"]
)
def test_good_methods(method: str) -> None:
    assert issues("HTTP", integrationUri=URL, integrationMethod=method) == []


@pytest.mark.parametrize("method", ["FETCH", "ANY", "", "POST ", "CONNECT", "TRACE"])
def test_bad_methods(method: str) -> None:
    assert issues("HTTP_PROXY", integrationUri=URL, integrationMethod=method) == [
        f"{PLACE}.integrationMethod: must be one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    ]


def test_a_method_that_is_not_a_string_is_left_to_the_model() -> None:
    assert issues("HTTP", integrationUri=URL, integrationMethod=5) == []


# --- proxy integrations take no templates -----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "places"),
    [
        ({"requestTemplates": {"$default": "x"}}, ["requestTemplates"]),
        ({"integrationResponses": {"$default": {}}}, ["integrationResponses"]),
        (
            {"requestTemplates": {"a": "x"}, "integrationResponses": {"/2\\d\\d/": {}}},
            ["requestTemplates", "integrationResponses"],
        ),
        ({"requestTemplates": {}, "integrationResponses": {}}, []),
    ],
)
def test_proxy_with_templates(fields: dict[str, object], places: list[str]) -> None:
    assert issues("HTTP_PROXY", integrationUri=URL, **fields) == [
        f"{PLACE}.{place}: proxy integrations take no templates" for place in places
    ]


@pytest.mark.parametrize("kind", ["HTTP", "MOCK"])
def test_non_proxy_integrations_take_templates(kind: str) -> None:
    fields = {
        "integrationUri": URL,
        "requestTemplates": {"$default": '{"statusCode": 200}'},
        "integrationResponses": {"$default": {"responseTemplates": {"$default": "ok"}}},
    }
    assert issues(kind, **fields) == []


# --- request templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (
            "#if($x)",
            "line 1, column 8: expected #else, #elseif or #end in if directive, got: ...",
        ),
        (
            '{"a": "#if($x)"}',
            "line 1, column 17: expected #else, #elseif or #end in if directive, got: ...",
        ),
        ("#end", "line 1, column 1: expected block element in template body, got: #end ..."),
        (
            '{"a": 1}\n  #end',
            "line 2, column 3: expected block element in template body, got: #end ...",
        ),
        ("#foreach($a in $b)", "line 1, column 19: expected #end in foreach directive, got: ..."),
        ("#set($a = )", "line 1, column 11: expected expression in set directive, got: ) ..."),
        ("$util.urlEncode(", "line 1, column 17: expected ) in parameter list, got: ..."),
        ("#include('other')", "line 1, column 1: #include is not supported"),
        ("#parse('other')", "line 1, column 1: #parse is not supported"),
        ("#evaluate('x')", "line 1, column 1: #evaluate is not supported"),
        (
            "$input.path('$..x')",
            "line 1, column 13: invalid JSONPath '$..x': unsupported JSONPath syntax at '..x'",
        ),
        (
            "{\n  \"a\": $input.json('$[')\n}",
            "line 2, column 20: invalid JSONPath '$[': unsupported JSONPath syntax at '['",
        ),
        (
            "x" * (MAX_TEMPLATE_BYTES + 1),
            f"template is {MAX_TEMPLATE_BYTES + 1} bytes; AWS allows at most "
            f"{MAX_TEMPLATE_BYTES} bytes (300 KB)",
        ),
    ],
)
def test_template_syntax_errors_with_their_place(template: str, problem: str) -> None:
    assert issues("HTTP", integrationUri=URL, requestTemplates={"application/json": template}) == [
        f"{PLACE}.requestTemplates.application/json: {problem}"
    ]


@pytest.mark.parametrize(
    "template",
    [
        "",
        '{"connection-id": "$context.connectionId", "event-type": "$context.eventType"}',
        "#if($input.path('$.a') == 1)one#{else}other#end",
        "#foreach($x in $input.path('$.items'))$x#if($foreach.hasNext),#end#end",
        "$util.escapeJavaScript($input.body) $stageVariables.color ${stageVariables['color']}",
        "x" * MAX_TEMPLATE_BYTES,
    ],
)
def test_good_templates(template: str) -> None:
    assert issues("HTTP", integrationUri=URL, requestTemplates={"$default": template}) == []


def test_every_broken_template_is_reported() -> None:
    templates = {"a": "#end", "ok": "fine", "b": "#include('x')", "c": 5}
    assert issues("MOCK", requestTemplates=templates) == [
        f"{PLACE}.requestTemplates.a: line 1, column 1: expected block element in template body, "
        "got: #end ...",
        f"{PLACE}.requestTemplates.b: line 1, column 1: #include is not supported",
    ]


@pytest.mark.parametrize("templates", ["#end", ["#end"], None])
def test_templates_that_are_not_a_mapping_are_left_to_the_model(templates: object) -> None:
    assert issues("HTTP", integrationUri=URL, requestTemplates=templates) == []


# --- template selection expressions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["default", "\\$default", "$request.body.kind", "${request.body.a.b}", "x-$request.body.v"],
)
def test_good_template_selection_expressions(expression: str) -> None:
    assert issues("HTTP", integrationUri=URL, templateSelectionExpression=expression) == []


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("$request.header.x", "unsupported variable $request.header.x; expected $request.body.*"),
        ("${request.body.a[*]}", "unsupported JSONPath syntax at '[*]'"),
        (
            "$context.connectionId",
            "unsupported variable $context.connectionId; expected $request.body.*",
        ),
    ],
)
def test_bad_template_selection_expressions(expression: str, problem: str) -> None:
    assert issues("HTTP", integrationUri=URL, templateSelectionExpression=expression) == [
        f"{PLACE}.templateSelectionExpression: {problem}"
    ]


@pytest.mark.parametrize("expression", ["$default", "${default}"])
def test_default_written_as_a_variable_suggests_the_escape(expression: str) -> None:
    assert issues("HTTP", integrationUri=URL, templateSelectionExpression=expression) == [
        f"{PLACE}.templateSelectionExpression: '{expression}' is read as a variable; "
        "write '\\$default' for the literal $default key"
    ]


def test_a_selection_expression_that_is_not_a_string_is_left_to_the_model() -> None:
    assert issues("HTTP", integrationUri=URL, templateSelectionExpression=5) == []


# --- request parameters ---------------------------------------------------------------------------


def test_good_request_parameters() -> None:
    parameters = {
        "integration.request.header.connectionId": "context.connectionId",
        "integration.request.header.X-Source-Ip": "context.identity.sourceIp",
        "integration.request.header.X-Client": "route.request.header.x-client",
        "integration.request.header.X-All": "route.request.multivalueheader.x-client",
        "integration.request.querystring.token": "route.request.querystring.token",
        "integration.request.querystring.all": "route.request.multivaluequerystring.a",
        "integration.request.querystring.user": "route.request.body.user.name",
        "integration.request.querystring.first": "route.request.body.items[0]",
        "integration.request.querystring.body": "route.request.body",
        "integration.request.path.id": "route.request.body.$.id",
        "integration.request.header.X-Color": "stageVariables.color",
        "integration.request.header.X-Static": "'a static value'",
        "integration.request.header.X-Empty": "''",
    }
    assert issues("HTTP_PROXY", integrationUri=URL, requestParameters=parameters) == []


@pytest.mark.parametrize(
    ("key", "source", "problem"),
    [
        (
            "integration.request.header.X-A",
            "bogus.source",
            f"unknown source 'bogus.source'; {EXPECTED_SOURCES}",
        ),
        (
            "integration.request.header.X-A",
            "route.request.cookie.a",
            f"unknown source 'route.request.cookie.a'; {EXPECTED_SOURCES}",
        ),
        (
            "integration.request.body.x",
            "'v'",
            "unknown target; expected integration.request.{header,querystring,path}.<name>",
        ),
        (
            "method.request.header.x",
            "'v'",
            "unknown target; expected integration.request.{header,querystring,path}.<name>",
        ),
        (
            "integration.request.header.bad name",
            "'v'",
            "invalid name 'bad name'; names must match ^[a-zA-Z0-9._$-]+$",
        ),
        (
            "integration.request.header.",
            "'v'",
            "invalid name ''; names must match ^[a-zA-Z0-9._$-]+$",
        ),
        (
            "integration.request.header.X-A",
            "stageVariables.bad/name",
            "invalid name 'bad/name'; names must match ^[a-zA-Z0-9._$-]+$",
        ),
        (
            "integration.request.querystring.q",
            "'unterminated",
            'unterminated static value "\'unterminated"',
        ),
        ("integration.request.querystring.q", "'", 'unterminated static value "\'"'),
        ("integration.request.header.X-A", "context.a b", "invalid context variable 'context.a b'"),
        ("integration.request.header.X-A", "context.", "invalid context variable 'context.'"),
        (
            "integration.request.path.p",
            "route.request.body..x",
            "invalid JSONPath '.x': recursive descent is not supported",
        ),
        (
            "integration.request.path.p",
            "route.request.body.",
            "empty JSONPath after route.request.body.",
        ),
        ("integration.request.header.X-A", "'a\nb'", "a header value cannot hold CR, LF or NUL"),
    ],
)
def test_bad_request_parameter(key: str, source: str, problem: str) -> None:
    assert issues("HTTP", integrationUri=URL, requestParameters={key: source}) == [
        f"{PLACE}.requestParameters.{key}: {problem}"
    ]


def test_every_bad_request_parameter_is_reported_with_its_key() -> None:
    parameters = {
        "integration.request.header.A": "bogus",
        "integration.request.header.ok": "context.connectionId",
        "integration.request.body.x": "'v'",
        "integration.request.header.a": "'same header, other case'",
        "integration.request.querystring.q": "'unterminated",
    }
    assert issues("MOCK", requestParameters=parameters) == [
        f"{PLACE}.requestParameters.integration.request.header.A: unknown source 'bogus'; "
        + EXPECTED_SOURCES,
        f"{PLACE}.requestParameters.integration.request.body.x: unknown target; expected "
        "integration.request.{header,querystring,path}.<name>",
        f"{PLACE}.requestParameters.integration.request.querystring.q: unterminated static value "
        '"\'unterminated"',
    ]


def test_the_same_header_twice_is_reported_at_the_second() -> None:
    parameters = {
        "integration.request.header.X-A": "'x'",
        "integration.request.header.x-a": "'y'",
    }
    assert issues("HTTP", integrationUri=URL, requestParameters=parameters) == [
        f"{PLACE}.requestParameters.integration.request.header.x-a: same header as "
        "integration.request.header.X-A (names ignore case)"
    ]


def test_parameters_that_are_not_a_mapping_are_left_to_the_model() -> None:
    assert issues("HTTP", integrationUri=URL, requestParameters="nope") == []


# --- integration responses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["$default", "/2\\d\\d/", "/4\\d{2}/", "/200|201/", "/.*/", "/5../"]
)
def test_good_integration_response_keys(key: str) -> None:
    responses = {key: {"responseTemplates": {"$default": "{\"ok\": $input.json('$.sent')}"}}}
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("2\\d\\d", "expected $default or a regex wrapped in /.../"),
        ("/2\\d\\d", "expected $default or a regex wrapped in /.../"),
        ("/", "expected $default or a regex wrapped in /.../"),
        ("default", "expected $default or a regex wrapped in /.../"),
        ("$DEFAULT", "expected $default or a regex wrapped in /.../"),
        ("/[/", "invalid regex: unterminated character set at position 0"),
        ("/(2/", "invalid regex: missing ), unterminated subpattern at position 0"),
        ("/*/", "invalid regex: nothing to repeat at position 0"),
    ],
)
def test_bad_integration_response_keys(key: str, problem: str) -> None:
    assert issues("MOCK", integrationResponses={key: {}}) == [
        f"{PLACE}.integrationResponses.{key}: {problem}"
    ]


def test_bad_response_templates_with_their_place() -> None:
    responses = {
        "/2\\d\\d/": {"responseTemplates": {"$default": "#end", "ok": "fine"}},
        "$default": {"responseTemplates": {"application/json": "$input.json('$..a')"}},
        "/4\\d\\d/": "not a mapping",
        "/5\\d\\d/": {"responseTemplates": "not a mapping"},
    }
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == [
        f"{PLACE}.integrationResponses./2\\d\\d/.responseTemplates.$default: line 1, column 1: "
        "expected block element in template body, got: #end ...",
        f"{PLACE}.integrationResponses.$default.responseTemplates.application/json: line 1, "
        "column 13: invalid JSONPath '$..a': unsupported JSONPath syntax at '..a'",
    ]


def test_bad_keys_and_templates_are_reported_together() -> None:
    responses = {"nope": {"responseTemplates": {"$default": "#end"}}, "/[/": {}}
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == [
        f"{PLACE}.integrationResponses.nope: expected $default or a regex wrapped in /.../",
        f"{PLACE}.integrationResponses./[/: invalid regex: unterminated character set at "
        "position 0",
        f"{PLACE}.integrationResponses.nope.responseTemplates.$default: line 1, column 1: "
        "expected block element in template body, got: #end ...",
    ]


def test_responses_that_are_not_a_mapping_are_left_to_the_model() -> None:
    assert issues("HTTP", integrationUri=URL, integrationResponses=["$default"]) == []


def test_bad_response_template_selection_expression() -> None:
    responses = {
        "$default": {
            "templateSelectionExpression": "${integration.response.body}",
            "responseTemplates": {"$default": "x"},
        }
    }
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == [
        f"{PLACE}.integrationResponses.$default.templateSelectionExpression: unsupported "
        "variable ${integration.response.body}; expected ${integration.response.statuscode}, "
        "${integration.response.header.<name>} or ${integration.response.multivalueheader.<name>}"
    ]


@pytest.mark.parametrize("expression", ["$default", "${default}"])
def test_default_written_as_a_variable_in_a_response(expression: str) -> None:
    responses = {"$default": {"templateSelectionExpression": expression}}
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == [
        f"{PLACE}.integrationResponses.$default.templateSelectionExpression: '{expression}' is "
        "read as a variable; write '\\$default' for the literal $default key"
    ]


def test_escaped_default_in_a_response_is_fine() -> None:
    responses = {"$default": {"templateSelectionExpression": "\\$default"}}
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == []


def test_good_response_template_selection_expression() -> None:
    responses = {
        "$default": {
            "templateSelectionExpression": "${integration.response.statuscode}",
            "responseTemplates": {"201": "created", "$default": "other"},
        }
    }
    assert issues("HTTP", integrationUri=URL, integrationResponses=responses) == []


# --- everything at once ---------------------------------------------------------------------------


def test_every_problem_of_an_integration_in_order() -> None:
    fields = {
        "integrationUri": "ftp://x",
        "integrationMethod": "FETCH",
        "requestTemplates": {"$default": "#end"},
        "templateSelectionExpression": "$request.header.x",
        "requestParameters": {"integration.request.header.A": "bogus"},
        "integrationResponses": {"x": {}},
    }
    places = [issue.path for issue in backend_issues(PLACE, "HTTP_PROXY", fields)]
    assert places == [
        f"{PLACE}.integrationUri",
        f"{PLACE}.integrationMethod",
        f"{PLACE}.requestTemplates",
        f"{PLACE}.integrationResponses",
        f"{PLACE}.requestTemplates.$default",
        f"{PLACE}.templateSelectionExpression",
        f"{PLACE}.requestParameters.integration.request.header.A",
        f"{PLACE}.integrationResponses.x",
    ]


# --- expression_issues ----------------------------------------------------------------------------

DEFAULT_HINT = "is read as a variable; write '\\$default' for the literal $default key"


@pytest.mark.parametrize(
    ("expression", "compiler", "found"),
    [
        ("$request.body.action", compile_expression, []),
        ("\\$default", compile_expression, []),
        ("\\$default", compile_response_expression, []),
        ("${integration.response.statuscode}", compile_response_expression, []),
        ("$default", compile_expression, [f"x: '$default' {DEFAULT_HINT}"]),
        ("${default}", compile_expression, [f"x: '${{default}}' {DEFAULT_HINT}"]),
        ("$default", compile_response_expression, [f"x: '$default' {DEFAULT_HINT}"]),
        # Only the whole key gets the hint; elsewhere $default is an unknown variable like any.
        (
            "$default-v2",
            compile_expression,
            ["x: unsupported variable $default-v2; expected $request.body.*"],
        ),
        (
            "$request.body.action",
            compile_response_expression,
            ["x: unsupported variable $request.body.action; expected $integration.response.*"],
        ),
    ],
)
def test_expression_issues(
    expression: str, compiler: Callable[[str], object], found: list[str]
) -> None:
    assert [str(issue) for issue in expression_issues("x", expression, compiler)] == found


def test_expression_issues_compile_request_expressions_by_default() -> None:
    assert expression_issues("x", "$request.header.a") == [
        ConfigIssue("x", "unsupported variable $request.header.a; expected $request.body.*")
    ]


# --- config_warnings ------------------------------------------------------------------------------

WARNING_BASE: dict[str, object] = {
    "name": "chat",
    "routeSelectionExpression": "$request.body.action",
    "stages": {"prod": {}},
    "routes": {"$default": {"target": "m"}},
}


def warnings(**fields: object) -> list[str]:
    config = ApiConfig.model_validate(WARNING_BASE | fields)
    return [str(warning) for warning in config_warnings(config)]


def mock(**fields: object) -> dict[str, object]:
    return {"m": {"integrationType": "MOCK", **fields}}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"routeSelectionExpression": "action"},
        {"routeSelectionExpression": "\\$default"},
        {"routeSelectionExpression": "${request.body.action}"},
        {"routeSelectionExpression": "request-$request.body.action"},
        {"routeSelectionExpression": "requests.body.action"},
        {"routeSelectionExpression": "Request.body.action"},
        {"routeSelectionExpression": "request"},
        {"routeSelectionExpression": "{{request.body.action}}"},
        {"integrations": mock(templateSelectionExpression="application/json")},
        {"integrations": mock(templateSelectionExpression="$request.body.type")},
        {"integrations": mock(integrationResponseSelectionExpression="$integration.response.x")},
        {"integrations": mock(integrationResponses={"$default": {}})},
        {"routes": {"a": {"routeResponseSelectionExpression": "$default"}}},
        {"routes": {"a": {"routeResponses": {"$default": {"modelSelectionExpression": "m"}}}}},
    ],
)
def test_no_warnings(fields: dict[str, object]) -> None:
    assert warnings(**fields) == []


@pytest.mark.parametrize(
    ("expression", "suggestion"),
    [
        ("request.body.action", "$request.body.action"),
        ("request.body", "$request.body"),
        ("context.routeKey", "$context.routeKey"),
        ("stageVariables.route", "$stageVariables.route"),
        ("integration.response.statuscode", "$integration.response.statuscode"),
        ("{request.body.action}", "${request.body.action}"),
    ],
)
def test_route_selection_expression_without_its_dollar(expression: str, suggestion: str) -> None:
    assert warnings(routeSelectionExpression=expression) == [
        f"routeSelectionExpression: '{expression}' has no '$', so it is a constant: every message "
        f"goes to $default; did you mean '{suggestion}'?"
    ]


def test_route_selection_expression_without_its_dollar_and_no_default_route() -> None:
    assert warnings(routeSelectionExpression="request.body.action", routes={"a": {}}) == [
        "routeSelectionExpression: 'request.body.action' has no '$', so it is a constant: "
        "no message matches a route, and there is no $default route; "
        "did you mean '$request.body.action'?"
    ]


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        (
            {"integrations": mock(templateSelectionExpression="request.body.type")},
            "integrations.m.templateSelectionExpression: 'request.body.type' has no '$', so it "
            "is a constant: every message gets the same request template; "
            "did you mean '$request.body.type'?",
        ),
        (
            {
                "integrations": mock(
                    integrationResponses={
                        "/2\\d\\d/": {
                            "templateSelectionExpression": "integration.response.statuscode"
                        }
                    }
                )
            },
            "integrations.m.integrationResponses./2\\d\\d/.templateSelectionExpression: "
            "'integration.response.statuscode' has no '$', so it is a constant: every response "
            "gets the same response template; did you mean '$integration.response.statuscode'?",
        ),
        (
            {
                "integrations": mock(
                    integrationResponseSelectionExpression="integration.response.statuscode"
                )
            },
            "integrations.m.integrationResponseSelectionExpression: "
            "'integration.response.statuscode' has no '$', so it is a constant; "
            "did you mean '$integration.response.statuscode'?",
        ),
        (
            # The loader refuses anything but $default here; other doors may not.
            {"routes": {"a": {"routeResponseSelectionExpression": "request.body.reply"}}},
            "routes.a.routeResponseSelectionExpression: 'request.body.reply' has no '$', so it "
            "is a constant; did you mean '$request.body.reply'?",
        ),
        (
            {
                "routes": {
                    "a": {
                        "routeResponses": {
                            "$default": {"modelSelectionExpression": "request.body.model"}
                        }
                    }
                }
            },
            "routes.a.routeResponses.$default.modelSelectionExpression: 'request.body.model' has "
            "no '$', so it is a constant; did you mean '$request.body.model'?",
        ),
    ],
)
def test_other_selection_expressions_without_their_dollar(
    fields: dict[str, object], warning: str
) -> None:
    assert warnings(**fields) == [warning]


def test_every_warning_in_order() -> None:
    found = warnings(
        routeSelectionExpression="request.body.action",
        routes={
            "$default": {
                "routeResponseSelectionExpression": "context.x",
                "routeResponses": {"$default": {"modelSelectionExpression": "context.y"}},
            }
        },
        integrations=mock(
            templateSelectionExpression="request.body.a",
            integrationResponseSelectionExpression="integration.b",
            integrationResponses={"$default": {"templateSelectionExpression": "integration.c"}},
        ),
    )
    assert [warning.partition(":")[0] for warning in found] == [
        "routeSelectionExpression",
        "routes.$default.routeResponseSelectionExpression",
        "routes.$default.routeResponses.$default.modelSelectionExpression",
        "integrations.m.templateSelectionExpression",
        "integrations.m.integrationResponseSelectionExpression",
        "integrations.m.integrationResponses.$default.templateSelectionExpression",
    ]


# --- request validation ----------------------------------------------------------------------


def test_model_selection_expression_without_its_dollar() -> None:
    route = {"modelSelectionExpression": "request.body.kind", "requestModels": {}}
    assert warnings(routes={"a": route}) == [
        "routes.a.modelSelectionExpression: 'request.body.kind' has no '$', so it is a "
        "constant: every message of the route is validated against the same model; "
        "did you mean '$request.body.kind'?"
    ]


@pytest.mark.parametrize(
    ("routes", "warning"),
    [
        (
            {"a": {"requestModels": {"$default": "M"}}},
            "routes.a.requestModels: no modelSelectionExpression: messages are not validated, "
            "as on AWS",
        ),
        (
            {"$connect": {"modelSelectionExpression": "\\$default"}},
            "routes.$connect.modelSelectionExpression: $connect has no message body: nothing is "
            "validated",
        ),
    ],
)
def test_request_models_that_validate_nothing(routes: dict[str, object], warning: str) -> None:
    models = {"M": {"schema": "{}"}}
    assert warnings(routes=routes, models=models) == [warning]


def test_validated_routes_warn_of_nothing() -> None:
    route = {"modelSelectionExpression": "$request.body.action", "requestModels": {"a": "M"}}
    assert warnings(routes={"a": route}, models={"M": {"schema": {"type": "object"}}}) == []


@pytest.mark.parametrize(
    ("models", "routes", "expected"),
    [
        ({"Chat": {"schema": {"type": "object"}}}, {}, []),
        ({"Chat": {"schema": '{"type": "object"}'}}, {"r": "not a mapping"}, []),
        ({"Chat": {}}, {}, []),  # the model reports the missing schema
        ({"Chat": "not a mapping"}, {}, []),
        (
            {"Chat": {"schema": {"type": "thing"}}},
            {},
            ["models.Chat.schema: not a valid draft 4 schema at '/type': "],
        ),
        (
            {"Chat": {"schema": "{"}},
            {},
            ["models.Chat.schema: the schema is not JSON: "],
        ),
        (
            {"chat-model": {"schema": {}}},
            {},
            ["models.chat-model: model names are 1-128 letters or digits"],
        ),
        (
            {},
            {"r": {"modelSelectionExpression": "$default", "requestModels": {"$default": "Nope"}}},
            [
                "routes.r.modelSelectionExpression: '$default' is read as a variable; write "
                "'\\$default' for the literal $default key",
                "routes.r.requestModels.$default: no model named 'Nope'",
            ],
        ),
        (
            {},
            {"r": {"modelSelectionExpression": "$request.header.x"}},
            ["routes.r.modelSelectionExpression: unsupported variable $request.header.x; "],
        ),
    ],
)
def test_model_issues(
    models: dict[str, object], routes: dict[str, object], expected: list[str]
) -> None:
    found = [str(issue) for issue in model_issues(models, routes)]
    assert len(found) == len(expected)
    for issue, start in zip(found, expected, strict=True):
        assert issue.startswith(start), issue
