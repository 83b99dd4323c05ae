"""Request spans: parents from incoming headers, context passed on, outcomes recorded."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from wsgate.observability.otel import RequestTracer, build_provider

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_a_span_without_parent_starts_a_trace_and_passes_it_on(spans):
    provider, exporter = spans
    span = RequestTracer(provider).begin(
        "WebSocket sendmessage", {"wsgate.route_key": "sendmessage", "wsgate.integration": None}
    )
    span.end(200)
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "WebSocket sendmessage"
    assert finished.kind is SpanKind.SERVER
    assert finished.parent is None
    assert finished.attributes == {"wsgate.route_key": "sendmessage", "wsgate.status": 200}
    assert finished.status.status_code is StatusCode.UNSET
    headers = dict(span.headers)
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1  # sampled
    assert int(trace_id, 16) == finished.context.trace_id
    assert int(span_id, 16) == finished.context.span_id


def test_an_incoming_traceparent_becomes_the_parent(spans):
    provider, exporter = spans
    incoming = [("TraceParent", f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"), ("Host", "x")]
    RequestTracer(provider).begin("@connections POST", {}, incoming).end(200)
    (finished,) = exporter.get_finished_spans()
    assert finished.context.trace_id == int(PARENT_TRACE, 16)
    assert finished.parent is not None
    assert finished.parent.span_id == int(PARENT_SPAN, 16)


@pytest.mark.parametrize(
    ("kind", "code"),
    [("integration", StatusCode.ERROR), ("execution", StatusCode.ERROR), (None, StatusCode.ERROR)],
)
def test_gateway_failures_mark_the_span_as_an_error(spans, kind, code):
    provider, exporter = spans
    RequestTracer(provider).begin("WebSocket x", {}).end(504, "timed out", kind, {"a": "b"})
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is code
    assert finished.status.description == "timed out"
    assert finished.attributes["error.type"] == (kind or "error")
    assert finished.attributes["a"] == "b"


def test_a_refused_request_is_not_the_gateways_error(spans):
    provider, exporter = spans
    RequestTracer(provider).begin("WebSocket (no route)", {}).end(403, "no route", "client")
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.UNSET
    assert finished.attributes["error.type"] == "client"


def test_global_uses_the_process_provider():
    assert build_provider("global", "wsgate") is None
    span = RequestTracer(None).begin("x", {})  # the API's no-op provider: nothing recorded
    span.end(200)
    assert span.headers == ()


@pytest.mark.parametrize("exporter", ["console", "otlp"])
def test_exporters_build_a_provider_named_for_the_service(exporter):
    provider = build_provider(exporter, "chat-gateway", "http://127.0.0.1:1/v1/traces")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "chat-gateway"
    provider.shutdown()
