"""Seeing why a message never reached the backend: traces and live logs from a real gateway."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import SignedHttp, admin_headers, eventually, ws_client as client
from wsgate.clients.traces import format_entry, run_logs, run_trace
from wsgate.config.load import parse_config
from wsgate.observability.tracing import TraceFilter
from wsgate.server.app import Gateway


@pytest.fixture
def traced(basic_admin: Gateway) -> Gateway:
    return basic_admin


def _admin(gateway: Gateway) -> str:
    port = next(x.port for x in gateway.listeners if x.role == "admin")
    return f"http://127.0.0.1:{port}"


async def test_trace_says_why_a_message_was_forbidden(traced: Gateway) -> None:
    del traced.dataplane.stages["dev"].routes["$default"]
    async with client(f"ws://127.0.0.1:{traced.port}/dev") as ws:
        await ws.send(json.dumps({"action": "nosuchroute"}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    out = io.StringIO()
    assert await run_trace(_admin(traced), frame["requestId"], out=out) == 0
    text = out.getvalue()
    assert "'nosuchroute'" in text
    assert "no $default route" in text
    assert "Forbidden" in text
    out = io.StringIO()
    assert await run_trace(_admin(traced), frame["requestId"], as_json=True, out=out) == 0
    trace = json.loads(out.getvalue())
    assert trace["status"] == 403
    assert trace["outcome"] == "no_route"
    assert trace["errorKind"] == "client"


async def test_trace_of_a_failing_and_a_working_message(traced: Gateway) -> None:
    async with client(f"ws://127.0.0.1:{traced.port}/dev") as ws:
        await ws.send(json.dumps({"action": "fail"}))
        failed = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send("not json")
        await asyncio.wait_for(ws.recv(), 10)
    out = io.StringIO()
    assert await run_trace(_admin(traced), failed["requestId"], as_json=True, out=out) == 0
    trace = json.loads(out.getvalue())
    assert trace["status"] == 500
    # The error frame the client got is part of the trace.
    assert trace["details"][-1]["step"] == "frame sent"
    assert json.loads(trace["details"][-1]["text"]) == failed
    assert "handler failed on purpose" in trace["error"]
    assert trace["integration"] == "fail"
    async with aiohttp.ClientSession(headers=admin_headers()) as http:
        url = f"{_admin(traced)}/_wsgate/traces"
        async with http.get(url, params={"route": "$default"}) as reply:
            items = (await reply.json())["items"]
        assert [item["outcome"] for item in items] == ["not_json"]
        assert "not a JSON object" in items[0]["why"]
        async with http.get(url, params={"status": "nope"}) as reply:
            assert reply.status == 400
    assert await run_trace(_admin(traced), "AAAAAAAAAAAAAAA=", out=io.StringIO()) == 3
    assert await run_trace("http://127.0.0.1:1", "x", out=io.StringIO()) == 1


async def test_logs_follow_live_entries_with_filters(traced: Gateway) -> None:
    out = io.StringIO()
    follower = asyncio.create_task(
        run_logs(_admin(traced), {"route": "echo", "backlog": "0"}, count=2, out=out)
    )
    await eventually(lambda: traced.traces is not None and traced.traces._followers)
    async with client(f"ws://127.0.0.1:{traced.port}/dev") as ws:
        for n in range(2):
            await ws.send(json.dumps({"action": "echo", "n": n}))
            await asyncio.wait_for(ws.recv(), 10)
        await ws.send(json.dumps({"action": "asyncecho"}))  # filtered out
        await asyncio.wait_for(ws.recv(), 10)
    assert await asyncio.wait_for(follower, 10) == 0
    lines = out.getvalue().splitlines()
    assert sum("MESSAGE" in line and "routeKey=echo" in line for line in lines) == 2
    assert not any("asyncecho" in line for line in lines)


async def test_trace_details_of_a_function_route(traced: Gateway) -> None:
    async with client(f"ws://127.0.0.1:{traced.port}/dev") as ws:
        await ws.send(json.dumps({"action": "echo"}))
        await asyncio.wait_for(ws.recv(), 10)
    store = traced.traces
    assert store is not None
    entry = await eventually(lambda: store.query(TraceFilter(route="echo")))
    call, frame = entry[0]["details"]
    assert call == {"step": "function call", "function": "echo"}
    assert frame["step"] == "frame sent"
    assert frame["kind"] == "text"
    assert frame["bytes"] == len(frame["text"].encode())
    assert entry[0]["replySent"] is True


async def test_trace_details_of_an_http_route(tmp_path: Path) -> None:
    async def backend(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.text()})

    app = web.Application()
    app.router.add_post("/in", backend)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config_text = f"""
name: traced-http
routeSelectionExpression: $request.body.action
stages: {{dev: {{}}}}
routes:
  send: {{target: send, routeResponseSelectionExpression: $default}}
integrations:
  send:
    integrationType: HTTP
    integrationUri: http://127.0.0.1:{port}/in
    templateSelectionExpression: \\$default
    requestTemplates:
      $default: '{{"who": "$context.connectionId"}}'
server: {{adminPort: 0}}
"""
    gateway = Gateway(parse_config(config_text, base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        async with client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            await ws.send(json.dumps({"action": "send"}))
            await asyncio.wait_for(ws.recv(), 10)
        store = gateway.traces
        assert store is not None
        entry = (await eventually(lambda: store.query(TraceFilter(route="send"))))[0]
        steps = {detail["step"]: detail for detail in entry["details"]}
        assert steps["request template"]["key"] == "$default"
        assert entry["connectionId"] in steps["request template"]["rendered"]
        assert steps["integration request"]["method"] == "POST"
        assert steps["integration request"]["url"] == f"http://127.0.0.1:{port}/in"
        assert steps["integration response"]["status"] == 200
        assert (
            json.loads(steps["frame sent"]["text"])["got"] == steps["request template"]["rendered"]
        )
    finally:
        await gateway.stop(timeout=5)
        await runner.cleanup()


async def test_management_calls_are_traced(traced: Gateway) -> None:
    async with client(f"ws://127.0.0.1:{traced.port}/dev") as ws:
        connection_id = next(iter(traced.dataplane.live))
        endpoint = f"http://127.0.0.1:{traced.port}/dev"
        async with aiohttp.ClientSession() as session:
            http = SignedHttp(session)
            async with http.post(f"{endpoint}/@connections/{connection_id}", data=b"hi") as reply:
                assert reply.status == 200
                posted = reply.headers["x-amzn-RequestId"]
            await asyncio.wait_for(ws.recv(), 10)
            async with http.post(f"{endpoint}/@connections/AAAAAAAAAAAAAAA=", data=b"x") as reply:
                assert reply.status == 410
                gone = reply.headers["x-amzn-RequestId"]
    store = traced.traces
    assert store is not None
    ok, refused = store.find(posted), store.find(gone)
    assert ok is not None and refused is not None
    assert ok["type"] == "management"
    assert ok["routeKey"] == "@connections POST"
    assert (
        ok["why"] == f"POST to connection {connection_id!r}: the message was handed to the socket"
    )
    assert refused["errorType"] == "GoneException"
    assert "refused with 410 GoneException: the connection is gone" in refused["why"]
    assert store.query(TraceFilter(route="@connections POST")) == [ok, refused]


def test_log_lines_name_management_calls() -> None:
    entry = {
        "type": "management",
        "time": "2026-11-28T07:00:00.000Z",
        "routeKey": "@connections DELETE",
        "requestId": "R1",
        "status": 204,
        "why": "DELETE to connection 'C1': it is being closed with 1000",
    }
    line = format_entry(entry)
    assert line.startswith("2026-11-28T07:00:00.000Z @connections DELETE R1 ")
    assert "status=204" in line
    assert line.endswith("why: DELETE to connection 'C1': it is being closed with 1000")
