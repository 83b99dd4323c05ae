"""Structured log lines: JSON off a terminal, readable text on one."""

from __future__ import annotations

import io
import json
import logging

import pytest

from wsgate.observability.logs import configure_logging, log_event


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logger():
    root = logging.getLogger("wsgate")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def test_json_lines_carry_fields() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    log = logging.getLogger("wsgate.server.dataplane")
    log_event(log, logging.INFO, "request", requestId="R", connectionId="C", status=200)
    record = json.loads(stream.getvalue())
    assert record["message"] == "request"
    assert record["level"] == "INFO"
    assert record["logger"] == "wsgate.server.dataplane"
    assert (record["requestId"], record["connectionId"], record["status"]) == ("R", "C", 200)
    assert record["time"].endswith("Z")


def test_levels_filter_and_skip_work() -> None:
    stream = io.StringIO()
    configure_logging("warning", stream=stream)
    log_event(logging.getLogger("wsgate.x"), logging.INFO, "hidden", a=1)
    assert stream.getvalue() == ""


def test_text_on_a_terminal_with_exception() -> None:
    stream = _Terminal()
    configure_logging("debug", stream=stream)
    log = logging.getLogger("wsgate.x")
    log_event(log, logging.INFO, "connection open", connectionId="C", skipped=None)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert "INFO" in lines[0] and "connection open  connectionId=C" in lines[0]
    assert "skipped" not in lines[0]
    assert "ValueError: boom" in stream.getvalue()


def test_json_exception_field() -> None:
    stream = io.StringIO()
    configure_logging("info", json_lines=True, stream=stream)
    try:
        raise KeyError("k")
    except KeyError:
        logging.getLogger("wsgate.y").exception("bad")
    assert "KeyError" in json.loads(stream.getvalue())["exception"]


def _recurse(depth: int) -> None:
    # Two alternating frames: Python folds repeats of one line, not of a pair.
    if depth:
        _again(depth - 1)
    raise RecursionError("deep")


def _again(depth: int) -> None:
    _recurse(depth)


@pytest.mark.parametrize("terminal", [False, True])
def test_tracebacks_are_bounded(terminal: bool) -> None:
    stream = _Terminal() if terminal else io.StringIO()
    configure_logging("info", stream=stream)
    log = logging.getLogger("wsgate.server.dataplane")
    try:
        _recurse(300)
    except RecursionError:
        log.exception("message handling failed")
    written = stream.getvalue()
    text = written if terminal else json.loads(written)["exception"]
    assert text.endswith("RecursionError: deep") or text.rstrip().endswith("RecursionError: deep")
    assert text.count("in _recurse") + text.count("in _again") == 20  # the innermost only
    assert len(written) < 9000


def test_a_huge_traceback_is_cut_to_its_end() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    log = logging.getLogger("wsgate.server.dataplane")
    try:
        raise ValueError("x" * 20_000)
    except ValueError:
        log.exception("failed")
    text = json.loads(stream.getvalue())["exception"]
    assert text.startswith("[... traceback cut ...]\n")
    assert text.endswith("x" * 100)
    assert len(text) <= 8192 + 30
