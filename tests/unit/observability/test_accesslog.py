"""The access-log observer: buffered lines to a file or a standard stream."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest

from wsgate.core.accesslog import compile_access_log_format
from wsgate.observability import accesslog
from wsgate.observability.accesslog import AccessLogObserver
from wsgate.observability.hooks import ConnectionEvent, Observer, RequestRecord

_FORMAT = compile_access_log_format("$context.requestId $context.stage $context.status")
_RECORD = RequestRecord(
    request_id="R1",
    connection_id="C1",
    event_type="MESSAGE",
    route_key="$default",
    stage="prod",
    api_id="abc123defg",
    domain_name="localhost",
    source_ip="127.0.0.1",
    user_agent=None,
    connected_at_ms=1,
    request_time_ms=2,
    status=200,
    latency_ms=1.0,
)
_EVENT = ConnectionEvent(
    connection_id="C1",
    stage="prod",
    api_id="abc123defg",
    source_ip="127.0.0.1",
    at_ms=1,
    opened=True,
)


def _records(count: int, stage: str = "prod") -> list[RequestRecord]:
    return [dataclasses.replace(_RECORD, request_id=f"R{i}", stage=stage) for i in range(count)]


def test_is_an_observer() -> None:
    observer: Observer = AccessLogObserver(_FORMAT)
    observer.on_connection(_EVENT)


async def test_lines_wait_for_the_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accesslog, "FLUSH_DELAY", 0.01)
    path = tmp_path / "access.log"
    observer = AccessLogObserver(_FORMAT, str(path))
    written = asyncio.get_running_loop().create_future()
    flush = observer.flush

    def flushed() -> None:
        flush()
        if not written.done():
            written.set_result(path.read_text())

    monkeypatch.setattr(observer, "flush", flushed)
    for record in _records(2):
        observer.on_request(record)
    assert path.read_text() == ""  # created, nothing written yet
    observer.on_request(_records(3)[2])  # a timer is pending: no second one
    assert await asyncio.wait_for(written, timeout=5) == "R0 prod 200\nR1 prod 200\nR2 prod 200\n"
    observer.close()


async def test_a_full_buffer_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("old\n")
    observer = AccessLogObserver(_FORMAT, str(path))
    big = dataclasses.replace(_RECORD, request_id="x" * accesslog.FLUSH_BYTES)
    observer.on_request(_RECORD)
    observer.on_request(big)
    assert path.read_text() == f"old\nR1 prod 200\n{big.request_id} prod 200\n"
    observer.close()


async def test_close_flushes_and_later_records_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    observer = AccessLogObserver(_FORMAT, str(path))
    observer.on_request(_RECORD)
    observer.close()
    observer.close()
    observer.on_request(_RECORD)
    assert path.read_text() == "R1 prod 200\n"


async def test_only_the_chosen_stage_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    observer = AccessLogObserver(_FORMAT, str(path), stage="prod")
    for record in [*_records(1, "dev"), *_records(1, "prod")]:
        observer.on_request(record)
    observer.close()
    assert path.read_text() == "R0 prod 200\n"


def test_without_a_loop_lines_are_written_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    observer = AccessLogObserver(_FORMAT)
    observer.on_request(_RECORD)
    assert capsys.readouterr().err == "R1 prod 200\n"


@pytest.mark.parametrize("destination", ["stderr", "stdout"])
async def test_streams(destination: str, capsys: pytest.CaptureFixture[str]) -> None:
    observer = AccessLogObserver(_FORMAT, destination)
    for record in _records(2, "dev"):
        observer.on_request(record)
    observer.close()
    captured = capsys.readouterr()
    assert getattr(captured, destination[3:]) == "R0 dev 200\nR1 dev 200\n"
    observer.flush()  # nothing buffered: nothing written
    assert capsys.readouterr().err == ""


async def test_write_failures_are_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    observer = AccessLogObserver(_FORMAT, str(tmp_path / "access.log"))
    observer.on_request(_RECORD)
    observer._file.close()  # type: ignore[union-attr]
    with caplog.at_level(logging.ERROR, logger=accesslog.__name__):
        observer.flush()
    assert "access log write failed" in caplog.text
