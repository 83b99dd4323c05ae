"""Per-route stats: buckets, errors, percentiles, steps and the bounded window, time injected."""

from __future__ import annotations

from typing import Any

import pytest

from wsgate.observability.hooks import ConnectionEvent, RequestRecord
from wsgate.observability.routestats import NO_ROUTE, RouteStats

NOW = 1_700_000_000  # epoch seconds of the injected clock


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(at: float = NOW, latency: float = 1.0, **changes: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": "r1",
        "connection_id": "c1",
        "event_type": "MESSAGE",
        "route_key": "echo",
        "stage": "dev",
        "api_id": "api",
        "domain_name": "host",
        "source_ip": "127.0.0.1",
        "user_agent": None,
        "connected_at_ms": 0,
        "request_time_ms": int(at * 1000),
        "status": 200,
        "latency_ms": latency,
    }
    fields.update(changes)
    return RequestRecord(**fields)


def stats_after(*records: RequestRecord, window: int = 300) -> RouteStats:
    stats = RouteStats(window, clock=Clock())
    for each in records:
        stats.on_request(each)
    return stats


def routes(stats: RouteStats, **options: int) -> dict[str, Any]:
    return {summary["route"]: summary for summary in stats.snapshot(**options)["routes"]}


@pytest.mark.parametrize(
    ("latencies", "expected"),
    [
        ([0.3], {"mean": 0.3, "p50": 0.3, "p95": 0.3, "max": 0.3}),
        ([1.0, 1.0, 1.0, 1.0], {"mean": 1.0, "p50": 1.0, "p95": 1.0, "max": 1.0}),
        # The median (3.0) lies in the (2, 5] bucket: its bound; p95 is capped at the max.
        ([1.5, 3.0, 4.0, 300.0], {"mean": 77.125, "p50": 5.0, "p95": 300.0, "max": 300.0}),
        ([*[1.5] * 19, 40.0], {"mean": 3.425, "p50": 2.0, "p95": 2.0, "max": 40.0}),
        ([*[1.5] * 18, 40.0, 40.0], {"mean": 5.35, "p50": 2.0, "p95": 40.0, "max": 40.0}),
        # Beyond the last bound there is only the max to go by.
        ([0.05, 60_000.0], {"mean": 30000.025, "p50": 0.1, "p95": 60000.0, "max": 60000.0}),
    ],
)
def test_latency_summary(latencies: list[float], expected: dict[str, float]) -> None:
    stats = stats_after(*(record(latency=latency) for latency in latencies))
    assert routes(stats)["echo"]["latencyMs"] == expected


@pytest.mark.parametrize(
    ("changes", "route", "errors"),
    [
        ({}, "echo", 0),
        ({"status": 500, "error": "boom"}, "echo", 1),
        ({"status": 504}, "echo", 1),  # a status alone is enough
        ({"status": 200, "error": "late failure"}, "echo", 1),
        ({"route_key": None, "status": 403, "error": "no route"}, NO_ROUTE, 1),
        ({"route_key": "$connect", "event_type": "CONNECT"}, "$connect", 0),
    ],
)
def test_routes_and_errors(changes: dict[str, Any], route: str, errors: int) -> None:
    summary = routes(stats_after(record(**changes)))[route]
    assert (summary["count"], summary["errors"]) == (1, errors)


@pytest.mark.parametrize(
    ("starts", "options", "expected"),
    [
        # Each second is its own point; seconds without traffic are left out.
        ([NOW - 2, NOW - 2, NOW], {}, [(NOW - 2, 2), (NOW, 1)]),
        # Steps are aligned to the end of the span: (NOW-9..NOW-5] and (NOW-4..NOW].
        (
            [NOW - 9, NOW - 5, NOW - 4, NOW],
            {"seconds": 10, "step": 5},
            [(NOW - 9, 2), (NOW - 4, 2)],
        ),
        # A shorter span leaves older seconds out of the series and the totals.
        ([NOW - 20, NOW - 1], {"seconds": 10}, [(NOW - 1, 1)]),
        # Spans beyond the window, and steps beyond the span, are clamped.
        ([NOW - 3, NOW], {"seconds": 9999, "step": 9999}, [(NOW - 299, 2)]),
        ([NOW], {"seconds": 0, "step": 0}, [(NOW, 1)]),
    ],
)
def test_series(
    starts: list[int], options: dict[str, int], expected: list[tuple[int, int]]
) -> None:
    summary = routes(stats_after(*(record(at=start + 0.5) for start in starts)), **options)["echo"]
    assert [(point["t"], point["count"]) for point in summary["series"]] == expected
    assert summary["count"] == sum(count for _, count in expected)


def test_snapshot_shape() -> None:
    snapshot = stats_after(record(), record(route_key="zeta"), record(route_key="alpha")).snapshot(
        seconds=60, step=1
    )
    assert {key: snapshot[key] for key in ("windowSeconds", "seconds", "step", "now")} == {
        "windowSeconds": 300,
        "seconds": 60,
        "step": 1,
        "now": NOW,
    }
    assert [summary["route"] for summary in snapshot["routes"]] == ["alpha", "echo", "zeta"]
    assert snapshot["routes"][0]["ratePerSecond"] == round(1 / 60, 3)


def test_the_window_forgets_old_seconds() -> None:
    clock = Clock()
    stats = RouteStats(10, clock=clock)
    stats.on_request(record(at=NOW))
    stats.on_request(record(at=NOW - 10))  # already outside the window: ignored
    clock.now = NOW + 5
    stats.on_request(record(at=NOW + 5, route_key="later"))
    assert set(routes(stats)) == {"echo", "later"}
    clock.now = NOW + 10  # NOW's second has left the window
    stats.on_request(record(at=NOW + 10, route_key="later"))
    assert set(routes(stats)) == {"later"}
    assert NOW not in stats._seconds  # memory is released, not just hidden
    clock.now = NOW + 100
    assert routes(stats) == {}


def test_connections_are_not_counted() -> None:
    stats = stats_after()
    stats.on_connection(ConnectionEvent("c1", "dev", "api", "127.0.0.1", NOW * 1000, True))
    assert stats.snapshot()["routes"] == []


@pytest.mark.parametrize("window", [0, -5])
def test_window_must_be_positive(window: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RouteStats(window)
