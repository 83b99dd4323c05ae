"""What a request through a route comes to: one table for `$connect`, messages, `$disconnect`.

Every request ends in one :class:`Result` (the integration answered, timed out, raised, ...; or
the gateway refused it before calling anything). :data:`RULES` maps each (phase, result) pair to
the status that logs, metrics and traces report (AWS's ``$context.status``), the error family of
AWS's metrics, what the client gets, and what becomes of the socket, with the section of the AWS
behaviour reference, or the decision in ``docs/decisions.md``, that each row follows. The data
plane performs the :class:`Outcome` that :func:`decide` builds from a row and never chooses a
status itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal, NamedTuple

from wsgate.core.responses import (
    BAD_REQUEST_BODY,
    ENDPOINT_TIMED_OUT,
    FORBIDDEN,
    INTERNAL_SERVER_ERROR,
    TOO_MANY_REQUESTS,
    UNSUPPORTED_MEDIA_TYPE,
    bad_request_frame,
    error_frame,
)
from wsgate.errors import (
    FunctionError,
    IntegrationError,
    IntegrationTimeout,
    IntegrationUnavailable,
    UnsupportedContent,
)
from wsgate.types import new_tuple

__all__ = [
    "RULES",
    "ErrorKind",
    "Outcome",
    "Phase",
    "Result",
    "Rule",
    "Socket",
    "decide",
    "phase_of",
    "replied",
    "result_of",
]

# AWS's metric families (§9.5): ClientError is refused before the integration runs,
# ExecutionError failed to call it (timeout, unreachable), IntegrationError is its own failure.
ErrorKind = Literal["client", "execution", "integration"]


class Phase(Enum):
    """Which of a connection's requests this is."""

    CONNECT = "$connect"
    MESSAGE = "message"
    DISCONNECT = "$disconnect"


class Result(Enum):
    """What a request came to."""

    ANSWERED = "answered"  # a usable answer; on $connect, one that accepts
    DECLINED = "declined"  # $connect: the integration answered with a status outside 2xx
    TIMED_OUT = "timed out"  # no answer within timeoutInMillis
    UNREACHABLE = "unreachable"  # the target could not be reached, or its worker died or stopped
    RAISED = "raised"  # the function failed (Lambda's error payload)
    INVALID = "invalid"  # the answer cannot be used
    UNSUPPORTED = "unsupported"  # no request template takes it and passthrough is off
    # Refused before any integration runs:
    THROTTLED = "throttled"  # a throttle, quota or connection cap
    FORBIDDEN = "forbidden"  # no route, no API key, a denying policy or signature, an origin
    UNAUTHORIZED = "unauthorized"  # $connect: the authorizer said Unauthorized, or no identity
    AUTHORIZER_FAILED = "authorizer failed"  # $connect: the authorizer failed or answered badly
    BAD_REQUEST_BODY = "bad request body"  # a message: its route's model refuses the body


class Socket(Enum):
    """What becomes of the socket."""

    OPENS = "opens"  # the handshake is answered 101
    NOT_OPENED = "not opened"  # the handshake is answered with the status; no socket
    STAYS_OPEN = "stays open"  # whatever a message comes to, AWS keeps the connection
    CLOSED = "closed"  # $disconnect runs after the socket has gone


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table.

    Attributes:
        status: the status reported; None for the status the answer carries (a declined
            ``$connect``, whose client gets that status).
        error_kind: the metrics family; None for success.
        frame: a message's error frame text (``{"message": ...}``); None sends the reply, if any.
        socket: what becomes of the socket; on ``$connect`` the client gets ``status``.
        source: the section of the AWS reference, or ``decisions`` for docs/decisions.md.
    """

    status: int | None
    error_kind: ErrorKind | None
    frame: str | None
    socket: Socket
    source: str


_C, _M, _D = Phase.CONNECT, Phase.MESSAGE, Phase.DISCONNECT
_OPEN, _REFUSED = Socket.STAYS_OPEN, Socket.NOT_OPENED

RULES: Final[Mapping[tuple[Phase, Result], Rule]] = {
    # $connect: the handshake waits for the integration; its answer is the upgrade's (§1.2).
    (_C, Result.ANSWERED): Rule(200, None, None, Socket.OPENS, "§1.2: 2xx accepts"),
    (_C, Result.DECLINED): Rule(None, "integration", None, _REFUSED, "§1.2: that status"),
    (_C, Result.TIMED_OUT): Rule(504, "execution", None, _REFUSED, "decisions: REST's 504"),
    (_C, Result.UNREACHABLE): Rule(502, "execution", None, _REFUSED, "§1.2: failure is 502"),
    (_C, Result.RAISED): Rule(502, "integration", None, _REFUSED, "§1.2: failure is 502"),
    (_C, Result.INVALID): Rule(502, "integration", None, _REFUSED, "decisions: malformed, 502"),
    (_C, Result.UNSUPPORTED): Rule(415, "client", None, _REFUSED, "§3.8: 415"),
    (_C, Result.THROTTLED): Rule(429, "client", None, _REFUSED, "§1.4: 429"),
    (_C, Result.FORBIDDEN): Rule(403, "client", None, _REFUSED, "§1.2, §6.4: 403"),
    (_C, Result.UNAUTHORIZED): Rule(401, "client", None, _REFUSED, "§1.2, §6.1: 401"),
    (_C, Result.AUTHORIZER_FAILED): Rule(500, "integration", None, _REFUSED, "§6.3: 500"),
    # Messages: every failure is an error frame on a socket that stays open (§10).
    (_M, Result.ANSWERED): Rule(200, None, None, _OPEN, "§5.2: the reply, if a route response"),
    (_M, Result.TIMED_OUT): Rule(504, "execution", ENDPOINT_TIMED_OUT, _OPEN, "§10"),
    (_M, Result.UNREACHABLE): Rule(500, "execution", INTERNAL_SERVER_ERROR, _OPEN, "§10"),
    (_M, Result.RAISED): Rule(500, "integration", INTERNAL_SERVER_ERROR, _OPEN, "§3.2, §10"),
    (_M, Result.INVALID): Rule(500, "integration", INTERNAL_SERVER_ERROR, _OPEN, "§10"),
    (_M, Result.UNSUPPORTED): Rule(415, "client", UNSUPPORTED_MEDIA_TYPE, _OPEN, "§3.8"),
    (_M, Result.THROTTLED): Rule(429, "client", TOO_MANY_REQUESTS, _OPEN, "§9.2: decisions"),
    (_M, Result.FORBIDDEN): Rule(403, "client", FORBIDDEN, _OPEN, "§10: no route, no key"),
    (_M, Result.BAD_REQUEST_BODY): Rule(400, "client", BAD_REQUEST_BODY, _OPEN, "§4.5, §10"),
    # $disconnect: nothing reaches the client (§1.3); statuses as for messages, for the logs.
    (_D, Result.ANSWERED): Rule(200, None, None, Socket.CLOSED, "§1.3: answer ignored"),
    (_D, Result.TIMED_OUT): Rule(504, "execution", None, Socket.CLOSED, "decisions"),
    (_D, Result.UNREACHABLE): Rule(500, "execution", None, Socket.CLOSED, "decisions"),
    (_D, Result.RAISED): Rule(500, "integration", None, Socket.CLOSED, "decisions"),
    (_D, Result.INVALID): Rule(500, "integration", None, Socket.CLOSED, "decisions"),
    (_D, Result.UNSUPPORTED): Rule(415, "client", None, Socket.CLOSED, "§3.8"),
}


class Outcome(NamedTuple):
    """A finished request: what is reported, and what the client gets.

    A named tuple rather than a frozen dataclass: one is built per message, and a tuple is
    built several times faster.

    Attributes:
        phase, result: the row of :data:`RULES` it came from.
        status: the status reported (``$context.status``); on a refused ``$connect`` also the
            handshake's answer.
        error_kind: the metrics family of a failure, None for success.
        problem: why it failed, for logs and traces only; never sent to the client.
        frame: what goes back on the socket: the reply, an error frame, or None.
        socket: what becomes of the socket.
        subprotocol: the ``Sec-WebSocket-Protocol`` an accepted ``$connect`` answers with.
        groups: the groups an accepted connection joins (beyond AWS).
    """

    phase: Phase
    result: Result
    status: int
    error_kind: ErrorKind | None
    problem: str | None = None
    frame: str | bytes | None = None
    socket: Socket = Socket.STAYS_OPEN
    subprotocol: str | None = None
    groups: tuple[str, ...] = ()


def decide(
    phase: Phase,
    result: Result,
    *,
    problem: str | None = None,
    status: int | None = None,
    reply: str | bytes | None = None,
    connection_id: str = "",
    request_id: str = "",
    message_id: str = "",
    subprotocol: str | None = None,
    groups: tuple[str, ...] = (),
) -> Outcome:
    """The outcome of one request, from its row of :data:`RULES`.

    Args:
        status: the status a declined ``$connect`` answered with (that row has none of its own).
        reply: what the integration answered for a message, when its route has a route response.
        connection_id, request_id: for a message's error frame.
        message_id: for the ``Bad request body`` frame, which names the message instead.

    Raises:
        KeyError: the phase has no such result (a message cannot be declined, for example).
    """
    rule = RULES[(phase, result)]
    frame: str | bytes | None = reply
    if rule.frame is BAD_REQUEST_BODY:
        frame = bad_request_frame(connection_id, message_id)
    elif rule.frame is not None:
        frame = error_frame(rule.frame, connection_id, request_id)
    return Outcome(
        phase,
        result,
        rule.status if rule.status is not None else _declined_status(status),
        rule.error_kind,
        problem,
        frame,
        rule.socket,
        subprotocol,
        groups,
    )


_REPLIED: Final = RULES[(Phase.MESSAGE, Result.ANSWERED)]
_MESSAGE, _ANSWERED = Phase.MESSAGE, Result.ANSWERED
_REPLIED_STATUS, _REPLIED_SOCKET = _REPLIED.status, _REPLIED.socket


def replied(reply: str | bytes | None) -> Outcome:
    """``decide(Phase.MESSAGE, Result.ANSWERED, reply=reply)``, for the hot path.

    Every message that succeeds comes here: its row is read once at import, and the tuple is
    built without ``Outcome.__new__``'s argument handling (half the time).
    """
    fields = (_MESSAGE, _ANSWERED, _REPLIED_STATUS, None, None, reply, _REPLIED_SOCKET, None, ())
    return new_tuple(Outcome, fields)


def _declined_status(status: int | None) -> int:
    if status is None or not 300 <= status <= 599:
        raise ValueError(f"a declined $connect needs its HTTP status, got {status!r}")
    return status


def result_of(error: IntegrationError) -> Result:
    """Which result a failed call came to, from the error its integration raised."""
    if isinstance(error, IntegrationTimeout):
        return Result.TIMED_OUT
    if isinstance(error, IntegrationUnavailable):
        return Result.UNREACHABLE
    if isinstance(error, FunctionError):
        return Result.RAISED
    if isinstance(error, UnsupportedContent):
        return Result.UNSUPPORTED
    return Result.INVALID  # IntegrationBadResponse, or any other unusable answer


def phase_of(route_key: str) -> Phase:
    """The phase a route key stands for."""
    return _PHASES.get(route_key, Phase.MESSAGE)


_PHASES: Final = {Phase.CONNECT.value: Phase.CONNECT, Phase.DISCONNECT.value: Phase.DISCONNECT}
