"""Prometheus metrics for the gateway: AWS's CloudWatch set (§9.5) plus a few of our own.

:class:`MetricsObserver` subscribes to the data plane's hooks and keeps its own
:class:`~prometheus_client.CollectorRegistry`, so several gateways in one process (tests)
never share or clash over series. :meth:`MetricsObserver.exposition` hands the text format
to whichever HTTP handler serves ``/metrics``.

AWS metric          Prometheus family                          labels
ConnectCount        ``wsgate_connect_count_total``             api_id, stage, route
MessageCount        ``wsgate_message_count_total``             api_id, stage, route
IntegrationError    ``wsgate_integration_error_total``         api_id, stage, route
ClientError         ``wsgate_client_error_total``              api_id, stage, route
ExecutionError      ``wsgate_execution_error_total``           api_id, stage, route
IntegrationLatency  ``wsgate_integration_latency_seconds``     api_id, stage, route

``route`` is the matched route key, or ``-`` when none matched (the ``Forbidden`` case).
AWS's MessageCount counts both directions; the hooks report only requests, so here it counts
messages *from* clients. Frames sent to clients (replies, ``@connections`` posts) are not
visible through :class:`~wsgate.observability.hooks.Observer` and are not counted.

Beyond AWS: ``wsgate_messages_received_total`` and ``wsgate_messages_sent_total`` (every
frame-level message both ways, replies and ``@connections`` posts included) with their
``..._length_total`` counterparts, ``wsgate_connections`` (live connections),
``wsgate_connections_closed_total``
by ``disconnect_status_code``, ``wsgate_messages_in_bytes_total``, ``wsgate_throttled_total``
(requests refused with 429, by route), ``wsgate_authorizer_decisions_total`` (by ``decision``:
allow, deny, unauthorized, error), and the standard ``process_*``, ``python_info`` and
``python_gc_*`` families.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from wsgate.observability.hooks import ConnectionEvent, RequestRecord

__all__ = ["LATENCY_BUCKETS", "NO_ROUTE", "MetricsObserver"]

# Label value when no route matched; Prometheus allows "" but it reads as "label absent".
NO_ROUTE = "-"
# Label value for a connection that ended without a close frame (dropped socket).
_NO_CODE = "-"

# 1 ms to 30 s: the integration timeout is 29 s (§1.4), so the last finite bucket catches it.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
)

_ROUTE_LABELS = ("api_id", "stage", "route")
_STAGE_LABELS = ("api_id", "stage")


@dataclass(frozen=True, slots=True)
class _RouteSeries:
    """The labelled children of one (api_id, stage, route), resolved once.

    ``labels()`` hashes and locks on every call; the observer runs per message, so it is
    paid once per key. Creating every child up front also exports zeros, which keeps
    ``rate()`` queries defined before the first error.
    """

    connect: Counter
    message: Counter
    message_bytes: Counter
    integration_error: Counter
    client_error: Counter
    execution_error: Counter
    integration_latency: Histogram
    throttled: Counter


class MetricsObserver:
    """An :class:`~wsgate.observability.hooks.Observer` that records Prometheus metrics."""

    def __init__(self) -> None:
        """Create the metric families in a registry private to this observer."""
        registry = CollectorRegistry(auto_describe=True)
        self.registry = registry

        def counter(name: str, documentation: str) -> Counter:
            return Counter(name, documentation, _ROUTE_LABELS, registry=registry)

        self._connect = counter(
            "wsgate_connect_count", "AWS: ConnectCount. Requests sent to the $connect integration."
        )
        self._message = counter(
            "wsgate_message_count", "AWS: MessageCount. Messages received from clients."
        )
        self._message_bytes = counter(
            "wsgate_messages_in_bytes", "Bytes of messages received from clients."
        )
        self._integration_error = counter(
            "wsgate_integration_error",
            "AWS: IntegrationError. Requests the integration answered with 4XX/5XX.",
        )
        self._client_error = counter(
            "wsgate_client_error",
            "AWS: ClientError. Requests refused with 4XX before invoking the integration.",
        )
        self._execution_error = counter(
            "wsgate_execution_error",
            "AWS: ExecutionError. Requests that failed calling the integration.",
        )
        self._integration_latency = Histogram(
            "wsgate_integration_latency_seconds",
            "AWS: IntegrationLatency. Time the integration took to answer.",
            _ROUTE_LABELS,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self._throttled = counter(
            "wsgate_throttled", "Requests refused with 429 by a throttle, quota or limit."
        )
        self._decisions = Counter(
            "wsgate_authorizer_decisions",
            "$connect requests decided by an authorizer or SigV4, by decision.",
            (*_STAGE_LABELS, "decision"),
            registry=registry,
        )
        self._connections = Gauge(
            "wsgate_connections", "Open client connections.", _STAGE_LABELS, registry=registry
        )
        self._closed = Counter(
            "wsgate_connections_closed",
            "Client connections ended, by WebSocket close code (- when none).",
            (*_STAGE_LABELS, "disconnect_status_code"),
            registry=registry,
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        # Keys come from configured APIs, stages and routes, never from client input, so
        # these caches stay small without eviction.
        self._route_series: dict[tuple[str, str, str], _RouteSeries] = {}
        self._open_gauges: dict[tuple[str, str], Gauge] = {}
        self._closed_counters: dict[tuple[str, str, str], Counter] = {}

    def on_request(self, record: RequestRecord) -> None:
        """Count one finished request."""
        key = (record.api_id, record.stage, record.route_key or NO_ROUTE)
        series = self._route_series.get(key)
        if series is None:
            series = self._route_series[key] = self._resolve_route(key)
        kind = record.error_kind
        if record.event_type == "MESSAGE":
            series.message.inc()
            if record.message_bytes:
                series.message_bytes.inc(record.message_bytes)
        elif record.event_type == "CONNECT" and kind != "client":
            # ConnectCount is what reached the $connect integration; a refused handshake
            # (authorizer, throttling) shows up as ClientError instead.
            series.connect.inc()
        if kind == "integration":
            series.integration_error.inc()
        elif kind == "client":
            series.client_error.inc()
        elif kind == "execution":
            series.execution_error.inc()
        if record.integration_latency_ms is not None:
            series.integration_latency.observe(record.integration_latency_ms / 1000)
        if record.status == 429:
            series.throttled.inc()
        if record.authorization is not None:
            self._decisions.labels(record.api_id, record.stage, record.authorization).inc()

    def on_connection(self, event: ConnectionEvent) -> None:
        """Track live connections and how they ended."""
        key = (event.api_id, event.stage)
        gauge = self._open_gauges.get(key)
        if gauge is None:
            gauge = self._open_gauges[key] = self._connections.labels(*key)
        if event.opened:
            gauge.inc()
            return
        gauge.dec()
        code = event.disconnect_status_code
        closed_key = (*key, _NO_CODE if code is None else str(code))
        closed = self._closed_counters.get(closed_key)
        if closed is None:
            closed = self._closed_counters[closed_key] = self._closed.labels(*closed_key)
        closed.inc()

    def watch_traffic(self, traffic: TrafficCounters) -> None:
        """Export a data plane's traffic counters (read at each scrape, never pushed)."""
        self.registry.register(_TrafficCollector(traffic))

    def exposition(self) -> tuple[bytes, str]:
        """Return the registry in the Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _resolve_route(self, key: tuple[str, str, str]) -> _RouteSeries:
        return _RouteSeries(
            connect=self._connect.labels(*key),
            message=self._message.labels(*key),
            message_bytes=self._message_bytes.labels(*key),
            integration_error=self._integration_error.labels(*key),
            client_error=self._client_error.labels(*key),
            execution_error=self._execution_error.labels(*key),
            integration_latency=self._integration_latency.labels(*key),
            throttled=self._throttled.labels(*key),
        )


class TrafficCounters(Protocol):
    """The data plane's message counters (``wsgate.server.connection.Traffic``)."""

    messages_in: int
    messages_out: int
    length_in: int
    length_out: int


class _TrafficCollector(Collector):
    """Reads the data plane's plain counters when Prometheus scrapes."""

    def __init__(self, traffic: TrafficCounters) -> None:
        self._traffic = traffic

    def collect(self) -> Iterable[Metric]:
        traffic = self._traffic
        for name, documentation, value in (
            ("wsgate_messages_received", "Messages received from clients.", traffic.messages_in),
            (
                "wsgate_messages_sent",
                "Messages sent to clients (replies, posts, errors).",
                traffic.messages_out,
            ),
            (
                "wsgate_messages_received_length",
                "Payload length received (characters of text, bytes of binary).",
                traffic.length_in,
            ),
            (
                "wsgate_messages_sent_length",
                "Payload length sent (characters of text, bytes of binary).",
                traffic.length_out,
            ),
        ):
            yield CounterMetricFamily(name, documentation, value=value)
