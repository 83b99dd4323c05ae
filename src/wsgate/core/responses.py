"""What the client gets back: error frames, handshake decisions, route responses (§3.2, §5, §10).

AWS's error frames are reproduced byte for byte, including the odd spacing: a space after
``"message":`` and after the following comma, none inside the id pairs.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from wsgate.types import JSONValue

__all__ = [
    "BAD_REQUEST_BODY",
    "ENDPOINT_TIMED_OUT",
    "FORBIDDEN",
    "INTERNAL_SERVER_ERROR",
    "TOO_MANY_REQUESTS",
    "UNSUPPORTED_MEDIA_TYPE",
    "ConnectDecision",
    "UnusableAnswer",
    "bad_request_frame",
    "decide_connect",
    "error_frame",
    "is_group_name",
    "route_response",
]

FORBIDDEN: Final = "Forbidden"
INTERNAL_SERVER_ERROR: Final = "Internal server error"
ENDPOINT_TIMED_OUT: Final = "Endpoint request timed out"
# AWS leaves the frame of a throttled message unstated (§9.2); this follows its other frames.
TOO_MANY_REQUESTS: Final = "Too Many Requests"
# AWS's 415 for a message no request template takes (§3.8); the frame's text is unconfirmed.
UNSUPPORTED_MEDIA_TYPE: Final = "Unsupported Media Type"
# A message its route's model refuses (§4.5); its frame has a shape of its own.
BAD_REQUEST_BODY: Final = "Bad request body"


def error_frame(message: str, connection_id: str, request_id: str) -> str:
    """AWS's error frame, e.g. ``{"message": "Forbidden", "connectionId":"…", "requestId":"…"}``."""
    return (
        f'{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}'
    )


def bad_request_frame(connection_id: str, message_id: str) -> str:
    """AWS's frame for a body its model refuses, as documented (§10): a space before the
    first colon, spaces after every other, and the ``messageId`` instead of the request's id."""
    return (
        f'{{"message" : "{BAD_REQUEST_BODY}", "connectionId": "{connection_id}", '
        f'"messageId": "{message_id}"}}'
    )


@dataclass(frozen=True, slots=True)
class ConnectDecision:
    """How the handshake is answered after ``$connect``.

    ``status`` 101 accepts; any other value is sent as the HTTP status of the refusal.
    ``subprotocol`` is the only thing copied back from the function's headers (§1.2).
    """

    status: int
    subprotocol: str | None = None
    problem: str | None = None  # why the handshake is refused, for logs only
    # Groups the connection joins (beyond AWS: a "groups" list in the function's answer).
    groups: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        """True when the socket opens."""
        return self.status == 101


_ACCEPT: Final = ConnectDecision(101)


def decide_connect(payload: JSONValue) -> ConnectDecision:
    """Turn a ``$connect`` function's return value into the handshake answer.

    2xx accepts; any other status is the answer. A function that returns nothing, or an object
    without ``statusCode``, accepts: the AWS docs make the ``$connect`` integration optional and
    its answer matters only when it refuses (recorded in docs/decisions.md).

    Raises:
        UnusableAnswer: not an object, a ``statusCode`` that is no HTTP status, bad groups.
    """
    if payload is None:
        return _ACCEPT
    if not isinstance(payload, dict):
        raise UnusableAnswer(f"function returned {type(payload).__name__}, expected an object")
    groups: tuple[str, ...] = ()
    if "groups" in payload:
        listed = payload["groups"]
        if not isinstance(listed, list) or not all(
            isinstance(g, str) and is_group_name(g) for g in listed
        ):
            raise UnusableAnswer(f"groups must be a list of group names: {listed!r}")
        groups = tuple(listed)
    if "statusCode" not in payload:
        return ConnectDecision(101, groups=groups) if groups else _ACCEPT
    status = _status_code(payload["statusCode"])
    if status is None:
        raise UnusableAnswer(f"statusCode {payload['statusCode']!r} is not an HTTP status")
    if not 200 <= status <= 299:
        return ConnectDecision(status, problem=f"$connect answered {status}")
    subprotocol = _subprotocol(payload.get("headers"))
    if subprotocol is None and not groups:
        return _ACCEPT  # the usual answer: one decision, made once
    return ConnectDecision(101, subprotocol=subprotocol, groups=groups)


def is_group_name(name: str) -> bool:
    """Group names: 1-128 letters, digits and ``_ - . : @ /`` (they appear in URLs)."""
    return _GROUP_NAME.fullmatch(name) is not None


_GROUP_NAME: Final = re.compile(r"[A-Za-z0-9_\-.:@/]{1,128}")


def _status_code(value: JSONValue) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    # 1xx cannot answer a handshake: 101 is the gateway's to send, the rest are not final.
    if isinstance(value, int) and 200 <= value <= 599:
        return value
    return None


def _subprotocol(headers: JSONValue) -> str | None:
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == "sec-websocket-protocol":
            return str(value)
    return None


# Not in errors.py's tree: the integration that asked translates it into IntegrationBadResponse.
class UnusableAnswer(ValueError):
    """A function's answer cannot become a handshake answer or a route response."""


def route_response(payload: JSONValue) -> str | bytes | None:
    """The message a proxy function's answer produces when its route has a route response.

    ``body`` is sent as one text frame; no ``body`` sends nothing (AWS reports conflict on a
    missing body; sending nothing is what most clients expect). ``isBase64Encoded: true``
    decodes the body and sends a binary frame.

    Raises:
        UnusableAnswer: the answer is not an object, or ``body`` is not a string (or holds a
            lone surrogate, which no text frame can carry).
    """
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise UnusableAnswer(f"function returned {type(payload).__name__}, expected an object")
    if "body" not in payload or payload["body"] is None:
        return None
    body = payload["body"]
    if not isinstance(body, str):
        raise UnusableAnswer(f"body is {type(body).__name__}, expected a string")
    if payload.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise UnusableAnswer(f"body is not valid base64: {error}") from error
    if not body.isascii():  # O(1) in CPython: only other text pays for the check
        try:
            body.encode()
        except UnicodeEncodeError as error:
            # A lone surrogate (json.loads makes one of "\ud800") cannot go in a text frame.
            raise UnusableAnswer(f"body is not Unicode text: {error.reason}") from error
    return body
