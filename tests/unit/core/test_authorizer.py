"""Lambda REQUEST authorizers on $connect (§6 of the AWS reference)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponseWebSocket,
    parse_api_gateway_arn,
)
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketConnectEventRequestContext,
)
from pydantic import BaseModel, ConfigDict

from wsgate.core.authorizer import (
    MAX_RESULT_BYTES,
    MISSING_IDENTITY,
    AuthorizerCache,
    AuthorizerDecision,
    AuthorizerResult,
    authorizer_context_for_event,
    build_authorizer_event,
    compile_identity_sources,
    decide,
    decide_failure,
    identity_values,
    method_arn,
    parse_authorizer_result,
)
from wsgate.core.events import (
    ConnectionFacts,
    Handshake,
    build_connect_event,
    build_message_event,
    template_context,
)
from wsgate.core.mapping import MappingError, Problem
from wsgate.errors import (
    AuthorizationError,
    AuthorizerResultError,
    FunctionError,
    IntegrationTimeout,
    IntegrationUnavailable,
    PolicyError,
)

_DOMAIN = "abc123defg.execute-api.us-east-1.amazonaws.com"
_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/$connect"
_FACTS = ConnectionFacts(
    connection_id="Xa1bC0zyIAMCKlQ=",
    connected_at=1707503007396,
    source_ip="203.0.113.7",
    user_agent=None,
    api_id="abc123defg",
    stage="prod",
    domain_name=_DOMAIN,
)
_HANDSHAKE = Handshake(
    headers=[
        ("Host", _DOMAIN),
        ("Connection", "upgrade"),
        ("Upgrade", "websocket"),
        ("Authorization", "Bearer t0k"),
        ("Sec-WebSocket-Key", "k1=="),
        ("Sec-WebSocket-Version", "13"),
    ],
    query=[],
    trace_id="Root=1-65c66d9f-000102030405060708090a0b",
)
_NOW = 1707503007401
_REQUEST_ID = "Xa1bC2dEIAMF3gh="
_ALLOW = {
    "Version": "2012-10-17",
    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _ARN}],
}
_DENY = {"Statement": {"Action": "execute-api:*", "Effect": "Deny", "Resource": "*"}}
_OTHER_ROUTE = {"Statement": {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "x:y"}}


def _result(**fields):
    return {"principalId": "user-123", "policyDocument": _ALLOW, **fields}


def _event(facts=_FACTS, handshake=_HANDSHAKE):
    return build_authorizer_event(
        facts, handshake, method_arn=_ARN, request_id=_REQUEST_ID, now_ms=_NOW
    )


# --- method ARN -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "arn"),
    [
        (("us-east-1", "123456789012", "abc123defg", "prod", "$connect"), _ARN),
        (
            ("eu-west-1", "000000000000", "api", "dev", "sendmessage"),
            "arn:aws:execute-api:eu-west-1:000000000000:api/dev/sendmessage",
        ),
        (
            ("cn-north-1", "1", "a", "s", "$default", "aws-cn"),
            "arn:aws-cn:execute-api:cn-north-1:1:a/s/$default",
        ),
    ],
)
def test_method_arn(args, arn):
    assert method_arn(*args) == arn


def test_method_arn_parses_as_powertools_parses_websocket_arns():
    parsed = parse_api_gateway_arn(method_arn("us-east-1", "1", "api", "prod", "$connect"), True)
    assert (parsed.region, parsed.aws_account_id, parsed.api_id) == ("us-east-1", "1", "api")
    assert (parsed.stage, parsed.resource, parsed.http_method) == ("prod", "$connect", None)


# --- identity sources -------------------------------------------------------------------------

_CONTEXT = template_context(_FACTS, "$connect", "CONNECT", _REQUEST_ID, _NOW)
_HEADERS = (("Authorization", "Bearer t0k"), ("X-Multi", "a"), ("x-multi", "b"), ("X-Empty", ""))
_QUERY = (("token", "q"), ("Token", "Q"), ("empty", ""))
_STAGE_VARIABLES = {"key": "sv", "blank": ""}


@pytest.mark.parametrize(
    ("expressions", "values"),
    [
        ([], ()),
        (["route.request.header.Authorization"], ("Bearer t0k",)),
        (["route.request.header.authorization"], ("Bearer t0k",)),
        (["route.request.header.AUTHORIZATION"], ("Bearer t0k",)),
        (["route.request.header.X-Multi"], ("b",)),  # the last value, as single-value maps
        (["route.request.querystring.token"], ("q",)),
        (["route.request.querystring.Token"], ("Q",)),  # query names are case-sensitive
        (["stageVariables.key"], ("sv",)),
        (["context.connectionId"], ("Xa1bC0zyIAMCKlQ=",)),
        (["context.identity.sourceIp"], ("203.0.113.7",)),
        (["context.requestTimeEpoch"], (str(_NOW),)),
        (["context.stage", "context.apiId", "context.domainName"], ("prod", "abc123defg", _DOMAIN)),
        (
            [
                "route.request.querystring.token",
                "route.request.header.authorization",
                "stageVariables.key",
            ],
            ("q", "Bearer t0k", "sv"),
        ),
        (
            ["route.request.header.Authorization", "route.request.header.Authorization"],
            ("Bearer t0k",) * 2,
        ),
        # Missing, null or empty: None, so the gateway answers 401 without a call.
        (["route.request.header.Missing"], None),
        (["route.request.header.X-Empty"], None),
        (["route.request.querystring.TOKEN"], None),
        (["route.request.querystring.empty"], None),
        (["stageVariables.nope"], None),
        (["stageVariables.blank"], None),
        (["context.nothing"], None),
        (["context.identity"], None),  # a group, not a variable
        (["context.identity.userAgent"], None),  # absent without a User-Agent
        (["route.request.header.Authorization", "route.request.header.Missing"], None),
        (["route.request.header.Missing", "route.request.header.Authorization"], None),
    ],
)
def test_identity_values(expressions, values):
    sources = compile_identity_sources(expressions)
    assert sources.expressions == tuple(expressions)
    assert identity_values(sources, _HEADERS, _QUERY, _STAGE_VARIABLES, _CONTEXT) == values


def test_identity_values_with_null_context_value():
    sources = compile_identity_sources(["context.identity.apiKey"])
    context = {**_CONTEXT, "identity": {"sourceIp": "1.2.3.4", "apiKey": None}}
    assert identity_values(sources, (), (), {}, context) is None


_EXPECTED = (
    "identity sources must be route.request.header.<name>, route.request.querystring.<name>, "
    "stageVariables.<name> or context.<name>"
)


@pytest.mark.parametrize(
    ("expressions", "problems"),
    [
        (["'static'"], [Problem("0", f"\"'static'\": {_EXPECTED}")]),
        (["route.request.body.token"], [Problem("0", f"'route.request.body.token': {_EXPECTED}")]),
        (["route.request.body"], [Problem("0", f"'route.request.body': {_EXPECTED}")]),
        (
            ["route.request.multivalueheader.Auth"],
            [Problem("0", f"'route.request.multivalueheader.Auth': {_EXPECTED}")],
        ),
        (
            ["route.request.multivaluequerystring.t"],
            [Problem("0", f"'route.request.multivaluequerystring.t': {_EXPECTED}")],
        ),
        (
            ["route.request.header.Auth", "method.request.header.Auth"],
            [
                Problem(
                    "1",
                    "unknown source 'method.request.header.Auth'; expected route.request."
                    "{header,multivalueheader,querystring,multivaluequerystring}.<name>, "
                    "route.request.body.<JSONPath>, context.<name>, stageVariables.<name> "
                    "or a 'static' value",
                )
            ],
        ),
        (
            ["route.request.header.bad name"],
            [Problem("0", "invalid name 'bad name'; names must match ^[a-zA-Z0-9._$-]+$")],
        ),
        (["context."], [Problem("0", "invalid context variable 'context.'")]),
        (
            # Every bad entry is reported, in order, whatever went wrong with it.
            ["stageVariables.ok", "'x'", "route.request.header.", "context.a..b"],
            [
                Problem("1", f"\"'x'\": {_EXPECTED}"),
                Problem("2", "invalid name ''; names must match ^[a-zA-Z0-9._$-]+$"),
                Problem("3", "invalid context variable 'context.a..b'"),
            ],
        ),
    ],
)
def test_bad_identity_sources(expressions, problems):
    with pytest.raises(MappingError) as caught:
        compile_identity_sources(expressions)
    assert list(caught.value.problems) == problems
    assert isinstance(caught.value, ValueError)


# --- the event --------------------------------------------------------------------------------


def test_authorizer_event_matches_the_captured_shape():
    assert _event() == {
        "type": "REQUEST",
        "methodArn": _ARN,
        "headers": {
            "Host": _DOMAIN,
            "Authorization": "Bearer t0k",
            "Sec-WebSocket-Key": "k1==",
            "Sec-WebSocket-Version": "13",
            "X-Amzn-Trace-Id": "Root=1-65c66d9f-000102030405060708090a0b",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
            "Connection": "upgrade",
            "Upgrade": "websocket",
            "content-length": "0",
        },
        "multiValueHeaders": {
            "Host": [_DOMAIN],
            "Authorization": ["Bearer t0k"],
            "Sec-WebSocket-Key": ["k1=="],
            "Sec-WebSocket-Version": ["13"],
            "X-Amzn-Trace-Id": ["Root=1-65c66d9f-000102030405060708090a0b"],
            "X-Forwarded-For": ["203.0.113.7"],
            "X-Forwarded-Port": ["443"],
            "X-Forwarded-Proto": ["https"],
            "Connection": ["upgrade"],
            "Upgrade": ["websocket"],
            "content-length": ["0"],
        },
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": _REQUEST_ID,
            "requestTime": "09/Feb/2024:18:23:27 +0000",
            "messageDirection": "IN",
            "stage": "prod",
            "connectedAt": 1707503007396,
            "requestTimeEpoch": _NOW,
            "identity": {"sourceIp": "203.0.113.7"},
            "requestId": _REQUEST_ID,
            "domainName": _DOMAIN,
            "connectionId": "Xa1bC0zyIAMCKlQ=",
            "apiId": "abc123defg",
        },
    }


# Keys of the WebSocket authorizer event powertools captured from AWS
# (tests/events/apiGatewayAuthorizerWebSocketEvent.json in aws-powertools/powertools-lambda-python).
_CAPTURED_KEYS = [
    "type",
    "methodArn",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "stageVariables",
    "requestContext",
]
_CAPTURED_CONTEXT_KEYS = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
}


class _WebSocketAuthorizerEvent(BaseModel):
    """Powertools has no WebSocket authorizer model (its ApiGatewayAuthorizerRequest is the REST
    one: resource, path, httpMethod); this is its CONNECT model's pieces plus §6.2's keys."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["REQUEST"]
    methodArn: str
    headers: dict[str, str]
    multiValueHeaders: dict[str, list[str]]
    queryStringParameters: dict[str, str]
    multiValueQueryStringParameters: dict[str, list[str]]
    stageVariables: dict[str, str]
    requestContext: APIGatewayWebSocketConnectEventRequestContext


_UA_FACTS = _FACTS._replace(user_agent="Mozilla/5.0")
_QUERY_HANDSHAKE = _HANDSHAKE._replace(query=[("token", "a"), ("token", "b")])
_STAGE_FACTS = _FACTS._replace(stage_variables={"fn": "chat"})


@pytest.mark.parametrize(
    ("facts", "handshake"),
    [
        (_FACTS, _HANDSHAKE),
        (_UA_FACTS, _HANDSHAKE),
        (_FACTS, _QUERY_HANDSHAKE),
        (_STAGE_FACTS, _HANDSHAKE),
        (_FACTS._replace(source_ip="2001:db8::1"), _HANDSHAKE),
    ],
)
def test_authorizer_event_validates_against_powertools(facts, handshake):
    event = _event(facts, handshake)
    assert list(event) == _CAPTURED_KEYS
    assert set(event["requestContext"]) - {"identity"} <= _CAPTURED_CONTEXT_KEYS
    model = _WebSocketAuthorizerEvent.model_validate(event)
    assert model.requestContext.route_key == "$connect"
    assert model.requestContext.connection_id == facts.connection_id
    wrapped = APIGatewayAuthorizerRequestEvent(event)
    assert wrapped.get_type == "REQUEST"
    assert wrapped.method_arn == _ARN
    assert wrapped.headers.get("authorization") == "Bearer t0k"
    assert wrapped.request_context.request_id == _REQUEST_ID
    assert (wrapped.request_context.api_id, wrapped.request_context.stage) == ("abc123defg", "prod")
    assert parse_api_gateway_arn(wrapped.method_arn, is_websocket_authorizer=True).resource == (
        "$connect"
    )
    assert json.loads(json.dumps(event)) == event


@pytest.mark.parametrize(
    ("facts", "handshake"),
    [(_FACTS, _HANDSHAKE), (_UA_FACTS, _QUERY_HANDSHAKE), (_STAGE_FACTS, _HANDSHAKE)],
)
def test_authorizer_event_shares_the_connect_event(facts, handshake):
    event = _event(facts, handshake)
    connect = build_connect_event(facts, handshake, _REQUEST_ID, _NOW)
    assert event["requestContext"] == connect["requestContext"]
    assert event["queryStringParameters"] == connect.get("queryStringParameters", {})
    assert event["multiValueQueryStringParameters"] == connect.get(
        "multiValueQueryStringParameters", {}
    )
    assert event["stageVariables"] == connect.get("stageVariables", {})
    # Every header the integration sees, the authorizer sees too.
    assert connect["headers"].items() <= event["headers"].items()
    APIGatewayWebSocketConnectEventModel.model_validate(connect)


def test_authorizer_event_query_and_stage_variables():
    event = _event(_STAGE_FACTS, _QUERY_HANDSHAKE)
    assert event["queryStringParameters"] == {"token": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["a", "b"]}
    assert event["stageVariables"] == {"fn": "chat"}
    assert event["requestContext"]["identity"] == {"sourceIp": "203.0.113.7"}
    assert _event(_UA_FACTS)["requestContext"]["identity"] == {
        "sourceIp": "203.0.113.7",
        "userAgent": "Mozilla/5.0",
    }


def test_authorizer_event_has_no_authorizer_context():
    facts = _FACTS._replace(authorizer={"principalId": "stale"})
    assert "authorizer" not in _event(facts)["requestContext"]


@pytest.mark.parametrize(
    ("headers", "single", "multi"),
    [
        # The client's own content-length is kept, in its casing.
        ([("Content-Length", "0")], {"Content-Length": "0"}, {"Content-Length": ["0"]}),
        # Repeated hop headers fold like the others.
        (
            [("Connection", "keep-alive"), ("connection", "Upgrade"), ("content-length", "0")],
            {"Connection": "keep-alive", "connection": "Upgrade", "content-length": "0"},
            {"Connection": ["keep-alive"], "connection": ["Upgrade"], "content-length": ["0"]},
        ),
        ([("UPGRADE", "websocket"), ("Upgrade", "h2c")], None, None),
    ],
)
def test_authorizer_event_hop_headers(headers, single, multi):
    event = _event(handshake=_HANDSHAKE._replace(headers=[("Host", _DOMAIN), *headers]))
    added = {"Host", "X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"}
    rest = {k: v for k, v in event["headers"].items() if k not in added}
    rest_multi = {k: v for k, v in event["multiValueHeaders"].items() if k not in added}
    if single is None:
        single = {"UPGRADE": "websocket", "Upgrade": "h2c", "content-length": "0"}
        multi = {"UPGRADE": ["websocket"], "Upgrade": ["h2c"], "content-length": ["0"]}
    assert rest == single
    assert rest_multi == multi


# --- results and decisions --------------------------------------------------------------------


def test_parse_authorizer_result():
    raw = _result(context={"tenant": "acme", "level": 3, "admin": False}, usageIdentifierKey="k")
    result = parse_authorizer_result(raw)
    assert result.principal_id == "user-123"
    assert dict(result.context) == {"tenant": "acme", "level": 3, "admin": False}
    assert result.usage_identifier_key == "k"
    assert result.policy.evaluate(_ARN) == "allow"
    with pytest.raises(TypeError):
        result.context["x"] = 1  # type: ignore[index]
    raw["context"]["tenant"] = "changed"
    assert result.context["tenant"] == "acme"


@pytest.mark.parametrize(
    ("raw", "context", "key"),
    [
        (_result(), {}, None),
        (_result(context=None), {}, None),
        (_result(context={}), {}, None),
        (_result(context={"n": None, "f": 1.5, "z": 0}), {"n": None, "f": 1.5, "z": 0}, None),
        (_result(usageIdentifierKey=None), {}, None),
        (_result(usageIdentifierKey=""), {}, ""),
        ({**_result(), "principalId": ""}, {}, None),
    ],
)
def test_parse_authorizer_result_optional_fields(raw, context, key):
    result = parse_authorizer_result(raw)
    assert dict(result.context) == context
    assert result.usage_identifier_key == key


def test_powertools_websocket_response_is_understood():
    response = APIGatewayAuthorizerResponseWebSocket.from_route_arn(
        _ARN, principal_id="user", context={"tenant": "acme", "n": 1}, usage_identifier_key="k"
    )
    response.allow_route("$connect")
    decision = decide(response.asdict(), _ARN)
    assert (decision.status, decision.allowed) == (200, True)
    assert decision.result is not None
    assert authorizer_context_for_event(decision.result) == {
        "principalId": "user",
        "tenant": "acme",
        "n": "1",
    }


def _deep(depth: int) -> list[Any]:
    """A list nested ``depth`` deep, as only an in-process authorizer can return it."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _padded(size):
    """A valid result whose compact JSON is exactly ``size`` bytes."""
    raw = _result(context={"pad": ""})
    base = len(json.dumps(raw, separators=(",", ":")).encode())
    raw["context"]["pad"] = "x" * (size - base)
    return raw


_CASES = [
    # Policy decisions.
    (_result(), 200, f"the policy allows {_ARN}"),
    (_result(policyDocument=_DENY), 403, f"the policy explicitly denies {_ARN}"),
    (_result(policyDocument=_OTHER_ROUTE), 403, f"no policy statement allows {_ARN}"),
    (_result(policyDocument={"Statement": []}), 403, f"no policy statement allows {_ARN}"),
    (_padded(MAX_RESULT_BYTES), 200, f"the policy allows {_ARN}"),
    # Unauthorized.
    ("Unauthorized", 401, "the authorizer returned Unauthorized"),
    # Invalid output: 500, each with its own reason.
    ("unauthorized", 500, "invalid authorizer result: the result must be an object, got string"),
    (None, 500, "invalid authorizer result: the result must be an object, got null"),
    ([_result()], 500, "invalid authorizer result: the result must be an object, got array"),
    (True, 500, "invalid authorizer result: the result must be an object, got boolean"),
    ({}, 500, "invalid authorizer result: principalId is missing"),
    ({**_result(), "principalId": None}, 500, "invalid authorizer result: principalId is missing"),
    (
        {**_result(), "principalId": 123},
        500,
        "invalid authorizer result: principalId must be a string, got number",
    ),
    ({"principalId": "u"}, 500, "invalid authorizer result: policyDocument is missing"),
    (_result(policyDocument={}), 500, "invalid policy document: Statement is missing"),
    (
        _result(policyDocument=None),
        500,
        "invalid policy document: the document must be an object, got null",
    ),
    (_result(context=[]), 500, "invalid authorizer result: context must be an object, got array"),
    (_result(context="x"), 500, "invalid authorizer result: context must be an object, got string"),
    (
        _result(context={"a": {"b": 1}}),
        500,
        "invalid authorizer result: context.a must be a string, number or boolean, got object",
    ),
    (
        _result(context={"ok": 1, "list": [1]}),
        500,
        "invalid authorizer result: context.list must be a string, number or boolean, got array",
    ),
    (
        _result(usageIdentifierKey=5),
        500,
        "invalid authorizer result: usageIdentifierKey must be a string, got number",
    ),
    (
        _padded(MAX_RESULT_BYTES + 1),
        500,
        "invalid authorizer result: 8193 bytes of JSON, over the 8192 limit",
    ),
    # Bytes, not characters: "é" is two bytes of UTF-8.
    (
        _result(context={"pad": "é" * 4000}),
        500,
        "invalid authorizer result: 8233 bytes of JSON, over the 8192 limit",
    ),
    (
        _result(context={"s": {1, 2}}),
        500,
        "invalid authorizer result: the result is not JSON: "
        "Object of type set is not JSON serializable",
    ),
    (
        _result(context={"nan": float("nan")}),
        500,
        "invalid authorizer result: the result is not JSON: "
        "Out of range float values are not JSON compliant",
    ),
    # Found by fuzzing: an in-process authorizer's nesting raised RecursionError out of decide().
    (
        _result(context={"deep": _deep(5000)}),
        500,
        "invalid authorizer result: the result nests too deeply to be JSON",
    ),
    # Found by the long campaign: a lone surrogate (json.loads makes one of "\udc00").
    (
        _result(context={"a": "x\udc00"}),
        500,
        "invalid authorizer result: the result is not JSON: surrogates not allowed",
    ),
]


@pytest.mark.parametrize(("raw", "status", "reason"), _CASES)
def test_decide(raw, status, reason):
    decision = decide(raw, _ARN)
    assert (decision.status, decision.reason) == (status, reason)
    assert decision.allowed is (status == 200)
    assert (decision.result is not None) is (status in (200, 403))


def test_every_outcome_has_its_own_reason():
    outcomes = [
        decide(_result(), _ARN),
        decide(_result(policyDocument=_DENY), _ARN),
        decide(_result(policyDocument=_OTHER_ROUTE), _ARN),
        decide("Unauthorized", _ARN),
        decide_failure(FunctionError("auth", "Error", "Unauthorized")),
        MISSING_IDENTITY,
        decide(None, _ARN),
        decide({}, _ARN),
        decide({**_result(), "principalId": 1}, _ARN),
        decide({"principalId": "u"}, _ARN),
        decide(_result(policyDocument={}), _ARN),
        decide(_result(context=[]), _ARN),
        decide(_result(context={"a": []}), _ARN),
        decide(_result(usageIdentifierKey=1), _ARN),
        decide(_padded(MAX_RESULT_BYTES + 1), _ARN),
        decide(_result(context={"s": {1}}), _ARN),
        decide(_result(context={"deep": _deep(5000)}), _ARN),
        decide(_result(context={"a": "\udc00"}), _ARN),
        decide_failure(IntegrationTimeout("auth", "no answer")),
    ]
    reasons = [outcome.reason for outcome in outcomes]
    assert len(set(reasons)) == len(reasons)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("Unauthorized", AuthorizerResultError),
        (_result(context=[1]), AuthorizerResultError),
        (_result(policyDocument=[]), PolicyError),
    ],
)
def test_parse_authorizer_result_raises(raw, error):
    with pytest.raises(error) as caught:
        parse_authorizer_result(raw)
    assert isinstance(caught.value, AuthorizationError)


def test_result_too_large_is_checked_before_anything_else():
    with pytest.raises(AuthorizerResultError, match="over the 8192 limit"):
        parse_authorizer_result({"junk": "x" * MAX_RESULT_BYTES})


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (FunctionError("auth", "Error", "Unauthorized"), 401, "the authorizer raised Unauthorized"),
        (
            FunctionError("auth", "Exception", "Unauthorized", ["tb"]),
            401,
            "the authorizer raised Unauthorized",
        ),
        (
            FunctionError("auth", "Error", "unauthorized"),
            500,
            "the authorizer failed: integration 'auth': Error: unauthorized",
        ),
        (
            FunctionError("auth", "KeyError", "'token'"),
            500,
            "the authorizer failed: integration 'auth': KeyError: 'token'",
        ),
        (
            IntegrationTimeout("auth", "Unauthorized"),
            500,
            "the authorizer failed: integration 'auth': Unauthorized",
        ),
        (
            IntegrationUnavailable("auth", "worker died"),
            500,
            "the authorizer failed: integration 'auth': worker died",
        ),
    ],
)
def test_decide_failure(error, status, reason):
    decision = decide_failure(error)
    assert (decision.status, decision.reason, decision.result) == (status, reason, None)
    assert not decision.allowed


def test_missing_identity_decision():
    assert MISSING_IDENTITY == AuthorizerDecision(401, "an identity source is missing or empty")
    assert not MISSING_IDENTITY.allowed


# --- requestContext.authorizer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, {"principalId": "user-123"}),
        (
            {"tenant": "acme", "level": 3, "admin": False, "ok": True, "ratio": 1.5, "zero": 0},
            {
                "principalId": "user-123",
                "tenant": "acme",
                "level": "3",
                "admin": "false",
                "ok": "true",
                "ratio": "1.5",
                "zero": "0",
            },
        ),
        ({"nothing": None, "empty": ""}, {"principalId": "user-123", "nothing": None, "empty": ""}),
        # principalId is the authorizer's, not a context key's.
        ({"principalId": "spoof", "a": "b"}, {"principalId": "user-123", "a": "b"}),
    ],
)
def test_authorizer_context_for_event(context, expected):
    result = parse_authorizer_result(_result(context=context))
    assert authorizer_context_for_event(result) == expected
    assert next(iter(authorizer_context_for_event(result))) == "principalId"


def test_authorizer_context_reaches_every_event():
    result = parse_authorizer_result(_result(context={"tenant": "acme", "level": 3}))
    facts = _FACTS._replace(authorizer=authorizer_context_for_event(result))
    expected = {"principalId": "user-123", "tenant": "acme", "level": "3"}
    assert (
        build_connect_event(facts, _HANDSHAKE, _REQUEST_ID, _NOW)["requestContext"]["authorizer"]
        == expected
    )
    message = build_message_event(
        facts, "$default", "hi", is_base64_encoded=False, request_id="r", message_id="m", now_ms=1
    )
    assert message["requestContext"]["authorizer"] == expected


# --- cache ------------------------------------------------------------------------------------

_ALLOWED = decide(_result(), _ARN)
_DENIED = decide(_result(policyDocument=_DENY), _ARN)
_UNAUTHORIZED = decide("Unauthorized", _ARN)
_BROKEN = decide({}, _ARN)


def test_cache_keeps_a_decision_until_it_expires():
    cache = AuthorizerCache(ttl_seconds=300, max_entries=10)
    cache.put(("tok",), _ALLOWED, now=100.0)
    cache.put(("bad",), _DENIED, now=100.0)
    assert cache.get(("tok",), 100.0) is _ALLOWED
    assert cache.get(("tok",), 399.999) is _ALLOWED
    assert cache.get(("bad",), 399.0) is _DENIED
    assert cache.get(("other",), 100.0) is None
    assert len(cache) == 2
    assert cache.get(("tok",), 400.0) is None  # expiry is exclusive
    assert len(cache) == 1
    assert cache.get(("tok",), 100.0) is None  # gone, even for an earlier clock


@pytest.mark.parametrize(
    ("ttl", "key", "decision"),
    [
        (0, ("tok",), _ALLOWED),  # caching off
        (300, ("tok",), _UNAUTHORIZED),  # no result: ask again next time
        (300, ("tok",), _BROKEN),
        (300, (), _ALLOWED),  # no identity sources: one entry would serve every client
    ],
)
def test_cache_skips(ttl, key, decision):
    cache = AuthorizerCache(ttl_seconds=ttl)
    cache.put(key, decision, now=0.0)
    assert cache.get(key, 0.0) is None
    assert len(cache) == 0


def test_cache_evicts_the_oldest_entry():
    cache = AuthorizerCache(ttl_seconds=60, max_entries=2)
    cache.put(("a",), _ALLOWED, now=0.0)
    cache.put(("b",), _ALLOWED, now=1.0)
    cache.put(("c",), _DENIED, now=2.0)
    assert len(cache) == 2
    assert cache.get(("a",), 2.0) is None
    assert cache.get(("b",), 2.0) is _ALLOWED
    assert cache.get(("c",), 2.0) is _DENIED


def test_cache_put_again_renews_the_entry():
    cache = AuthorizerCache(ttl_seconds=60, max_entries=2)
    cache.put(("a",), _ALLOWED, now=0.0)
    cache.put(("b",), _ALLOWED, now=1.0)
    cache.put(("a",), _DENIED, now=50.0)  # now the newest, with a new expiry
    cache.put(("c",), _ALLOWED, now=51.0)
    assert cache.get(("b",), 51.0) is None
    assert cache.get(("a",), 100.0) is _DENIED
    assert cache.get(("a",), 110.0) is None


@pytest.mark.parametrize(
    ("ttl", "entries", "message"),
    [(-1, 1, "ttl_seconds must be >= 0, got -1"), (1, 0, "max_entries must be >= 1, got 0")],
)
def test_cache_arguments(ttl, entries, message):
    with pytest.raises(ValueError, match=message):
        AuthorizerCache(ttl, entries)


def test_decision_and_result_are_frozen_values():
    assert isinstance(_ALLOWED.result, AuthorizerResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _ALLOWED.status = 403  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        _ALLOWED.result.principal_id = "x"  # type: ignore[misc]
