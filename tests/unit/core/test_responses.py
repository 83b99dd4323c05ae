"""Error frames, the $connect handshake decision and route responses (§1.2, §3.2, §10)."""

from __future__ import annotations

import json

import pytest

from wsgate.core.responses import (
    ENDPOINT_TIMED_OUT,
    FORBIDDEN,
    INTERNAL_SERVER_ERROR,
    ConnectDecision,
    UnusableAnswer,
    decide_connect,
    error_frame,
    is_group_name,
    route_response,
)


@pytest.mark.parametrize(
    ("message", "frame"),
    [
        (FORBIDDEN, '{"message": "Forbidden", "connectionId":"abc", "requestId":"def"}'),
        (
            INTERNAL_SERVER_ERROR,
            '{"message": "Internal server error", "connectionId":"abc", "requestId":"def"}',
        ),
        (
            ENDPOINT_TIMED_OUT,
            '{"message": "Endpoint request timed out", "connectionId":"abc", "requestId":"def"}',
        ),
    ],
)
def test_error_frame_bytes(message, frame):
    assert error_frame(message, "abc", "def") == frame
    assert json.loads(frame) == {"message": message, "connectionId": "abc", "requestId": "def"}


def test_error_frame_with_real_ids():
    frame = error_frame(FORBIDDEN, "BFHPhfCWIAMCKlQ=", "BFHPhFe3IAMF95g=")
    assert frame.encode() == (
        b'{"message": "Forbidden", "connectionId":"BFHPhfCWIAMCKlQ=", '
        b'"requestId":"BFHPhFe3IAMF95g="}'
    )


@pytest.mark.parametrize(
    ("payload", "status", "subprotocol"),
    [
        # No answer, or no statusCode: the connection is accepted.
        (None, 101, None),
        ({}, 101, None),
        ({"body": "ignored"}, 101, None),
        ({"headers": {"Sec-WebSocket-Protocol": "chat"}}, 101, None),
        # 2xx accepts.
        ({"statusCode": 200}, 101, None),
        ({"statusCode": 201}, 101, None),
        ({"statusCode": 204}, 101, None),
        ({"statusCode": 299}, 101, None),
        ({"statusCode": "200"}, 101, None),
        ({"statusCode": " 201 "}, 101, None),
        ({"statusCode": 200, "body": "x", "headers": {"X-Other": "y"}}, 101, None),
        # Any other HTTP status is the answer.
        ({"statusCode": 400}, 400, None),
        ({"statusCode": 401}, 401, None),
        ({"statusCode": 403}, 403, None),
        ({"statusCode": 301}, 301, None),
        ({"statusCode": 501}, 501, None),
        ({"statusCode": 599}, 599, None),
        ({"statusCode": 300}, 300, None),
        ({"statusCode": "404"}, 404, None),
        ({"statusCode": 400, "headers": {"Sec-WebSocket-Protocol": "chat"}}, 400, None),
        # An unusable answer is a function failure: 502.
        ({"statusCode": None}, 502, None),
        ({"statusCode": True}, 502, None),
        ({"statusCode": False}, 502, None),
        ({"statusCode": 99}, 502, None),
        # 1xx cannot answer a handshake (101 is the gateway's; the rest are not final).
        ({"statusCode": 100}, 502, None),
        ({"statusCode": 101}, 502, None),
        ({"statusCode": 199}, 502, None),
        ({"statusCode": "101"}, 502, None),
        ({"statusCode": " 150 "}, 502, None),
        ({"statusCode": 600}, 502, None),
        ({"statusCode": 0}, 502, None),
        ({"statusCode": -200}, 502, None),
        ({"statusCode": 200.0}, 502, None),
        ({"statusCode": "abc"}, 502, None),
        ({"statusCode": ""}, 502, None),
        ({"statusCode": "-200"}, 502, None),
        ({"statusCode": "2xx"}, 502, None),
        # Only ASCII digits: int() would read these (Arabic-Indic, fullwidth) as 200.
        ({"statusCode": "\u0662\u0660\u0660"}, 502, None),
        ({"statusCode": "\uff12\uff10\uff10"}, 502, None),
        ({"statusCode": [200]}, 502, None),
        ({"statusCode": {"code": 200}}, 502, None),
        ("x", 502, None),
        ("", 502, None),
        (200, 502, None),
        (True, 502, None),
        ([{"statusCode": 200}], 502, None),
        # Sec-WebSocket-Protocol is copied back, whatever its casing.
        ({"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat"}}, 101, "chat"),
        ({"statusCode": 200, "headers": {"sec-websocket-protocol": "v2"}}, 101, "v2"),
        ({"statusCode": 200, "headers": {"SEC-WEBSOCKET-PROTOCOL": "v3"}}, 101, "v3"),
        ({"statusCode": "201", "headers": {"X-A": "b", "Sec-Websocket-Protocol": "c"}}, 101, "c"),
        ({"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": 5}}, 101, "5"),
        ({"statusCode": 200, "headers": {1: "x", "sec-websocket-protocol": "y"}}, 101, "y"),
        ({"statusCode": 200, "headers": None}, 101, None),
        ({"statusCode": 200, "headers": [["Sec-WebSocket-Protocol", "chat"]]}, 101, None),
        ({"statusCode": 200, "headers": "Sec-WebSocket-Protocol: chat"}, 101, None),
        ({"statusCode": 200, "headers": {}}, 101, None),
    ],
)
def test_decide_connect(payload, status, subprotocol):
    if status == 502:  # an unusable answer: the integration reports a failure (502)
        with pytest.raises(UnusableAnswer):
            decide_connect(payload)
        return
    decision = decide_connect(payload)
    assert decision.status == status
    assert decision.subprotocol == subprotocol
    assert decision.accepted is (status == 101)
    assert (decision.problem is None) is (status == 101)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("x", "function returned str, expected an object"),
        ([], "function returned list, expected an object"),
        ({"statusCode": "abc"}, "statusCode 'abc' is not an HTTP status"),
        ({"statusCode": True}, "statusCode True is not an HTTP status"),
        ({"statusCode": 101}, "statusCode 101 is not an HTTP status"),
        (
            {"statusCode": "\u0662\u0660\u0660"},
            "statusCode '\u0662\u0660\u0660' is not an HTTP status",
        ),
        ({"statusCode": 401}, "$connect answered 401"),
    ],
)
def test_decide_connect_problem(payload, problem):
    try:
        found = decide_connect(payload).problem
    except UnusableAnswer as error:
        found = str(error)
    assert found == problem


# str.isdigit() accepts these but int() does not (or reads them as a number): 502, no error.
@pytest.mark.parametrize(
    "status_code",
    ["²", "2⁰⁰", "①", "\u0662\u0660\u0660", "\uff12\uff10\uff10", " \u0664\u0660\u0664 "],
)
def test_decide_connect_unparsable_digit_string_is_502(status_code):
    with pytest.raises(UnusableAnswer) as caught:
        decide_connect({"statusCode": status_code})
    assert str(caught.value) == f"statusCode {status_code!r} is not an HTTP status"


@pytest.mark.parametrize(
    ("status", "accepted"), [(101, True), (200, False), (400, False), (502, False)]
)
def test_connect_decision_accepted(status, accepted):
    assert ConnectDecision(status).accepted is accepted


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, None),
        ({}, None),
        ({"statusCode": 200}, None),
        ({"statusCode": 200, "body": None}, None),
        ({"body": ""}, ""),
        ({"body": "hi"}, "hi"),
        ({"statusCode": 500, "body": "hi"}, "hi"),
        ({"body": '{"a": 1}'}, '{"a": 1}'),
        ({"body": "aGk=", "isBase64Encoded": False}, "aGk="),
        ({"body": "aGk=", "isBase64Encoded": "true"}, "aGk="),
        ({"body": "aGk=", "isBase64Encoded": 1}, "aGk="),
        ({"body": "aGk=", "isBase64Encoded": True}, b"hi"),
        ({"body": "AAH/", "isBase64Encoded": True}, b"\x00\x01\xff"),
        ({"body": "", "isBase64Encoded": True}, b""),
        ({"body": "été \U0001f600"}, "été \U0001f600"),
    ],
)
def test_route_response(payload, message):
    assert route_response(payload) == message


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("x", "function returned str, expected an object"),
        (5, "function returned int, expected an object"),
        ([{"body": "x"}], "function returned list, expected an object"),
        ({"body": 5}, "body is int, expected a string"),
        ({"body": {"a": 1}}, "body is dict, expected a string"),
        ({"body": ["x"]}, "body is list, expected a string"),
        ({"body": True}, "body is bool, expected a string"),
        ({"body": "!!!!", "isBase64Encoded": True}, "body is not valid base64"),
        ({"body": "aGk", "isBase64Encoded": True}, "body is not valid base64"),
        ({"body": "aG k=", "isBase64Encoded": True}, "body is not valid base64"),
        ({"body": "é", "isBase64Encoded": True}, "body is not valid base64"),
        # Found by fuzzing: a lone surrogate failed later, when the frame was encoded.
        ({"body": "a\ud800"}, "body is not Unicode text: surrogates not allowed"),
    ],
)
def test_route_response_errors(payload, fragment):
    with pytest.raises(UnusableAnswer, match=fragment) as caught:
        route_response(payload)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("payload", "status", "groups"),
    [
        ({"statusCode": 200, "groups": ["room:1", "team/a"]}, 101, ("room:1", "team/a")),
        ({"groups": ["lobby"]}, 101, ("lobby",)),
        ({"statusCode": 200}, 101, ()),
        ({"statusCode": 403, "groups": ["x"]}, 403, ()),
        ({"statusCode": 200, "groups": "lobby"}, 502, ()),
        ({"statusCode": 200, "groups": ["ok", 3]}, 502, ()),
        ({"statusCode": 200, "groups": ["has space"]}, 502, ()),
        ({"statusCode": 200, "groups": ["x" * 129]}, 502, ()),
    ],
)
def test_connect_groups(payload, status, groups):
    if status == 502:
        with pytest.raises(UnusableAnswer, match="groups"):
            decide_connect(payload)
        return
    decision = decide_connect(payload)
    assert (decision.status, decision.groups) == (status, groups)


@pytest.mark.parametrize(
    ("name", "valid"),
    [("lobby", True), ("a.b-c_d:e@f/g", True), ("", False), ("a b", False), ("é", False)],
)
def test_group_names(name, valid):
    assert is_group_name(name) is valid
