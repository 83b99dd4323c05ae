"""Per-route message rate and latency over the last few minutes, for the dashboard's charts.

:class:`RouteStats` is an Observer: each finished request lands in its route's one-second bucket
(count, errors, latency sum and maximum, a coarse latency histogram). Buckets older than the
window are dropped, so memory is bounded by window x routes whatever the traffic. A snapshot
merges buckets into steps of any width; because histograms merge exactly, a step's percentiles
are as good as a second's.

Percentiles are read from the histogram's 1-2-5 scale: the upper bound of the bucket holding the
rank, never more than the largest latency seen. They overstate by at most one step of the scale,
which is plenty to tell 2 ms from 200 ms on a chart.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Final, TypedDict, TypeVar

from wsgate.observability.hooks import ConnectionEvent, RequestRecord

__all__ = ["NO_ROUTE", "LatencySummary", "RouteStats", "RouteSummary", "StatsSnapshot", "StepStats"]

# The route of a message no route matched (the Forbidden case); not a valid route key.
NO_ROUTE: Final = "(no route)"
# Upper bounds in milliseconds; a last, unbounded bucket catches the rest.
_BOUNDS_MS: Final = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

_K = TypeVar("_K", str, int)


class LatencySummary(TypedDict):
    """Latency of a set of requests, in milliseconds."""

    mean: float
    p50: float
    p95: float
    max: float


class StepStats(TypedDict):
    """One step of a route's series: requests that started in ``[t, t + step)``."""

    t: int  # epoch seconds
    count: int
    errors: int
    latencyMs: LatencySummary


class RouteSummary(TypedDict):
    """One route over the snapshot's span: totals and the series of steps that saw traffic."""

    route: str
    count: int
    errors: int
    ratePerSecond: float
    latencyMs: LatencySummary
    series: list[StepStats]


class StatsSnapshot(TypedDict):
    """What ``GET /_wsgate/stats`` answers."""

    windowSeconds: int
    seconds: int
    step: int
    now: int  # epoch seconds; the span is ``(now - seconds, now]``
    routes: list[RouteSummary]


class _Bucket:
    """Requests of one route in one second (or, once merged, one step)."""

    __slots__ = ("count", "errors", "histogram", "latency_max", "latency_sum")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self.histogram = [0] * (len(_BOUNDS_MS) + 1)

    def add(self, latency_ms: float, failed: bool) -> None:
        self.count += 1
        if failed:
            self.errors += 1
        self.latency_sum += latency_ms
        self.latency_max = max(self.latency_max, latency_ms)
        self.histogram[bisect_left(_BOUNDS_MS, latency_ms)] += 1

    def merge(self, other: _Bucket) -> None:
        self.count += other.count
        self.errors += other.errors
        self.latency_sum += other.latency_sum
        self.latency_max = max(self.latency_max, other.latency_max)
        for index, seen in enumerate(other.histogram):
            self.histogram[index] += seen

    def latency(self) -> LatencySummary:
        return {
            "mean": _round(self.latency_sum / self.count) if self.count else 0.0,
            "p50": self._percentile(0.50),
            "p95": self._percentile(0.95),
            "max": _round(self.latency_max),
        }

    def _percentile(self, share: float) -> float:
        rank = math.ceil(share * self.count)
        seen = 0
        for bound, found in zip((*_BOUNDS_MS, math.inf), self.histogram, strict=True):
            seen += found
            if seen >= rank:
                return _round(min(bound, self.latency_max))
        return 0.0  # no requests: nothing to rank


class RouteStats:
    """Per-route, per-second request counts, errors and latency over a bounded window.

    Args:
        window_seconds: how far back the stats reach.
        clock: wall-clock time in epoch seconds (tests inject their own).
    """

    def __init__(
        self, window_seconds: int = 300, *, clock: Callable[[], float] = time.time
    ) -> None:
        if window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        self.window_seconds = window_seconds
        self._clock = clock
        self._seconds: dict[int, dict[str, _Bucket]] = {}
        self._trimmed_at = -1

    def on_request(self, record: RequestRecord) -> None:
        """Count one finished request in the second it started."""
        now = int(self._clock())
        if now != self._trimmed_at:  # trimming is per second, not per request
            self._trim(now)
        second = record.request_time_ms // 1000
        if second <= now - self.window_seconds:
            return  # started before the window (a very slow request): nothing would show it
        routes = self._seconds.get(second)
        if routes is None:
            routes = self._seconds[second] = {}
        route = record.route_key or NO_ROUTE
        bucket = routes.get(route)
        if bucket is None:
            bucket = routes[route] = _Bucket()
        bucket.add(record.latency_ms, record.error is not None or record.status >= 400)

    def on_connection(self, event: ConnectionEvent) -> None:
        """Connections are not charted per route."""

    def snapshot(self, seconds: int | None = None, step: int = 1) -> StatsSnapshot:
        """Every route's totals and series over the last ``seconds`` (at most the window).

        Args:
            seconds: the span to report; None for the whole window.
            step: seconds per point of the series (at least 1, at most the span).
        """
        now = int(self._clock())
        span = self.window_seconds if seconds is None else max(1, min(seconds, self.window_seconds))
        step = max(1, min(step, span))
        first = now - span + 1
        totals: dict[str, _Bucket] = {}
        steps: dict[str, dict[int, _Bucket]] = {}
        for second, routes in self._seconds.items():
            if not first <= second <= now:
                continue
            start = first + (second - first) // step * step
            for route, bucket in routes.items():
                _merge_into(totals, route, bucket)
                _merge_into(steps.setdefault(route, {}), start, bucket)
        return {
            "windowSeconds": self.window_seconds,
            "seconds": span,
            "step": step,
            "now": now,
            "routes": [
                _summary(route, totals[route], steps[route].items(), span)
                for route in sorted(totals)
            ],
        }

    def _trim(self, now: int) -> None:
        cutoff = now - self.window_seconds
        for second in [second for second in self._seconds if second <= cutoff]:
            del self._seconds[second]
        self._trimmed_at = now


def _merge_into(buckets: dict[_K, _Bucket], key: _K, bucket: _Bucket) -> None:
    merged = buckets.get(key)
    if merged is None:
        merged = buckets[key] = _Bucket()
    merged.merge(bucket)


def _summary(
    route: str, total: _Bucket, steps: Iterable[tuple[int, _Bucket]], span: int
) -> RouteSummary:
    series: list[StepStats] = [
        {"t": start, "count": b.count, "errors": b.errors, "latencyMs": b.latency()}
        for start, b in sorted(steps)
    ]
    return {
        "route": route,
        "count": total.count,
        "errors": total.errors,
        "ratePerSecond": _round(total.count / span),
        "latencyMs": total.latency(),
        "series": series,
    }


def _round(value: float) -> float:
    return round(value, 3)
