"""Access-log lines from a stage's ``AccessLogSettings.Format`` (§9.3 of the AWS reference).

A format is one line of literal text and ``$context`` variables (``$context.x`` or
``${context.x}``); it compiles once, at load, and renders one line per request. Variables that do
not apply to a request (``messageId`` on CONNECT, ``error.message`` without an error) render as
``-``, as AWS does. Values are inserted raw, without JSON or CSV escaping, because AWS does not
escape them either: a JSON format only yields valid JSON for values without quotes. The one
exception is line breaks, which are written as ``\\n``/``\\r`` so a line stays one line.

This module is pure: records arrive as values and nothing here reads a clock or writes a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from wsgate.core.events import format_request_time

__all__ = [
    "AccessLogFormat",
    "AccessLogRecord",
    "compile_access_log_format",
    "render_access_log",
]

MAX_FORMAT_BYTES: Final = 3072  # "template ≤ 3 KB" (§9.3)
_NONE: Final = "-"
_NAME: Final = r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*"
_VARIABLE: Final = re.compile(rf"\$\{{context\.({_NAME})\}}|\$context\.({_NAME})")
_REQUIRED: Final = "requestId"
_LINE_BREAKS: Final = str.maketrans({"\n": "\\n", "\r": "\\r"})


class AccessLogRecord(Protocol):
    """The fields of a request an access log reads.

    ``wsgate.observability.hooks.RequestRecord`` satisfies it; the core names the shape instead
    of importing it so that it depends on no layer above it (STYLE.md §1).
    """

    @property
    def request_id(self) -> str: ...
    @property
    def connection_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def route_key(self) -> str | None: ...
    @property
    def stage(self) -> str: ...
    @property
    def api_id(self) -> str: ...
    @property
    def domain_name(self) -> str: ...
    @property
    def source_ip(self) -> str: ...
    @property
    def user_agent(self) -> str | None: ...
    @property
    def connected_at_ms(self) -> int: ...
    @property
    def request_time_ms(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def integration(self) -> str | None: ...
    @property
    def integration_latency_ms(self) -> float | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def disconnect_status_code(self) -> int | None: ...
    @property
    def disconnect_reason(self) -> str | None: ...
    @property
    def authorization(self) -> str | None: ...
    @property
    def authorizer(self) -> Mapping[str, object] | None: ...
    @property
    def caller(self) -> Mapping[str, str] | None: ...


_Getter = Callable[[AccessLogRecord], str]


@dataclass(frozen=True, slots=True)
class AccessLogFormat:
    """A compiled access-log format: literal text and variable getters, in order."""

    text: str
    parts: tuple[str | _Getter, ...]


def _text(value: str | int | None) -> str:
    # AWS writes "-" for a variable with no value; an empty string is no value either.
    return _NONE if value is None or value == "" else str(value)


def _millis(value: float | None) -> str:
    return _NONE if value is None else str(round(value))


def _integration_ran(record: AccessLogRecord) -> bool:
    # A client error is refused before the integration; an execution error never got its answer.
    return record.integration is not None and record.error_kind in (None, "integration")


def _failed(record: AccessLogRecord) -> bool:
    return record.error is not None or record.error_kind is not None


def _error_message(record: AccessLogRecord) -> str | None:
    """AWS's client-facing message for a failed request (§10), never the internal cause."""
    if not _failed(record):
        return None
    if record.error_kind == "client" and record.status in _CLIENT_MESSAGES:
        return _CLIENT_MESSAGES[record.status]
    if record.error_kind == "execution" and record.status == 504:
        return "Endpoint request timed out"
    return "Internal server error"


# What a refused client is told (§10 and the handshake statuses of §6 and §9.2).
_CLIENT_MESSAGES: Final[Mapping[int, str]] = {
    401: "Unauthorized",
    403: "Forbidden",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
}
# Gateway response types of an authorizer's or SigV4's refusal.
_AUTHORIZATION_TYPES: Final[Mapping[str, str]] = {
    "unauthorized": "UNAUTHORIZED",
    "deny": "ACCESS_DENIED",
    "error": "AUTHORIZER_FAILURE",
}


# Gateway response types we are sure of; the rest (notably 403 for an unmatched route, which REST
# APIs report as MISSING_AUTHENTICATION_TOKEN but WebSocket APIs do not document) render "-".
_RESPONSE_TYPES: Final[Mapping[tuple[str | None, int], str]] = {
    ("execution", 504): "INTEGRATION_TIMEOUT",
    ("client", 429): "THROTTLED",
}


def _response_type(record: AccessLogRecord) -> str | None:
    if not _failed(record):
        return None
    if record.authorization is not None and record.authorization in _AUTHORIZATION_TYPES:
        return _AUTHORIZATION_TYPES[record.authorization]
    return _RESPONSE_TYPES.get((record.error_kind, record.status))


def _message_string(record: AccessLogRecord) -> str:
    message = _error_message(record)
    return _NONE if message is None else f'"{message}"'


def _message_id(record: AccessLogRecord) -> str:
    return _text(record.message_id if record.event_type == "MESSAGE" else None)


def _integration_status(record: AccessLogRecord) -> str:
    return _text(record.status if _integration_ran(record) else None)


def _integration_latency(record: AccessLogRecord) -> str:
    return _millis(record.integration_latency_ms)


def _dash(_record: AccessLogRecord) -> str:
    return _NONE


_GETTERS: Final[Mapping[str, _Getter]] = {
    "requestId": lambda r: r.request_id,
    "extendedRequestId": lambda r: r.request_id,
    "connectionId": lambda r: r.connection_id,
    "routeKey": lambda r: _text(r.route_key),
    "eventType": lambda r: r.event_type,
    "stage": lambda r: r.stage,
    "apiId": lambda r: r.api_id,
    "domainName": lambda r: r.domain_name,
    "requestTime": lambda r: format_request_time(r.request_time_ms),
    "requestTimeEpoch": lambda r: str(r.request_time_ms),
    "connectedAt": lambda r: str(r.connected_at_ms),
    "messageId": _message_id,
    "status": lambda r: str(r.status),
    "identity.sourceIp": lambda r: r.source_ip,
    "identity.userAgent": lambda r: _text(r.user_agent),
    "integrationLatency": _integration_latency,
    "integration.latency": _integration_latency,
    "responseLatency": lambda r: _millis(r.latency_ms),
    "integrationStatus": _integration_status,
    "integration.status": _integration_status,
    "error.message": lambda r: _text(_error_message(r)),
    "error.messageString": _message_string,
    "error.responseType": lambda r: _text(_response_type(r)),
    "disconnectStatusCode": lambda r: _text(r.disconnect_status_code),
    "disconnectReason": lambda r: _text(r.disconnect_reason),
    # Every request a WebSocket access log sees came from the client.
    "messageDirection": lambda r: "IN",
    # REST-only variables that WebSocket logs still print, as "-" (§9.3's real line).
    "httpMethod": _dash,
    "path": _dash,
}

# Documented AWS variables (§4.1, §9.3) that wsgate has no value for: a format copied from AWS
# still compiles, and they render "-" like any variable that does not apply.
_UNFILLED: Final = frozenset(
    {
        "authorize.error",
        "authorize.latency",
        "authorize.status",
        "authenticate.error",
        "authenticate.latency",
        "authenticate.status",
        "error.validationErrorString",
        "identity.apiKey",
        "identity.apiKeyId",
        "identity.cognitoAuthenticationProvider",
        "identity.cognitoAuthenticationType",
        "identity.cognitoIdentityId",
        "identity.cognitoIdentityPoolId",
        "identity.principalOrgId",
        "integration.error",
        "integrationErrorMessage",
        "integration.integrationStatus",
        "integration.requestId",
        "awsEndpointRequestId",
        "isBase64Encoded",
        "waf.error",
        "waf.latency",
        "waf.status",
    }
)


def _getter(name: str) -> _Getter | None:
    found = _GETTERS.get(name)
    if found is not None:
        return found
    # authorizer.<key> is open-ended: any key the authorizer's context might carry.
    if name.startswith("authorizer."):
        return _authorizer_value(name.removeprefix("authorizer."))
    if name in _CALLER:
        return _caller_value(name.removeprefix("identity."))
    if name in _UNFILLED:
        return _dash
    return None


def _authorizer_value(key: str) -> _Getter:
    def value(record: AccessLogRecord) -> str:
        found = (record.authorizer or {}).get(key)
        return _text(None if found is None else str(found))

    return value


def _caller_value(key: str) -> _Getter:
    def value(record: AccessLogRecord) -> str:
        return _text((record.caller or {}).get(key))

    return value


# Who signed the handshake (AWS_IAM), as requestContext.identity shows it.
_CALLER: Final = frozenset(
    {
        "identity.accessKey",
        "identity.accountId",
        "identity.caller",
        "identity.user",
        "identity.userArn",
    }
)


def compile_access_log_format(text: str) -> AccessLogFormat:
    """Compile an ``AccessLogSettings.Format``.

    Raises:
        ValueError: the format is empty, longer than 3 KB in UTF-8, spans lines, leaves a
            ``${context.`` open, lacks ``$context.requestId`` or names unknown variables.
    """
    _check_shape(text)
    parts: list[str | _Getter] = []
    names: list[str] = []
    unknown: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        name = match.group(1) or match.group(2)
        names.append(name)
        getter = _getter(name)
        if getter is None:
            unknown.append(f"$context.{name}")
            continue
        parts.extend((text[position : match.start()], getter))
        position = match.end()
    parts.append(text[position:])
    if unknown:
        raise ValueError(f"access log format has unknown variables: {', '.join(unknown)}")
    if _REQUIRED not in names:
        raise ValueError("access log format must contain $context.requestId")
    if "${context." in _VARIABLE.sub("", text):
        raise ValueError("access log format has an unterminated ${context. variable")
    return AccessLogFormat(text, tuple(part for part in parts if part != ""))


def _check_shape(text: str) -> None:
    if not text:
        raise ValueError("access log format is empty")
    size = len(text.encode("utf-8"))
    if size > MAX_FORMAT_BYTES:
        raise ValueError(f"access log format is {size} bytes; the limit is {MAX_FORMAT_BYTES}")
    if "\n" in text or "\r" in text:
        raise ValueError("access log format must be one line")


def render_access_log(fmt: AccessLogFormat, record: AccessLogRecord) -> str:
    """Render one access-log line for ``record``, without a trailing newline."""
    return "".join(
        part if isinstance(part, str) else part(record).translate(_LINE_BREAKS)
        for part in fmt.parts
    )
