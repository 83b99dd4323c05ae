"""One connection's state and limits: what to do with each frame, when to close, and how a close
is reported to ``$disconnect`` (§1.3, §1.4 of the AWS reference).

The session decides; the data plane carries the decisions out. Times are passed in: ``now`` is
a monotonic clock reading in seconds, ``now_ms`` a wall-clock epoch in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

__all__ = ["CloseCause", "Closing", "FrameKind", "Session", "State", "close_for"]


class State(Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"  # handshake received, $connect running: not yet addressable
    OPEN = "open"
    CLOSING = "closing"  # close decided, $disconnect pending
    CLOSED = "closed"


class FrameKind(Enum):
    """The data frames a client can send."""

    TEXT = "text"
    BINARY = "binary"


class CloseCause(Enum):
    """Why a connection ended; each maps to a close code and a ``$disconnect`` reason."""

    CLIENT = "client"  # the client sent a close frame (with a code it may send, else 1002)
    ABNORMAL = "abnormal"  # the TCP connection went away without a close frame
    DELETED = "deleted"  # DELETE @connections/{id}
    IDLE = "idle"
    MAX_DURATION = "max_duration"
    SHUTDOWN = "shutdown"
    MESSAGE_TOO_BIG = "message_too_big"
    BINARY_REFUSED = "binary_refused"
    PROTOCOL_ERROR = "protocol_error"
    INVALID_TEXT = "invalid_text"  # a text message that is not valid UTF-8
    SLOW_READER = "slow_reader"
    INTERNAL = "internal"
    NODE_LOST = "node_lost"  # the node holding the socket died; another node reports it


@dataclass(frozen=True, slots=True)
class Closing:
    """A decided close: the code sent to the client and the pair ``$disconnect`` reports."""

    cause: CloseCause
    close_code: int  # sent in our close frame (irrelevant when the client closed first)
    close_reason: str
    disconnect_status_code: int
    disconnect_reason: str


# Close code sent, $disconnect status code and reason. Observed pairs come from real AWS events;
# AWS publishes none for idle/max-duration/shutdown, for which wsgate sends 1001 "Going away"
# (docs/decisions.md). The reasons stay distinct so logs tell the causes apart.
_SERVER_CLOSES: Final[dict[CloseCause, tuple[int, str]]] = {
    CloseCause.DELETED: (1000, "Connection Closed Normally"),
    CloseCause.IDLE: (1001, "Going away"),
    CloseCause.MAX_DURATION: (1001, "Going away"),
    CloseCause.SHUTDOWN: (1001, "Going away"),
    CloseCause.MESSAGE_TOO_BIG: (1009, "Message too big"),
    CloseCause.BINARY_REFUSED: (1003, "Binary frames are not supported"),
    CloseCause.PROTOCOL_ERROR: (1002, "Protocol error"),
    CloseCause.INVALID_TEXT: (1007, "Invalid frame payload data"),
    CloseCause.SLOW_READER: (1008, "Client is not reading its messages"),
    CloseCause.INTERNAL: (1011, "Internal server error"),
    # The socket died with its node, so no frame was sent: 1006, with a reason of its own.
    CloseCause.NODE_LOST: (1006, "Gateway node lost"),
}
_NO_STATUS: Final = 1005
_ABNORMAL: Final = 1006


def _is_receivable(code: int) -> bool:
    """True for a close code a peer may send (RFC 6455 §7.4 and the IANA registry).

    1004 is reserved; 1005, 1006 and 1015 stand for the absence of a frame or a TLS failure
    and are never sent; 1016-2999 are unassigned; 3000-4999 are for libraries and apps.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_for(
    cause: CloseCause, client_code: int | None = None, client_reason: str = ""
) -> Closing:
    """The close frame and ``$disconnect`` pair for a cause.

    A client close is answered with the client's own code (RFC 6455 §5.5.1) and reports its
    code and reason; a close frame without a code is AWS's 1005 ``Client-side close frame status
    not set``, answered with 1000. A code no peer may send, 1005 and 1006 included, fails the
    connection with 1002 (§7.4.1).
    """
    if cause is CloseCause.CLIENT:
        if client_code is None:
            return _CLIENT_NO_STATUS
        if _is_receivable(client_code):
            if client_reason:
                return Closing(cause, client_code, "", client_code, client_reason)
            # Most clients close without a reason: one decision per code, made once.
            closing = _client_closes.get(client_code)
            if closing is None:
                closing = _client_closes[client_code] = Closing(
                    cause, client_code, "", client_code, ""
                )
            return closing
        cause = CloseCause.PROTOCOL_ERROR
    return _SERVER_CLOSINGS[cause]


# Decisions that depend on nothing but their cause, made once (Closing is frozen).
_SERVER_CLOSINGS: Final[dict[CloseCause, Closing]] = {
    cause: Closing(cause, code, reason, code, reason)
    for cause, (code, reason) in _SERVER_CLOSES.items()
}
_SERVER_CLOSINGS[CloseCause.ABNORMAL] = Closing(
    CloseCause.ABNORMAL, _ABNORMAL, "", _ABNORMAL, "Connection closed abnormally"
)
_CLIENT_NO_STATUS: Final = Closing(
    CloseCause.CLIENT, 1000, "", _NO_STATUS, "Client-side close frame status not set"
)
# Client closes without a reason, by code; bounded by the codes a client may send.
_client_closes: dict[int, Closing] = {}


class Session:
    """The pure state of one connection.

    Args:
        idle_timeout: seconds without a message either way before it closes (§1.4).
        max_duration: seconds after which it closes whatever its traffic (§1.4).
        strict: refuse binary frames, as AWS does (``awsStrict``).
    """

    __slots__ = (
        "_deadline_hard",
        "_strict",
        "_wall_offset_ms",
        "closing",
        "connected_at_ms",
        "idle_timeout",
        "last_active_monotonic",
        "state",
    )

    def __init__(
        self, *, idle_timeout: float, max_duration: float, strict: bool, now: float, now_ms: int
    ) -> None:
        self._strict = strict
        self.state = State.CONNECTING
        self.connected_at_ms = now_ms
        # Wall time is derived from the monotonic clock: one clock read per touch, not two.
        self._wall_offset_ms = now_ms - now * 1000
        self.last_active_monotonic = now
        self.idle_timeout = idle_timeout
        self._deadline_hard = now + max_duration
        self.closing: Closing | None = None

    def open(self) -> None:
        """``$connect`` accepted the connection: it becomes addressable."""
        if self.state is State.CONNECTING:
            self.state = State.OPEN

    def on_message(self, kind: FrameKind, now: float) -> Closing | None:
        """A complete message arrived; returns a close decision when it must be refused."""
        if kind is FrameKind.BINARY and self._strict:
            return self.close(CloseCause.BINARY_REFUSED)
        self.touch(now)
        return None

    def touch(self, now: float) -> None:
        """Traffic in either direction resets the idle timer (§1.4); pings do not count."""
        self.last_active_monotonic = now

    @property
    def last_active_at_ms(self) -> int:
        """Wall-clock time of the last message either way, in epoch milliseconds."""
        return round(self._wall_offset_ms + self.last_active_monotonic * 1000)

    def deadline(self) -> float:
        """The monotonic time at which the connection expires unless there is traffic."""
        return min(self.last_active_monotonic + self.idle_timeout, self._deadline_hard)

    def expiry(self, now: float) -> CloseCause | None:
        """Which timer has run out at ``now``, if any (the hard limit wins ties)."""
        if now >= self._deadline_hard:
            return CloseCause.MAX_DURATION
        if now >= self.last_active_monotonic + self.idle_timeout:
            return CloseCause.IDLE
        return None

    def close(
        self, cause: CloseCause, client_code: int | None = None, client_reason: str = ""
    ) -> Closing:
        """Decide the close; the first cause wins, later calls return the same decision."""
        if self.closing is None:
            self.closing = close_for(cause, client_code, client_reason)
            self.state = State.CLOSING
        return self.closing

    def finish(self) -> None:
        """The socket is gone and ``$disconnect`` has been dispatched."""
        self.state = State.CLOSED

    @property
    def addressable(self) -> bool:
        """True when @connections may post to it (open, not closing)."""
        return self.state is State.OPEN
