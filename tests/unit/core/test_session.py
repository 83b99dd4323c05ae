"""Connection state, timers and close decisions (§1.3, §1.4 of the AWS reference)."""

from __future__ import annotations

import pytest

from wsgate.core.session import CloseCause, Closing, FrameKind, Session, State, close_for


@pytest.mark.parametrize(
    ("cause", "client_code", "client_reason", "closing"),
    [
        # Observed on AWS.
        (
            CloseCause.CLIENT,
            None,
            "",
            Closing(CloseCause.CLIENT, 1000, "", 1005, "Client-side close frame status not set"),
        ),
        (CloseCause.CLIENT, 1001, "", Closing(CloseCause.CLIENT, 1001, "", 1001, "")),
        (
            CloseCause.DELETED,
            None,
            "",
            Closing(
                CloseCause.DELETED,
                1000,
                "Connection Closed Normally",
                1000,
                "Connection Closed Normally",
            ),
        ),
        # The client's own code and reason are reported as sent.
        (CloseCause.CLIENT, 1000, "bye", Closing(CloseCause.CLIENT, 1000, "", 1000, "bye")),
        (CloseCause.CLIENT, 4000, "custom", Closing(CloseCause.CLIENT, 4000, "", 4000, "custom")),
        # AWS publishes nothing for timers and shutdown: 1001 "Going away".
        (
            CloseCause.IDLE,
            None,
            "",
            Closing(CloseCause.IDLE, 1001, "Going away", 1001, "Going away"),
        ),
        (
            CloseCause.MAX_DURATION,
            None,
            "",
            Closing(CloseCause.MAX_DURATION, 1001, "Going away", 1001, "Going away"),
        ),
        (
            CloseCause.SHUTDOWN,
            None,
            "",
            Closing(CloseCause.SHUTDOWN, 1001, "Going away", 1001, "Going away"),
        ),
        (
            CloseCause.MESSAGE_TOO_BIG,
            None,
            "",
            Closing(CloseCause.MESSAGE_TOO_BIG, 1009, "Message too big", 1009, "Message too big"),
        ),
        (
            CloseCause.BINARY_REFUSED,
            None,
            "",
            Closing(
                CloseCause.BINARY_REFUSED,
                1003,
                "Binary frames are not supported",
                1003,
                "Binary frames are not supported",
            ),
        ),
        (
            CloseCause.ABNORMAL,
            None,
            "",
            Closing(CloseCause.ABNORMAL, 1006, "", 1006, "Connection closed abnormally"),
        ),
        (
            CloseCause.PROTOCOL_ERROR,
            None,
            "",
            Closing(CloseCause.PROTOCOL_ERROR, 1002, "Protocol error", 1002, "Protocol error"),
        ),
        (
            CloseCause.INVALID_TEXT,
            None,
            "",
            Closing(
                CloseCause.INVALID_TEXT,
                1007,
                "Invalid frame payload data",
                1007,
                "Invalid frame payload data",
            ),
        ),
        (
            CloseCause.SLOW_READER,
            None,
            "",
            Closing(
                CloseCause.SLOW_READER,
                1008,
                "Client is not reading its messages",
                1008,
                "Client is not reading its messages",
            ),
        ),
        (
            CloseCause.INTERNAL,
            None,
            "",
            Closing(
                CloseCause.INTERNAL, 1011, "Internal server error", 1011, "Internal server error"
            ),
        ),
        (
            CloseCause.NODE_LOST,
            None,
            "",
            Closing(CloseCause.NODE_LOST, 1006, "Gateway node lost", 1006, "Gateway node lost"),
        ),
        # A client code given with a server cause is ignored.
        (
            CloseCause.DELETED,
            4000,
            "x",
            Closing(
                CloseCause.DELETED,
                1000,
                "Connection Closed Normally",
                1000,
                "Connection Closed Normally",
            ),
        ),
    ],
)
def test_close_for(cause, client_code, client_reason, closing):
    assert close_for(cause, client_code, client_reason) == closing


# RFC 6455 §7.4 and the IANA registry: the edges of every range a peer may send from.
RECEIVABLE = [1000, 1001, 1002, 1003, 1007, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999]
# 1005, 1006 and 1015 are never sent in a frame; 1004 is reserved; the rest is unassigned.
FORBIDDEN = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", RECEIVABLE)
def test_client_code_is_echoed_and_reported(code):
    # §5.5.1: the answer echoes the client's code; $disconnect reports its code and reason.
    assert close_for(CloseCause.CLIENT, code, "why") == Closing(
        CloseCause.CLIENT, code, "", code, "why"
    )


@pytest.mark.parametrize("code", FORBIDDEN)
def test_client_code_no_peer_may_send_is_a_protocol_error(code):
    assert close_for(CloseCause.CLIENT, code, "why") == close_for(CloseCause.PROTOCOL_ERROR)
    assert close_for(CloseCause.CLIENT, code).close_code == 1002


@pytest.mark.parametrize("cause", list(CloseCause))
def test_every_cause_has_a_close(cause):
    closing = close_for(cause)
    assert closing.cause is cause
    assert 1000 <= closing.close_code <= 4999
    assert 1000 <= closing.disconnect_status_code <= 4999
    # Close frames carry at most 123 bytes of reason.
    assert len(closing.close_reason.encode()) <= 123


_START = 1000.0
_START_MS = 1_707_503_007_396


def _session(*, strict=False, idle_timeout=10, max_duration=100):
    return Session(
        idle_timeout=idle_timeout,
        max_duration=max_duration,
        strict=strict,
        now=_START,
        now_ms=_START_MS,
    )


def test_new_session():
    session = _session()
    assert session.state is State.CONNECTING
    assert not session.addressable
    assert session.closing is None
    assert session.connected_at_ms == session.last_active_at_ms == _START_MS
    assert session.last_active_monotonic == _START
    assert session.idle_timeout == 10
    assert session.deadline() == _START + 10
    assert session.expiry(_START) is None


def test_aws_limits():
    session = _session(idle_timeout=600, max_duration=7200)
    assert session.deadline() == _START + 600
    assert session.expiry(_START + 599.999) is None
    assert session.expiry(_START + 600) is CloseCause.IDLE


@pytest.mark.parametrize(
    ("touches", "deadline"),
    [
        ((), 1010.0),
        ((1005.0,), 1015.0),
        ((1005.0, 1009.0), 1019.0),
        ((1089.0,), 1099.0),
        ((1090.0,), 1100.0),  # idle and hard limits coincide
        ((1095.0,), 1100.0),  # the hard limit is not moved by traffic
        ((1099.9,), 1100.0),
    ],
)
def test_deadline(touches, deadline):
    session = _session()
    for at in touches:
        session.touch(at)
    assert session.deadline() == deadline


@pytest.mark.parametrize(
    ("touches", "now", "cause"),
    [
        ((), 1000.0, None),
        ((), 1009.999, None),
        ((), 1010.0, CloseCause.IDLE),
        ((), 1050.0, CloseCause.IDLE),
        ((1005.0,), 1010.0, None),
        ((1005.0,), 1014.999, None),
        ((1005.0,), 1015.0, CloseCause.IDLE),
        ((1020.0, 1028.0), 1037.0, None),
        ((1020.0, 1028.0), 1038.0, CloseCause.IDLE),
        # Traffic keeps the connection up until the hard limit, never past it.
        ((1095.0,), 1099.999, None),
        ((1095.0,), 1100.0, CloseCause.MAX_DURATION),
        ((1099.0,), 1100.0, CloseCause.MAX_DURATION),
        ((1099.0,), 5000.0, CloseCause.MAX_DURATION),
        # Both timers run out at once: the hard limit wins.
        ((1090.0,), 1100.0, CloseCause.MAX_DURATION),
        ((), 1100.0, CloseCause.MAX_DURATION),
    ],
)
def test_expiry(touches, now, cause):
    session = _session()
    for at in touches:
        session.touch(at)
    assert session.expiry(now) is cause


def test_touch_records_both_clocks():
    session = _session()
    session.touch(1003.5)
    assert session.last_active_monotonic == 1003.5
    assert session.last_active_at_ms == _START_MS + 3500
    assert session.connected_at_ms == _START_MS


@pytest.mark.parametrize(
    ("strict", "kind", "refused"),
    [
        (False, FrameKind.TEXT, False),
        (False, FrameKind.BINARY, False),
        (True, FrameKind.TEXT, False),
        (True, FrameKind.BINARY, True),
    ],
)
def test_on_message(strict, kind, refused):
    session = _session(strict=strict)
    session.open()
    result = session.on_message(kind, 1005.0)
    if refused:
        assert result == close_for(CloseCause.BINARY_REFUSED)
        assert result.close_code == 1003
        assert session.state is State.CLOSING
        assert session.last_active_monotonic == _START  # a refused frame is not activity
        assert session.last_active_at_ms == _START_MS
    else:
        assert result is None
        assert session.state is State.OPEN
        assert session.last_active_monotonic == 1005.0
        assert session.last_active_at_ms == _START_MS + 5000
        assert session.deadline() == 1015.0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (CloseCause.IDLE, CloseCause.DELETED),
        (CloseCause.DELETED, CloseCause.CLIENT),
        (CloseCause.CLIENT, CloseCause.ABNORMAL),
        (CloseCause.BINARY_REFUSED, CloseCause.MESSAGE_TOO_BIG),
        (CloseCause.SHUTDOWN, CloseCause.SHUTDOWN),
    ],
)
def test_first_close_cause_wins(first, second):
    session = _session()
    session.open()
    closing = session.close(first, 4001, "first")
    assert session.state is State.CLOSING
    assert session.close(second, 4002, "second") is closing
    assert session.closing is closing
    assert closing == close_for(first, 4001, "first")


def test_binary_after_close_keeps_the_first_decision():
    session = _session(strict=True)
    session.open()
    closing = session.close(CloseCause.DELETED)
    assert session.on_message(FrameKind.BINARY, 1001.0) is closing


def test_lifecycle_and_addressability():
    session = _session()
    seen = [(session.state, session.addressable)]
    session.open()
    seen.append((session.state, session.addressable))
    session.open()  # idempotent
    seen.append((session.state, session.addressable))
    session.close(CloseCause.CLIENT)
    seen.append((session.state, session.addressable))
    session.open()  # a closing connection never reopens
    seen.append((session.state, session.addressable))
    session.finish()
    seen.append((session.state, session.addressable))
    session.open()
    seen.append((session.state, session.addressable))
    assert seen == [
        (State.CONNECTING, False),
        (State.OPEN, True),
        (State.OPEN, True),
        (State.CLOSING, False),
        (State.CLOSING, False),
        (State.CLOSED, False),
        (State.CLOSED, False),
    ]


def test_close_while_connecting():
    session = _session()
    session.close(CloseCause.ABNORMAL)
    assert session.state is State.CLOSING
    assert not session.addressable


def test_decisions_without_a_reason_are_made_once():
    first = close_for(CloseCause.CLIENT, 4001)
    assert close_for(CloseCause.CLIENT, 4001) is first
    assert (first.close_code, first.disconnect_status_code, first.disconnect_reason) == (
        4001,
        4001,
        "",
    )
    with_reason = close_for(CloseCause.CLIENT, 4001, "bye")
    assert with_reason is not first and with_reason.disconnect_reason == "bye"
    assert close_for(CloseCause.IDLE) is close_for(CloseCause.IDLE)
