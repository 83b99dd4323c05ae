"""Access-log formats: compile once, render one line per request (§9.3 of the AWS reference)."""

from __future__ import annotations

import dataclasses

import pytest

from wsgate.core.accesslog import compile_access_log_format, render_access_log
from wsgate.observability.hooks import RequestRecord

_CONNECT = RequestRecord(
    request_id="fr1iDG7CjoEFWTg=",
    connection_id="Xa1bC0zyIAMCKlQ=",
    event_type="CONNECT",
    route_key="$connect",
    stage="prod",
    api_id="abc123defg",
    domain_name="abc123defg.execute-api.us-east-1.amazonaws.com",
    source_ip="203.0.113.7",
    user_agent="Mozilla/5.0",
    connected_at_ms=1621610405123,
    request_time_ms=1621610406000,
    status=200,
    latency_ms=12.6,
    integration="connect-fn",
    integration_latency_ms=10.4,
)
_MESSAGE = dataclasses.replace(
    _CONNECT,
    request_id="M1",
    event_type="MESSAGE",
    route_key="sendmessage",
    user_agent=None,
    message_id="bXNnMQ=",
    message_bytes=17,
    latency_ms=3.5,
    integration_latency_ms=2.5,
)
_DISCONNECT = dataclasses.replace(
    _CONNECT,
    request_id="D1",
    event_type="DISCONNECT",
    route_key="$disconnect",
    integration=None,
    integration_latency_ms=None,
    disconnect_status_code=1001,
    disconnect_reason="Going away",
)
_NO_ROUTE = dataclasses.replace(
    _MESSAGE,
    route_key=None,
    status=403,
    integration=None,
    integration_latency_ms=None,
    error="no route",
    error_kind="client",
)
_THROTTLED = dataclasses.replace(_NO_ROUTE, status=429, error="throttled")
_SIGNED = dataclasses.replace(
    _CONNECT,
    caller={"accessKey": "AKIAEXAMPLE", "userArn": "arn:aws:iam::1:user/ops"},
    authorizer={"principalId": "alice", "level": 3},
)
_DENIED = dataclasses.replace(
    _CONNECT, status=403, error="denied", error_kind="client", authorization="deny"
)
_UNAUTHORIZED = dataclasses.replace(_DENIED, status=401, authorization="unauthorized")
_AUTHORIZER_FAILED = dataclasses.replace(
    _DENIED, status=500, error_kind="integration", authorization="error"
)
_TIMEOUT = dataclasses.replace(
    _MESSAGE, status=504, error="timed out after 29000 ms", error_kind="execution"
)
_UNREACHABLE = dataclasses.replace(
    _MESSAGE, status=500, error="connection refused", error_kind="execution"
)
_FAILING = dataclasses.replace(_MESSAGE, status=502, error="bad json", error_kind="integration")


@pytest.mark.parametrize(
    ("record", "variable", "expected"),
    [
        (_CONNECT, "requestId", "fr1iDG7CjoEFWTg="),
        (_CONNECT, "extendedRequestId", "fr1iDG7CjoEFWTg="),
        (_CONNECT, "connectionId", "Xa1bC0zyIAMCKlQ="),
        (_CONNECT, "routeKey", "$connect"),
        (_CONNECT, "eventType", "CONNECT"),
        (_CONNECT, "stage", "prod"),
        (_CONNECT, "apiId", "abc123defg"),
        (_CONNECT, "domainName", "abc123defg.execute-api.us-east-1.amazonaws.com"),
        (_CONNECT, "requestTime", "21/May/2021:15:20:06 +0000"),
        (_CONNECT, "requestTimeEpoch", "1621610406000"),
        (_CONNECT, "connectedAt", "1621610405123"),
        (_CONNECT, "messageId", "-"),
        (_CONNECT, "status", "200"),
        (_CONNECT, "identity.sourceIp", "203.0.113.7"),
        (_CONNECT, "identity.userAgent", "Mozilla/5.0"),
        (_CONNECT, "integrationLatency", "10"),
        (_CONNECT, "integration.latency", "10"),
        (_CONNECT, "responseLatency", "13"),
        (_CONNECT, "integrationStatus", "200"),
        (_CONNECT, "integration.status", "200"),
        (_CONNECT, "error.message", "-"),
        (_CONNECT, "error.messageString", "-"),
        (_CONNECT, "error.responseType", "-"),
        (_CONNECT, "disconnectStatusCode", "-"),
        (_CONNECT, "disconnectReason", "-"),
        (_CONNECT, "messageDirection", "IN"),
        (_CONNECT, "httpMethod", "-"),
        (_CONNECT, "path", "-"),
        (_CONNECT, "identity.caller", "-"),
        (_CONNECT, "authorizer.principalId", "-"),
        (_SIGNED, "identity.userArn", "arn:aws:iam::1:user/ops"),
        (_SIGNED, "identity.accessKey", "AKIAEXAMPLE"),
        (_SIGNED, "identity.user", "-"),
        (_SIGNED, "identity.cognitoIdentityId", "-"),
        (_SIGNED, "authorizer.principalId", "alice"),
        (_SIGNED, "authorizer.level", "3"),
        (_SIGNED, "authorizer.missing", "-"),
        (_DENIED, "error.message", "Forbidden"),
        (_DENIED, "error.responseType", "ACCESS_DENIED"),
        (_UNAUTHORIZED, "error.message", "Unauthorized"),
        (_UNAUTHORIZED, "error.responseType", "UNAUTHORIZED"),
        (_AUTHORIZER_FAILED, "error.message", "Internal server error"),
        (_AUTHORIZER_FAILED, "error.responseType", "AUTHORIZER_FAILURE"),
        (_MESSAGE, "eventType", "MESSAGE"),
        (_MESSAGE, "routeKey", "sendmessage"),
        (_MESSAGE, "messageId", "bXNnMQ="),
        (_MESSAGE, "identity.userAgent", "-"),
        (_MESSAGE, "responseLatency", "4"),
        (_MESSAGE, "integrationLatency", "2"),
        (_MESSAGE, "messageDirection", "IN"),
        (_DISCONNECT, "eventType", "DISCONNECT"),
        (_DISCONNECT, "messageId", "-"),
        (_DISCONNECT, "disconnectStatusCode", "1001"),
        (_DISCONNECT, "disconnectReason", "Going away"),
        (_DISCONNECT, "integrationLatency", "-"),
        (_DISCONNECT, "integrationStatus", "-"),
        (dataclasses.replace(_DISCONNECT, disconnect_reason=""), "disconnectReason", "-"),
        (_NO_ROUTE, "routeKey", "-"),
        (_NO_ROUTE, "status", "403"),
        (_NO_ROUTE, "integration.status", "-"),
        (_NO_ROUTE, "error.message", "Forbidden"),
        (_NO_ROUTE, "error.messageString", '"Forbidden"'),
        (_NO_ROUTE, "error.responseType", "-"),
        (_THROTTLED, "error.message", "Too Many Requests"),
        (_THROTTLED, "error.responseType", "THROTTLED"),
        (_TIMEOUT, "error.message", "Endpoint request timed out"),
        (_TIMEOUT, "error.messageString", '"Endpoint request timed out"'),
        (_TIMEOUT, "error.responseType", "INTEGRATION_TIMEOUT"),
        (_TIMEOUT, "integrationStatus", "-"),
        (_UNREACHABLE, "error.message", "Internal server error"),
        (_UNREACHABLE, "error.responseType", "-"),
        (_FAILING, "error.message", "Internal server error"),
        (_FAILING, "error.messageString", '"Internal server error"'),
        (_FAILING, "integrationStatus", "502"),
        (dataclasses.replace(_MESSAGE, error="x"), "error.message", "Internal server error"),
    ],
)
def test_variables_render(record: RequestRecord, variable: str, expected: str) -> None:
    for text in (f"$context.requestId $context.{variable}", "$context.requestId ${context.%s}"):
        fmt = compile_access_log_format(text.replace("%s", variable))
        line = render_access_log(fmt, record)
        assert line == f"{record.request_id} {expected}"


_AWS_LINE = (
    '{"requestTime":"$context.requestTime","requestId":"$context.requestId",'
    '"httpMethod":"$context.httpMethod","path":"$context.path",'
    '"routeKey":"$context.routeKey","status":$context.status,'
    '"responseLatency":$context.responseLatency}'
)


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        (
            _AWS_LINE,
            dataclasses.replace(_CONNECT, status=400, latency_ms=40.2),
            '{"requestTime":"21/May/2021:15:20:06 +0000","requestId":"fr1iDG7CjoEFWTg=",'
            '"httpMethod":"-","path":"-","routeKey":"$connect","status":400,'
            '"responseLatency":40}',
        ),
        ("${context.requestId}${context.status}", _CONNECT, "fr1iDG7CjoEFWTg=200"),
        ("$context.requestId.", _CONNECT, "fr1iDG7CjoEFWTg=."),
        ("$$context.requestId $context", _CONNECT, "$fr1iDG7CjoEFWTg= $context"),
        (
            "$context.requestId [$context.disconnectReason]",
            dataclasses.replace(_DISCONNECT, disconnect_reason='a"b\r\nc'),
            'D1 [a"b\\r\\nc]',
        ),
    ],
)
def test_formats_render_lines(text: str, record: RequestRecord, expected: str) -> None:
    line = render_access_log(compile_access_log_format(text), record)
    assert line == expected
    assert "\n" not in line


def test_compiled_format_keeps_its_text() -> None:
    assert compile_access_log_format(_AWS_LINE).text == _AWS_LINE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("$context.requestId " + "x" * 3054, "3073 bytes; the limit is 3072"),
        ("$context.requestId " + "é" * 1527, "3073 bytes"),
        ("$context.requestId\n", "one line"),
        ("$context.requestId\r", "one line"),
        ("$context.status", "must contain $context.requestId"),
        ("$context.extendedRequestId", "must contain $context.requestId"),
        (
            "$context.requestId $context.nope ${context.error.nope}",
            "unknown variables: $context.nope, $context.error.nope",
        ),
        ("$context.requestId ${context.status", "unterminated ${context."),
    ],
)
def test_bad_formats_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="access log format") as caught:
        compile_access_log_format(text)
    assert reason in str(caught.value)


def test_largest_format_compiles() -> None:
    text = "$context.requestId " + "x" * 3053
    assert len(text.encode()) == 3072
    assert render_access_log(compile_access_log_format(text), _CONNECT).endswith("x")
