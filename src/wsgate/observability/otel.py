"""OpenTelemetry spans for requests through the gateway (the ``otel`` extra).

One span per request: a ``$connect``, a message, a ``$disconnect``, a ``@connections`` call.
Its W3C trace context (``traceparent``, ``tracestate``) goes to HTTP integrations, so the
backend's spans join the same trace; an incoming ``traceparent`` (on the upgrade request or a
``@connections`` call) becomes the span's parent. This is the only module that imports
OpenTelemetry, and only when ``server.openTelemetry`` is configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

import wsgate
from wsgate.errors import ConfigError, ConfigIssue

__all__ = ["RequestSpan", "RequestTracer", "build_provider", "build_tracer"]

Exporter = Literal["otlp", "console", "global"]
_PROPAGATED: Final = ("traceparent", "tracestate")


class RequestSpan:
    """A request's span while it runs; ``headers`` carry its context onward."""

    __slots__ = ("_span", "headers")

    def __init__(self, span: Span, headers: tuple[tuple[str, str], ...]) -> None:
        self._span = span
        self.headers = headers

    def end(
        self,
        status: int,
        error: str | None = None,
        error_kind: str | None = None,
        attributes: Mapping[str, str | int] | None = None,
    ) -> None:
        """Close the span with the request's outcome.

        A refused request (``error_kind`` "client", e.g. Forbidden) is not the gateway's
        failure, so only integration and execution errors mark the span as an error.
        """
        span = self._span
        span.set_attribute("wsgate.status", status)
        for key, value in (attributes or {}).items():
            span.set_attribute(key, value)
        if error is not None:
            span.set_attribute("error.type", error_kind or "error")
            if error_kind != "client":
                span.set_status(Status(StatusCode.ERROR, error))
        span.end()


class RequestTracer:
    """Starts request spans on a tracer provider."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        # None: the process's global provider, set up by the application or an agent.
        self._provider = provider
        self._tracer = trace.get_tracer("wsgate", wsgate.__version__, tracer_provider=provider)

    def shutdown(self) -> None:
        """Export what is still buffered (blocking: call it off the event loop)."""
        if self._provider is not None:
            self._provider.shutdown()

    def begin(
        self,
        name: str,
        attributes: Mapping[str, str | int | None],
        incoming: Iterable[tuple[str, str]] = (),
    ) -> RequestSpan:
        """Start a request's span, child of the trace context in ``incoming`` headers if any."""
        carrier = {k.lower(): v for k, v in incoming if k.lower() in _PROPAGATED}
        parent = extract(carrier) if carrier else None
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
        outgoing: dict[str, str] = {}
        inject(outgoing, context=trace.set_span_in_context(span))
        return RequestSpan(span, tuple(outgoing.items()))


def build_tracer(
    exporter: Exporter, service_name: str, endpoint: str | None = None
) -> RequestTracer:
    """The tracer ``server.openTelemetry`` asks for, with its own provider unless ``global``."""
    return RequestTracer(build_provider(exporter, service_name, endpoint))


def build_provider(
    exporter: Exporter, service_name: str, endpoint: str | None = None
) -> TracerProvider | None:
    """The provider ``server.openTelemetry`` asks for; None means the process's global one.

    Raises:
        ConfigError: ``otlp`` without its exporter package installed.
    """
    if exporter == "global":
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(exporter, endpoint)))
    return provider


def _exporter(exporter: Exporter, endpoint: str | None) -> SpanExporter:
    if exporter == "console":
        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as error:  # pragma: no cover - the otel extra installs it
        issue = ConfigIssue(
            "server.openTelemetry.exporter",
            "otlp needs the OTLP exporter: pip install 'wsgate[otel]'",
        )
        raise ConfigError([issue]) from error
    # With no endpoint the exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, as agents do.
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
