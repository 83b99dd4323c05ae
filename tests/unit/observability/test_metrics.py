"""Prometheus metrics from scripted request records and connection events."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from wsgate.observability.hooks import ConnectionEvent, RequestRecord
from wsgate.observability.metrics import MetricsObserver

API, STAGE = "abc123", "prod"

_BASE = RequestRecord(
    request_id="R",
    connection_id="C",
    event_type="MESSAGE",
    route_key="$default",
    stage=STAGE,
    api_id=API,
    domain_name="example.test",
    source_ip="127.0.0.1",
    user_agent=None,
    connected_at_ms=0,
    request_time_ms=0,
    status=200,
    latency_ms=1.0,
)


def _record(**changes: Any) -> RequestRecord:
    return dataclasses.replace(_BASE, **changes)


def _event(opened: bool, code: int | None = None) -> ConnectionEvent:
    return ConnectionEvent(
        connection_id="C",
        stage=STAGE,
        api_id=API,
        source_ip="127.0.0.1",
        at_ms=0,
        opened=opened,
        disconnect_status_code=code,
    )


SCRIPT = [
    _record(event_type="CONNECT", route_key="$connect", integration_latency_ms=4.0),
    _record(route_key="sendmessage", message_bytes=100, integration_latency_ms=20.0),
    _record(route_key="sendmessage", message_bytes=50, integration_latency_ms=30.0),
    _record(route_key="$default", message_bytes=7, integration_latency_ms=2000.0),
    # No route matched: Forbidden, refused before any integration.
    _record(route_key=None, status=403, message_bytes=3, error_kind="client"),
    _record(
        route_key="sendmessage", status=500, error_kind="integration", integration_latency_ms=5.0
    ),
    _record(route_key="$default", status=504, error_kind="execution"),
    _record(event_type="DISCONNECT", route_key="$disconnect", disconnect_status_code=1000),
]


def _samples(observer: MetricsObserver) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = observer.exposition()[0].decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(observer: MetricsObserver, name: str, **labels: str) -> float | None:
    return _samples(observer).get((name, frozenset(labels.items())))


def _route(route: str) -> dict[str, str]:
    return {"api_id": API, "stage": STAGE, "route": route}


@pytest.fixture
def observer() -> MetricsObserver:
    observer = MetricsObserver()
    observer.on_connection(_event(opened=True))
    for record in SCRIPT:
        observer.on_request(record)
    observer.on_connection(_event(opened=False, code=1000))
    return observer


@pytest.mark.parametrize(
    ("name", "route", "expected"),
    [
        ("wsgate_connect_count_total", "$connect", 1),
        ("wsgate_connect_count_total", "$default", 0),
        ("wsgate_message_count_total", "sendmessage", 3),
        ("wsgate_message_count_total", "$default", 2),
        ("wsgate_message_count_total", "-", 1),
        ("wsgate_message_count_total", "$connect", 0),
        ("wsgate_message_count_total", "$disconnect", 0),
        ("wsgate_messages_in_bytes_total", "sendmessage", 150),
        ("wsgate_messages_in_bytes_total", "$default", 7),
        ("wsgate_messages_in_bytes_total", "-", 3),
        ("wsgate_client_error_total", "-", 1),
        ("wsgate_client_error_total", "sendmessage", 0),
        ("wsgate_integration_error_total", "sendmessage", 1),
        ("wsgate_integration_error_total", "$default", 0),
        ("wsgate_execution_error_total", "$default", 1),
        ("wsgate_execution_error_total", "-", 0),
    ],
)
def test_aws_counters(observer: MetricsObserver, name: str, route: str, expected: float) -> None:
    assert _value(observer, name, **_route(route)) == expected


def test_aws_names_in_help(observer: MetricsObserver) -> None:
    text = observer.exposition()[0].decode()
    helps = {family.name: family.documentation for family in text_string_to_metric_families(text)}
    assert helps["wsgate_connect_count"].startswith("AWS: ConnectCount.")
    assert helps["wsgate_message_count"].startswith("AWS: MessageCount.")
    assert helps["wsgate_integration_error"].startswith("AWS: IntegrationError.")
    assert helps["wsgate_client_error"].startswith("AWS: ClientError.")
    assert helps["wsgate_execution_error"].startswith("AWS: ExecutionError.")
    assert helps["wsgate_integration_latency_seconds"].startswith("AWS: IntegrationLatency.")


@pytest.mark.parametrize(
    ("route", "count", "total", "under_25ms"),
    [
        ("$connect", 1, 0.004, 1),
        ("sendmessage", 3, 0.055, 2),  # 20 ms, 30 ms, 5 ms
        ("$default", 1, 2.0, 0),  # the 504 has no integration latency
        ("-", 0, 0.0, 0),
    ],
)
def test_latency_histogram(
    observer: MetricsObserver, route: str, count: int, total: float, under_25ms: int
) -> None:
    name = "wsgate_integration_latency_seconds"
    assert _value(observer, f"{name}_count", **_route(route)) == count
    assert _value(observer, f"{name}_sum", **_route(route)) == pytest.approx(total)
    assert _value(observer, f"{name}_bucket", **_route(route), le="0.025") == under_25ms
    assert _value(observer, f"{name}_bucket", **_route(route), le="+Inf") == count


def test_refused_connect_is_a_client_error_not_a_connect() -> None:
    observer = MetricsObserver()
    observer.on_request(_record(event_type="CONNECT", route_key="$connect", error_kind="client"))
    assert _value(observer, "wsgate_connect_count_total", **_route("$connect")) == 0
    assert _value(observer, "wsgate_client_error_total", **_route("$connect")) == 1


def test_connections_gauge_and_close_codes(observer: MetricsObserver) -> None:
    labels = {"api_id": API, "stage": STAGE}
    assert _value(observer, "wsgate_connections", **labels) == 0
    observer.on_connection(_event(opened=True))
    observer.on_connection(_event(opened=True))
    observer.on_connection(_event(opened=True))
    observer.on_connection(_event(opened=False))
    observer.on_connection(_event(opened=False, code=1000))
    assert _value(observer, "wsgate_connections", **labels) == 1
    closed = "wsgate_connections_closed_total"
    assert _value(observer, closed, **labels, disconnect_status_code="1000") == 2
    assert _value(observer, closed, **labels, disconnect_status_code="-") == 1


def test_process_metrics_present(observer: MetricsObserver) -> None:
    names = {name for name, _ in _samples(observer)}
    assert "python_info" in names
    assert any(name.startswith("python_gc_") for name in names)


def test_exposition_content_type(observer: MetricsObserver) -> None:
    body, content_type = observer.exposition()
    assert content_type == CONTENT_TYPE_LATEST
    assert body.startswith(b"# HELP")


def test_observers_are_independent(observer: MetricsObserver) -> None:
    other = MetricsObserver()
    other.on_request(_record(route_key="sendmessage"))
    assert _value(other, "wsgate_message_count_total", **_route("sendmessage")) == 1
    assert _value(other, "wsgate_connect_count_total", **_route("$connect")) is None
    assert _value(observer, "wsgate_message_count_total", **_route("sendmessage")) == 3


def test_label_children_are_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    observer = MetricsObserver()
    observer.on_request(_record(route_key="sendmessage"))
    series = observer._route_series[(API, STAGE, "sendmessage")]
    calls: list[tuple[str, ...]] = []
    real_labels = MetricWrapperBase.labels

    def counting_labels(metric: Any, *values: str) -> Any:
        calls.append(values)
        return real_labels(metric, *values)

    monkeypatch.setattr(MetricWrapperBase, "labels", counting_labels)
    for _ in range(5):
        observer.on_request(_record(route_key="sendmessage"))
        observer.on_connection(_event(opened=True))
    observer.on_connection(_event(opened=True))
    assert calls == [(API, STAGE)]  # only the first gauge lookup; counters came from the cache
    assert observer._route_series[(API, STAGE, "sendmessage")] is series
    assert series.message is observer._message.labels(API, STAGE, "sendmessage")
