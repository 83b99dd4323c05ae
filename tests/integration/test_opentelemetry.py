"""OpenTelemetry end to end: spans exported over OTLP/HTTP, trace context passed to backends.

A real gateway calls a real aiohttp backend (HTTP_PROXY) and exports its spans to a real
OTLP/HTTP endpoint started by the test, which decodes them with OpenTelemetry's own protobuf
messages. The backend's ``traceparent`` must name the gateway's span for that request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.helpers import UNIT, SignedHttp, eventually, ws_client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@dataclass
class Servers:
    """The backend and the OTLP collector, on one aiohttp app."""

    port: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    spans: list[Any] = field(default_factory=list)

    def spans_named(self, name: str) -> list[Any]:
        return [span for span in self.spans if span.name == name]

    def attributes(self, span: Any) -> dict[str, Any]:
        found = {}
        for item in span.attributes:
            value = item.value
            found[item.key] = value.string_value or value.int_value
        return found


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    found = Servers()

    async def backend(request: web.Request) -> web.Response:
        found.headers.append(dict(request.headers))
        if request.path == "/fail":
            return web.Response(status=500, text="boom")
        return web.Response(body=await request.read(), content_type="application/json")

    async def collector(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert service["service.name"] == "chat-gateway"
            for scope_spans in resource_spans.scope_spans:
                found.spans.extend(scope_spans.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", collector)
    app.router.add_route("*", "/{tail:.*}", backend)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.port = runner.addresses[0][1]
    try:
        yield found
    finally:
        await runner.cleanup()


async def start_gateway(tmp_path: Path, servers: Servers) -> Gateway:
    base = f"http://127.0.0.1:{servers.port}"
    config = {
        "name": "otel",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
        "routes": {
            "$connect": {"target": "connect"},
            "echo": {"target": "echo", "routeResponseSelectionExpression": "$default"},
            "fail": {"target": "fail", "routeResponseSelectionExpression": "$default"},
        },
        "integrations": {
            "connect": {"integrationType": "HTTP_PROXY", "integrationUri": f"{base}/connect"},
            "echo": {"integrationType": "HTTP_PROXY", "integrationUri": f"{base}/echo"},
            "fail": {"integrationType": "HTTP_PROXY", "integrationUri": f"{base}/fail"},
        },
        "server": {
            "openTelemetry": {"endpoint": f"{base}/v1/traces", "serviceName": "chat-gateway"}
        },
    }
    path = tmp_path / "wsgate.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    gateway = Gateway(load_config(path), base_dir=tmp_path)
    await gateway.start(port=0)
    return gateway


def traceparent_ids(value: str) -> tuple[bytes, bytes]:
    _, trace_id, span_id, _ = value.split("-")
    return bytes.fromhex(trace_id), bytes.fromhex(span_id)


async def test_backends_join_the_trace_of_each_request(tmp_path, servers):
    gateway = await start_gateway(tmp_path, servers)
    caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    try:
        url = f"ws://127.0.0.1:{gateway.port}/dev"
        async with ws_client(url, additional_headers={"traceparent": caller}) as ws:
            await ws.send(json.dumps({"action": "echo", "n": 1}))
            assert json.loads(await ws.recv()) == {"action": "echo", "n": 1}
            await ws.send(json.dumps({"action": "fail"}))
            assert "Internal server error" in str(await ws.recv())
            await ws.send(json.dumps({"action": "nothing"}))  # no route, no $default
            assert "Forbidden" in str(await ws.recv())
    finally:
        await gateway.stop(timeout=5 * UNIT)  # flushes the last spans
    await eventually(lambda: len(servers.spans) >= 4)
    connect_headers, echo_headers, fail_headers = servers.headers

    (connect,) = servers.spans_named("WebSocket $connect")
    # The client's traceparent on the upgrade request is the $connect span's parent.
    assert connect.trace_id.hex() == CALLER_TRACE
    assert connect.parent_span_id.hex() == CALLER_SPAN
    assert traceparent_ids(connect_headers["traceparent"]) == (connect.trace_id, connect.span_id)

    (echo,) = servers.spans_named("WebSocket echo")
    assert traceparent_ids(echo_headers["traceparent"]) == (echo.trace_id, echo.span_id)
    attributes = servers.attributes(echo)
    assert attributes["wsgate.route_key"] == "echo"
    assert attributes["wsgate.integration"] == "echo"
    assert attributes["wsgate.status"] == 200
    assert attributes["wsgate.connection_id"] == servers.attributes(connect)["wsgate.connection_id"]
    assert echo.status.code == 0  # unset: it went well

    (fail,) = servers.spans_named("WebSocket fail")
    assert traceparent_ids(fail_headers["traceparent"])[1] == fail.span_id
    assert fail.status.code == 2  # error
    assert servers.attributes(fail)["error.type"] == "integration"

    (forbidden,) = servers.spans_named("WebSocket (no route)")
    assert servers.attributes(forbidden)["wsgate.status"] == 403
    assert forbidden.status.code == 0  # the client's mistake, not the gateway's


async def test_a_management_call_continues_the_callers_trace(tmp_path, servers):
    gateway = await start_gateway(tmp_path, servers)
    caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{gateway.port}/dev/@connections/AAAAAAAAAAAAAAA="
            http = SignedHttp(session)
            async with http.post(url, data=b"hi", headers={"traceparent": caller}) as reply:
                assert reply.status == 410
    finally:
        await gateway.stop(timeout=5 * UNIT)
    (span,) = await eventually(lambda: servers.spans_named("@connections POST"))
    assert span.trace_id.hex() == CALLER_TRACE
    assert span.parent_span_id.hex() == CALLER_SPAN
    assert servers.attributes(span)["wsgate.status"] == 410
