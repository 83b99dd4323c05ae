"""The outcome table, row by row, with plain values."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsgate.core.outcomes import (
    RULES,
    Outcome,
    Phase,
    Result,
    Socket,
    decide,
    phase_of,
    replied,
    result_of,
)
from wsgate.errors import (
    FunctionError,
    IntegrationBadResponse,
    IntegrationError,
    IntegrationTimeout,
    IntegrationUnavailable,
    UnsupportedContent,
)

CID, RID = "BFHPhfCWIAMCKlQ=", "BFHPhFe3IAMF95g="


def _frame(message: str) -> str:
    return f'{{"message": "{message}", "connectionId":"{CID}", "requestId":"{RID}"}}'


def _bad_body(message_id: str) -> str:
    return (
        f'{{"message" : "Bad request body", "connectionId": "{CID}", "messageId": "{message_id}"}}'
    )


C, M, D = Phase.CONNECT, Phase.MESSAGE, Phase.DISCONNECT
R = Result
OPENS, NOT_OPENED, OPEN, CLOSED = (
    Socket.OPENS,
    Socket.NOT_OPENED,
    Socket.STAYS_OPEN,
    Socket.CLOSED,
)

# (phase, result) -> status, error kind, frame, socket. Every row of RULES, and nothing else.
EXPECTED = [
    (C, R.ANSWERED, 200, None, None, OPENS),
    (C, R.TIMED_OUT, 504, "execution", None, NOT_OPENED),
    (C, R.UNREACHABLE, 502, "execution", None, NOT_OPENED),
    (C, R.RAISED, 502, "integration", None, NOT_OPENED),
    (C, R.INVALID, 502, "integration", None, NOT_OPENED),
    (C, R.UNSUPPORTED, 415, "client", None, NOT_OPENED),
    (C, R.THROTTLED, 429, "client", None, NOT_OPENED),
    (C, R.FORBIDDEN, 403, "client", None, NOT_OPENED),
    (C, R.UNAUTHORIZED, 401, "client", None, NOT_OPENED),
    (C, R.AUTHORIZER_FAILED, 500, "integration", None, NOT_OPENED),
    (M, R.ANSWERED, 200, None, None, OPEN),
    (M, R.TIMED_OUT, 504, "execution", _frame("Endpoint request timed out"), OPEN),
    (M, R.UNREACHABLE, 500, "execution", _frame("Internal server error"), OPEN),
    (M, R.RAISED, 500, "integration", _frame("Internal server error"), OPEN),
    (M, R.INVALID, 500, "integration", _frame("Internal server error"), OPEN),
    (M, R.UNSUPPORTED, 415, "client", _frame("Unsupported Media Type"), OPEN),
    (M, R.THROTTLED, 429, "client", _frame("Too Many Requests"), OPEN),
    (M, R.FORBIDDEN, 403, "client", _frame("Forbidden"), OPEN),
    (M, R.BAD_REQUEST_BODY, 400, "client", _bad_body(""), OPEN),
    (D, R.ANSWERED, 200, None, None, CLOSED),
    (D, R.TIMED_OUT, 504, "execution", None, CLOSED),
    (D, R.UNREACHABLE, 500, "execution", None, CLOSED),
    (D, R.RAISED, 500, "integration", None, CLOSED),
    (D, R.INVALID, 500, "integration", None, CLOSED),
    (D, R.UNSUPPORTED, 415, "client", None, CLOSED),
]


@pytest.mark.parametrize(
    ("phase", "result", "status", "kind", "frame", "socket"),
    EXPECTED,
    ids=[f"{row[0].value}-{row[1].value}" for row in EXPECTED],
)
def test_rows(phase, result, status, kind, frame, socket):
    outcome = decide(phase, result, problem="why", connection_id=CID, request_id=RID)
    assert outcome == Outcome(phase, result, status, kind, "why", frame, socket)


def test_every_row_is_checked_and_cites_its_source():
    expected = {(row[0], row[1]) for row in EXPECTED} | {(C, R.DECLINED)}
    assert set(RULES) == expected
    for rule in RULES.values():
        assert rule.source.startswith(("§", "decisions"))


def test_success_and_failure_agree_with_the_error_kind():
    for (_, result), rule in RULES.items():
        assert (rule.error_kind is None) is (result is Result.ANSWERED)


def test_a_message_sends_its_reply():
    assert decide(M, R.ANSWERED, reply="hi").frame == "hi"
    assert decide(M, R.ANSWERED, reply=b"\x00").frame == b"\x00"
    assert decide(M, R.ANSWERED).frame is None


def test_an_error_frame_replaces_any_reply():
    outcome = decide(M, R.RAISED, reply="late", connection_id=CID, request_id=RID)
    assert outcome.frame == _frame("Internal server error")


def test_a_refused_body_names_the_message_not_the_request():
    outcome = decide(
        M, R.BAD_REQUEST_BODY, connection_id=CID, request_id=RID, message_id="BFHPhGXrIAMF9Bw="
    )
    assert outcome.frame == _bad_body("BFHPhGXrIAMF9Bw=")
    assert outcome.status == 400 and outcome.socket is OPEN


def test_an_accepted_connect_keeps_its_subprotocol_and_groups():
    outcome = decide(C, R.ANSWERED, subprotocol="chat", groups=("lobby",))
    assert (outcome.socket, outcome.subprotocol, outcome.groups) == (OPENS, "chat", ("lobby",))


@pytest.mark.parametrize("status", [300, 400, 401, 403, 501, 599])
def test_a_declined_connect_answers_with_its_status(status):
    outcome = decide(C, R.DECLINED, status=status, problem=f"$connect answered {status}")
    assert outcome == Outcome(
        C, R.DECLINED, status, "integration", f"$connect answered {status}", None, NOT_OPENED
    )


@pytest.mark.parametrize("status", [None, 101, 200, 299, 600])
def test_a_declined_connect_needs_a_refusing_status(status):
    with pytest.raises(ValueError, match="declined"):
        decide(C, R.DECLINED, status=status)


@pytest.mark.parametrize(
    ("phase", "result"),
    [(M, R.DECLINED), (D, R.DECLINED), (M, R.UNAUTHORIZED), (D, R.THROTTLED)],
)
def test_results_a_phase_cannot_have(phase, result):
    with pytest.raises(KeyError):
        decide(phase, result)


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (IntegrationTimeout("f", "slow"), R.TIMED_OUT),
        (IntegrationUnavailable("f", "down"), R.UNREACHABLE),
        (FunctionError("f", "ValueError", "boom"), R.RAISED),
        (FunctionError("f", "Sandbox.Timedout", "Task timed out"), R.RAISED),
        (UnsupportedContent("f", "no template"), R.UNSUPPORTED),
        (IntegrationBadResponse("f", "not JSON", status=200), R.INVALID),
        (IntegrationError("f", "anything else"), R.INVALID),
    ],
)
def test_result_of(error, result):
    assert result_of(error) is result


@pytest.mark.parametrize(
    ("route_key", "phase"),
    [("$connect", C), ("$disconnect", D), ("$default", M), ("sendmessage", M), ("", M)],
)
def test_phase_of(route_key, phase):
    assert phase_of(route_key) is phase


def _documented_rows():
    text = (Path(__file__).parents[3] / "docs" / "decisions.md").read_text(encoding="utf-8")
    section = text.split("## What a request comes to", 1)[1].split("\n## ", 1)[0]
    phases = {"`$connect`": C, "message": M, "`$disconnect`": D}
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] in phases:
            result = R.ANSWERED if cells[1].startswith("answered") else R(cells[1])
            rows[(phases[cells[0]], result)] = (cells[2], cells[3], cells[5])
    return rows


def test_docs_decisions_shows_the_table():
    documented = _documented_rows()
    assert set(documented) == set(RULES)
    for key, rule in RULES.items():
        status, family, socket = documented[key]
        assert status == (str(rule.status) if rule.status is not None else "its status")
        assert family == (rule.error_kind or "\N{EN DASH}")
        assert socket == rule.socket.value


@pytest.mark.parametrize("reply", [None, "hi", b"\x00"])
def test_replied_is_the_answered_message_row(reply):
    assert replied(reply) == decide(M, R.ANSWERED, reply=reply)
