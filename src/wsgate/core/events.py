"""Lambda proxy events for CONNECT, MESSAGE and DISCONNECT (§3.2 of the AWS reference).

Which keys exist per event type is part of the contract: MESSAGE has no headers, DISCONNECT has
AWS's fixed four headers, query maps exist only when the URL had a query, ``stageVariables`` only
when the stage has variables, ``identity.userAgent`` only when the client sent one. Ids, times and
everything else arrive as arguments; nothing here reads a clock or the network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, NamedTuple

from wsgate.types import JSONObject

__all__ = [
    "ConnectionFacts",
    "Handshake",
    "build_connect_event",
    "build_disconnect_event",
    "build_message_event",
    "connect_headers",
    "format_iso_time",
    "format_request_time",
    "template_context",
]

_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
# The handshake headers API Gateway drops before calling the $connect integration.
_HOP_HEADERS: Final = frozenset({"connection", "upgrade"})
# Those and the ones it adds itself, in place of the client's (X-Forwarded-For is extended).
_DROPPED_HEADERS: Final = _HOP_HEADERS | {
    "x-amzn-trace-id",
    "x-forwarded-port",
    "x-forwarded-proto",
}


class ConnectionFacts(NamedTuple):
    """What stays the same for every event of one connection.

    A named tuple rather than a frozen dataclass: one is made per handshake, and a frozen
    dataclass sets each of its fields through ``object.__setattr__``.
    """

    connection_id: str
    connected_at: int  # epoch milliseconds
    source_ip: str
    user_agent: str | None
    api_id: str
    stage: str
    domain_name: str
    stage_variables: Mapping[str, str] = MappingProxyType({})
    authorizer: Mapping[str, object] | None = None
    # Who signed the handshake (AWS_IAM): accessKey, userArn, caller, user for the identity.
    caller: Mapping[str, str] | None = None


class Handshake(NamedTuple):
    """The client's upgrade request, as the $connect integration sees it (a named tuple, as
    :class:`ConnectionFacts`: one is made per handshake with ``$connect``)."""

    headers: Sequence[tuple[str, str]]  # client's casing and order, duplicates kept
    query: Sequence[tuple[str, str]]
    trace_id: str
    forwarded_port: str = "443"
    forwarded_proto: str = "https"


def format_iso_time(epoch_ms: int) -> str:
    """Epoch milliseconds as AWS writes times in JSON: ``2026-11-28T07:00:00.123Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def format_request_time(epoch_ms: int) -> str:
    """Format a time in Common Log Format as AWS does: ``09/Feb/2024:18:23:27 +0000``.

    Month names come from a table, not ``strftime('%b')``, which follows the host's locale.
    """
    global _cached_second, _cached_text
    seconds = epoch_ms // 1000
    if seconds == _cached_second:  # every event of one second shares the text
        return _cached_text
    t = time.gmtime(seconds)
    month = _MONTHS[t.tm_mon - 1]
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    text = f"{t.tm_mday:02d}/{month}/{t.tm_year}:{clock} +0000"
    _cached_second, _cached_text = seconds, text
    return text


_cached_second = -1
_cached_text = ""


def _request_context(
    facts: ConnectionFacts, route_key: str, event_type: str, request_id: str, now_ms: int
) -> JSONObject:
    identity: JSONObject = {"sourceIp": facts.source_ip}
    if facts.user_agent is not None:
        identity["userAgent"] = facts.user_agent
    if facts.caller is not None:
        identity.update(facts.caller)
    context: JSONObject = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": format_request_time(now_ms),
        "messageDirection": "IN",
        "stage": facts.stage,
        "connectedAt": facts.connected_at,
        "requestTimeEpoch": now_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": facts.domain_name,
        "connectionId": facts.connection_id,
        "apiId": facts.api_id,
    }
    if facts.authorizer is not None:
        context["authorizer"] = dict(facts.authorizer)
    return context


def template_context(
    facts: ConnectionFacts,
    route_key: str,
    event_type: str,
    request_id: str,
    now_ms: int,
    *,
    message_id: str | None = None,
    is_base64_encoded: bool = False,
) -> JSONObject:
    """The ``$context`` variables of a mapping template and of request parameters (§4.1).

    The same values as a proxy event's ``requestContext``, plus ``messageId`` on messages and
    ``isBase64Encoded``, which AWS's own samples read in templates.
    """
    context = _request_context(facts, route_key, event_type, request_id, now_ms)
    if message_id is not None:
        context["messageId"] = message_id
    context["isBase64Encoded"] = is_base64_encoded
    return context


def _with_stage_variables(event: JSONObject, facts: ConnectionFacts) -> JSONObject:
    if facts.stage_variables:
        event["stageVariables"] = dict(facts.stage_variables)
    return event


def connect_headers(facts: ConnectionFacts, handshake: Handshake) -> list[tuple[str, str]]:
    """The headers API Gateway hands the $connect integration: the client's minus hop headers,
    plus the X-Forwarded-* and trace headers it adds (replacing the client's own)."""
    headers: list[tuple[str, str]] = []
    client_forwarded: list[str] = []
    for name, value in handshake.headers:  # one pass: a handshake's headers are read once
        lower = name.lower()
        if lower == "x-forwarded-for":
            client_forwarded.append(value)
        elif lower not in _DROPPED_HEADERS:
            headers.append((name, value))
    forwarded_for = facts.source_ip
    if client_forwarded:  # a proxy in front named the client; AWS appends the address it saw
        forwarded_for = ", ".join([*client_forwarded, forwarded_for])
    headers += (
        ("X-Amzn-Trace-Id", handshake.trace_id),
        ("X-Forwarded-For", forwarded_for),
        ("X-Forwarded-Port", handshake.forwarded_port),
        ("X-Forwarded-Proto", handshake.forwarded_proto),
    )
    return headers


def build_connect_event(
    facts: ConnectionFacts, handshake: Handshake, request_id: str, now_ms: int
) -> JSONObject:
    """The CONNECT event: handshake headers and, only when present, the query string."""
    single, multi = _fold(connect_headers(facts, handshake))
    event: JSONObject = {"headers": single, "multiValueHeaders": multi}
    if handshake.query:
        query, multi_query = _fold(handshake.query)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = _request_context(facts, "$connect", "CONNECT", request_id, now_ms)
    event["isBase64Encoded"] = False
    return _with_stage_variables(event, facts)


def build_message_event(
    facts: ConnectionFacts,
    route_key: str,
    body: str,
    *,
    is_base64_encoded: bool,
    request_id: str,
    message_id: str,
    now_ms: int,
) -> JSONObject:
    """The MESSAGE event: the body and the request context, no headers."""
    context = _request_context(facts, route_key, "MESSAGE", request_id, now_ms)
    context["messageId"] = message_id
    event: JSONObject = {
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    }
    if facts.stage_variables:  # _with_stage_variables, without a call per message
        event["stageVariables"] = dict(facts.stage_variables)
    return event


def build_disconnect_event(
    facts: ConnectionFacts, request_id: str, now_ms: int, status_code: int, reason: str
) -> JSONObject:
    """The DISCONNECT event: AWS's fixed four headers and the close code and reason."""
    headers = {"Host": facts.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = _request_context(facts, "$disconnect", "DISCONNECT", request_id, now_ms)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    event: JSONObject = {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
    return _with_stage_variables(event, facts)


def _fold(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single-value (last wins, as API Gateway's v1 payload) and multi-value maps."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi
