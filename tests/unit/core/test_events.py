"""Lambda proxy events for CONNECT, MESSAGE and DISCONNECT (§3.2 of the AWS reference)."""

from __future__ import annotations

import calendar
import json

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from wsgate.core.events import (
    ConnectionFacts,
    Handshake,
    build_connect_event,
    build_disconnect_event,
    build_message_event,
    connect_headers,
    format_iso_time,
    format_request_time,
)

_DOMAIN = "abc123defg.execute-api.us-east-1.amazonaws.com"
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
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "k1=="),
        ("Sec-WebSocket-Version", "13"),
    ],
    query=[],
    trace_id="Root=1-65c66d9f-000102030405060708090a0b",
)
_NOW = 1707503007401
_REQUEST_ID = "Xa1bC2dEIAMF3gh="
_MESSAGE_ID = "Xa1bDqrsIAMCKlQ="

_CONTEXT_KEYS = {
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


def _facts(**changes):
    return _FACTS._replace(**changes)


def _handshake(**changes):
    return _HANDSHAKE._replace(**changes)


def _connect(facts=_FACTS, handshake=_HANDSHAKE):
    return build_connect_event(facts, handshake, _REQUEST_ID, _NOW)


def _message(facts=_FACTS, route_key="sendmessage", body='{"action":"sendmessage"}', **kw):
    kw.setdefault("is_base64_encoded", False)
    return build_message_event(
        facts, route_key, body, request_id=_REQUEST_ID, message_id=_MESSAGE_ID, now_ms=_NOW, **kw
    )


def _disconnect(facts=_FACTS, code=1005, reason="Client-side close frame status not set"):
    return build_disconnect_event(facts, _REQUEST_ID, _NOW, code, reason)


# --- request time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (1707503007396, "09/Feb/2024:18:23:27 +0000"),
        (0, "01/Jan/1970:00:00:00 +0000"),
        (999, "01/Jan/1970:00:00:00 +0000"),
        (1709208000000, "29/Feb/2024:12:00:00 +0000"),
        (951782400000, "29/Feb/2000:00:00:00 +0000"),
        (1704067199999, "31/Dec/2023:23:59:59 +0000"),
        (2147483648000, "19/Jan/2038:03:14:08 +0000"),
    ],
)
def test_format_request_time(epoch_ms, text):
    assert format_request_time(epoch_ms) == text


@pytest.mark.parametrize(
    ("month", "name"),
    list(
        enumerate(
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
            start=1,
        )
    ),
)
def test_format_request_time_month_names(month, name):
    epoch_ms = calendar.timegm((2024, month, 5, 6, 7, 8)) * 1000
    assert format_request_time(epoch_ms) == f"05/{name}/2024:06:07:08 +0000"


# --- CONNECT -------------------------------------------------------------------------------


def test_connect_event_matches_the_captured_shape():
    assert _connect() == {
        "headers": {
            "Host": _DOMAIN,
            "Sec-WebSocket-Key": "k1==",
            "Sec-WebSocket-Version": "13",
            "X-Amzn-Trace-Id": "Root=1-65c66d9f-000102030405060708090a0b",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
        },
        "multiValueHeaders": {
            "Host": [_DOMAIN],
            "Sec-WebSocket-Key": ["k1=="],
            "Sec-WebSocket-Version": ["13"],
            "X-Amzn-Trace-Id": ["Root=1-65c66d9f-000102030405060708090a0b"],
            "X-Forwarded-For": ["203.0.113.7"],
            "X-Forwarded-Port": ["443"],
            "X-Forwarded-Proto": ["https"],
        },
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
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("facts", "handshake"),
    [
        (_FACTS, _HANDSHAKE),
        (_facts(user_agent="Mozilla/5.0"), _handshake(query=[("token", "t")])),
        (_facts(source_ip="2001:db8::1"), _HANDSHAKE),
        (_facts(stage_variables={"fn": "chat"}, authorizer={"principalId": "me"}), _HANDSHAKE),
    ],
)
def test_connect_event_validates_against_powertools(facts, handshake):
    event = _connect(facts, handshake)
    model = APIGatewayWebSocketConnectEventModel.model_validate(event)
    assert model.request_context.route_key == "$connect"
    assert model.request_context.connection_id == facts.connection_id
    assert json.loads(json.dumps(event)) == event


@pytest.mark.parametrize(
    ("query", "single", "multi"),
    [
        ([], None, None),
        ([("token", "t")], {"token": "t"}, {"token": ["t"]}),
        ([("a", "1"), ("b", "")], {"a": "1", "b": ""}, {"a": ["1"], "b": [""]}),
        # Repeated names: the last value wins in the single-value map.
        ([("t", "1"), ("t", "2")], {"t": "2"}, {"t": ["1", "2"]}),
    ],
)
def test_connect_query_maps_exist_only_with_a_query(query, single, multi):
    event = _connect(handshake=_handshake(query=query))
    assert event.get("queryStringParameters") == single
    assert event.get("multiValueQueryStringParameters") == multi
    assert ("queryStringParameters" in event) is bool(query)
    assert ("multiValueQueryStringParameters" in event) is bool(query)


@pytest.mark.parametrize(
    "client_headers",
    [
        [("Connection", "Upgrade"), ("Upgrade", "websocket")],
        [("connection", "upgrade"), ("upgrade", "websocket")],
        [("CONNECTION", "keep-alive, Upgrade"), ("UPGRADE", "WebSocket")],
    ],
)
def test_connect_drops_connection_and_upgrade(client_headers):
    event = _connect(handshake=_handshake(headers=[("Origin", "https://a"), *client_headers]))
    names = {name.lower() for name in event["headers"]}
    assert "connection" not in names
    assert "upgrade" not in names
    assert {name.lower() for name in event["multiValueHeaders"]} == names
    assert event["headers"]["Origin"] == "https://a"


@pytest.mark.parametrize(
    ("client_headers", "forwarded_for"),
    [
        ([], "203.0.113.7"),
        ([("X-Forwarded-For", "198.51.100.1")], "198.51.100.1, 203.0.113.7"),
        ([("x-forwarded-for", "198.51.100.1")], "198.51.100.1, 203.0.113.7"),
        (
            [("X-Forwarded-For", "198.51.100.1, 198.51.100.2")],
            "198.51.100.1, 198.51.100.2, 203.0.113.7",
        ),
        (
            [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "198.51.100.2")],
            "198.51.100.1, 198.51.100.2, 203.0.113.7",
        ),
    ],
)
def test_connect_x_forwarded_for(client_headers, forwarded_for):
    headers = _connect(handshake=_handshake(headers=client_headers))["headers"]
    assert headers["X-Forwarded-For"] == forwarded_for
    assert "x-forwarded-for" not in headers


def test_connect_replaces_the_headers_the_gateway_adds():
    handshake = Handshake(
        headers=[
            ("x-amzn-trace-id", "Root=client"),
            ("X-Forwarded-Port", "1234"),
            ("x-forwarded-proto", "http"),
            ("User-Agent", "ua"),
        ],
        query=[],
        trace_id="Root=gateway",
        forwarded_port="8443",
        forwarded_proto="wss",
    )
    assert connect_headers(_FACTS, handshake) == [
        ("User-Agent", "ua"),
        ("X-Amzn-Trace-Id", "Root=gateway"),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Port", "8443"),
        ("X-Forwarded-Proto", "wss"),
    ]


def test_connect_keeps_client_headers_in_order_with_their_casing():
    handshake = _handshake(
        headers=[
            ("origin", "https://a"),
            ("Sec-WebSocket-Protocol", "chat"),
            ("AUTHORIZATION", "x"),
        ]
    )
    names = [name for name, _ in connect_headers(_FACTS, handshake)]
    assert names[:3] == ["origin", "Sec-WebSocket-Protocol", "AUTHORIZATION"]


@pytest.mark.parametrize(
    ("client_headers", "single", "multi"),
    [
        ([("Cookie", "a=1")], "a=1", ["a=1"]),
        ([("Cookie", "a=1"), ("Cookie", "b=2")], "b=2", ["a=1", "b=2"]),
        ([("Cookie", "a"), ("Other", "x"), ("Cookie", "b"), ("Cookie", "c")], "c", ["a", "b", "c"]),
    ],
)
def test_connect_multi_value_headers_fold(client_headers, single, multi):
    event = _connect(handshake=_handshake(headers=client_headers))
    assert event["headers"]["Cookie"] == single
    assert event["multiValueHeaders"]["Cookie"] == multi


# --- MESSAGE -------------------------------------------------------------------------------


def test_message_event_matches_the_captured_shape():
    facts = _facts(user_agent="Mozilla/5.0 ...")
    assert _message(facts) == {
        "requestContext": {
            "routeKey": "sendmessage",
            "messageId": _MESSAGE_ID,
            "eventType": "MESSAGE",
            "extendedRequestId": _REQUEST_ID,
            "requestTime": "09/Feb/2024:18:23:27 +0000",
            "messageDirection": "IN",
            "stage": "prod",
            "connectedAt": 1707503007396,
            "requestTimeEpoch": _NOW,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0 ..."},
            "requestId": _REQUEST_ID,
            "domainName": _DOMAIN,
            "connectionId": "Xa1bC0zyIAMCKlQ=",
            "apiId": "abc123defg",
        },
        "body": '{"action":"sendmessage"}',
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("route_key", "body", "is_base64_encoded"),
    [
        ("sendmessage", '{"action":"sendmessage"}', False),
        ("$default", "not json", False),
        ("$default", "", False),
        ("$default", "AAEC", True),
    ],
)
def test_message_event_validates_against_powertools(route_key, body, is_base64_encoded):
    event = _message(route_key=route_key, body=body, is_base64_encoded=is_base64_encoded)
    model = APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert model.request_context.route_key == route_key
    assert model.request_context.message_id == _MESSAGE_ID
    assert model.body == body
    assert model.is_base64_encoded is is_base64_encoded


@pytest.mark.parametrize(
    ("facts", "keys"),
    [
        (_FACTS, {"requestContext", "body", "isBase64Encoded"}),
        (
            _facts(stage_variables={"fn": "chat"}),
            {"requestContext", "body", "isBase64Encoded", "stageVariables"},
        ),
    ],
)
def test_message_event_has_no_headers_or_query(facts, keys):
    event = _message(facts)
    assert set(event) == keys
    assert set(event["requestContext"]) == _CONTEXT_KEYS | {"messageId"}


# --- DISCONNECT ----------------------------------------------------------------------------


def test_disconnect_event_matches_the_captured_shape():
    headers = {"Host": _DOMAIN, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    assert _disconnect() == {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": {
            "routeKey": "$disconnect",
            "disconnectStatusCode": 1005,
            "eventType": "DISCONNECT",
            "extendedRequestId": _REQUEST_ID,
            "requestTime": "09/Feb/2024:18:23:27 +0000",
            "messageDirection": "IN",
            "disconnectReason": "Client-side close frame status not set",
            "stage": "prod",
            "connectedAt": 1707503007396,
            "requestTimeEpoch": _NOW,
            "identity": {"sourceIp": "203.0.113.7"},
            "requestId": _REQUEST_ID,
            "domainName": _DOMAIN,
            "connectionId": "Xa1bC0zyIAMCKlQ=",
            "apiId": "abc123defg",
        },
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1005, "Client-side close frame status not set"),
        (1001, ""),
        (1000, "Connection Closed Normally"),
        (1006, "Connection closed abnormally"),
    ],
)
def test_disconnect_event_validates_against_powertools(code, reason):
    event = _disconnect(_facts(user_agent="ua"), code, reason)
    model = APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert model.request_context.disconnect_status_code == code
    assert model.request_context.disconnect_reason == reason
    assert model.headers == {
        "Host": _DOMAIN,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }


@pytest.mark.parametrize("domain", [_DOMAIN, "ws.example.com", "localhost:8080"])
def test_disconnect_host_is_the_domain_name(domain):
    event = _disconnect(_facts(domain_name=domain))
    assert event["headers"]["Host"] == domain
    assert event["multiValueHeaders"]["Host"] == [domain]
    assert event["requestContext"]["domainName"] == domain


# --- rules shared by the three event types -------------------------------------------------

_BUILDERS = {
    "CONNECT": lambda facts: _connect(facts),
    "MESSAGE": lambda facts: _message(facts),
    "DISCONNECT": lambda facts: _disconnect(facts),
}
_TOP_KEYS = {
    "CONNECT": {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"},
    "MESSAGE": {"requestContext", "body", "isBase64Encoded"},
    "DISCONNECT": {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"},
}
_EXTRA_CONTEXT_KEYS = {
    "CONNECT": set(),
    "MESSAGE": {"messageId"},
    "DISCONNECT": {"disconnectStatusCode", "disconnectReason"},
}
_ROUTE_KEYS = {"CONNECT": "$connect", "MESSAGE": "sendmessage", "DISCONNECT": "$disconnect"}


@pytest.mark.parametrize("event_type", list(_BUILDERS))
def test_key_presence_per_event_type(event_type):
    event = _BUILDERS[event_type](_FACTS)
    assert set(event) == _TOP_KEYS[event_type]
    assert set(event["requestContext"]) == _CONTEXT_KEYS | _EXTRA_CONTEXT_KEYS[event_type]
    assert event["requestContext"]["eventType"] == event_type
    assert event["requestContext"]["routeKey"] == _ROUTE_KEYS[event_type]
    assert event["requestContext"]["messageDirection"] == "IN"


@pytest.mark.parametrize("event_type", list(_BUILDERS))
@pytest.mark.parametrize(
    ("variables", "present"),
    [({}, False), ({"fn": "chat"}, True), ({"a": "1", "b": ""}, True)],
)
def test_stage_variables_only_when_the_stage_has_some(event_type, variables, present):
    event = _BUILDERS[event_type](_facts(stage_variables=variables))
    assert ("stageVariables" in event) is present
    if present:
        assert event["stageVariables"] == variables
        assert event["stageVariables"] is not variables


@pytest.mark.parametrize("event_type", list(_BUILDERS))
@pytest.mark.parametrize(
    ("user_agent", "identity"),
    [
        (None, {"sourceIp": "203.0.113.7"}),
        ("Mozilla/5.0", {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"}),
        ("", {"sourceIp": "203.0.113.7", "userAgent": ""}),
    ],
)
def test_user_agent_only_when_given(event_type, user_agent, identity):
    event = _BUILDERS[event_type](_facts(user_agent=user_agent))
    assert event["requestContext"]["identity"] == identity


@pytest.mark.parametrize("event_type", list(_BUILDERS))
@pytest.mark.parametrize(
    "authorizer",
    [
        None,
        {"principalId": "user"},
        {"principalId": "user", "tenant": "t1", "count": "3"},
        {},
    ],
)
def test_authorizer_in_every_event_when_set(event_type, authorizer):
    event = _BUILDERS[event_type](_facts(authorizer=authorizer))
    context = event["requestContext"]
    assert ("authorizer" in context) is (authorizer is not None)
    if authorizer is not None:
        assert context["authorizer"] == authorizer
        assert context["authorizer"] is not authorizer


@pytest.mark.parametrize("event_type", list(_BUILDERS))
def test_request_id_equals_extended_request_id(event_type):
    event = _BUILDERS[event_type](_FACTS)
    context = event["requestContext"]
    assert context["requestId"] == context["extendedRequestId"] == _REQUEST_ID
    assert context["requestTimeEpoch"] == _NOW
    assert context["requestTime"] == format_request_time(_NOW)
    assert context["connectedAt"] == _FACTS.connected_at
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(("message_id", "binary"), [(None, False), ("m1", True)])
def test_template_context(message_id: str | None, binary: bool) -> None:
    from wsgate.core.events import ConnectionFacts, template_context

    facts = ConnectionFacts("c1", 1000, "127.0.0.1", None, "api", "dev", "host:1")
    context = template_context(
        facts, "route", "MESSAGE", "r1", 2000, message_id=message_id, is_base64_encoded=binary
    )
    assert context["connectionId"] == "c1"
    assert context["isBase64Encoded"] is binary
    assert ("messageId" in context) is (message_id is not None)


@pytest.mark.parametrize("event_type", list(_BUILDERS))
def test_a_signer_joins_the_identity(event_type):
    caller = {"accessKey": "AKIAEXAMPLE0000000", "userArn": "arn:aws:iam::1:user/ops"}
    event = _BUILDERS[event_type](_facts(caller=caller))
    assert event["requestContext"]["identity"] == {"sourceIp": "203.0.113.7", **caller}


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1707503007396, "2024-02-09T18:23:27.396Z"),
        (1707503007005, "2024-02-09T18:23:27.005Z"),
    ],
)
def test_format_iso_time(epoch_ms, text):
    # GetConnection's connectedAt and lastActiveAt, as AWS writes them.
    assert format_iso_time(epoch_ms) == text
