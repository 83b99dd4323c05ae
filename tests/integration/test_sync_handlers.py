"""Sync handlers in process, through a real gateway: quick routes run on the event loop, and a
handler that blocks never holds up the other connections."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ws_client as client
from wsgate.config.load import load_config
from wsgate.integrations import sync_calls
from wsgate.server.app import Gateway

SLEEP = 0.1  # what the sleeping handler waits, in seconds
# A reply that waited for a sleeping handler would take about SLEEP; one that did not, far less.
BOUND = SLEEP / 2

HANDLER = """
import json
import threading
import time


def handler(event, context):
    body = json.loads(event["body"])
    if event["requestContext"]["routeKey"] == "sleep" or body.get("sleep"):
        time.sleep({sleep})
    return {{"statusCode": 200, "body": threading.current_thread().name}}
"""

CONFIG = """
name: sync
routeSelectionExpression: $request.body.action
stages:
  dev: {{}}
routes:
  echo: {{target: app, routeResponseSelectionExpression: $default}}
  sleep: {{target: app, routeResponseSelectionExpression: $default}}
integrations:
  app: {{integrationType: AWS_PROXY, integrationUri: app}}
functions:
  app: {{handler: {module}.handler, codeUri: ., isolation: inprocess, concurrency: 4}}
"""


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    module = f"sync_{uuid.uuid4().hex}"  # in-process functions share sys.modules
    (tmp_path / f"{module}.py").write_text(HANDLER.format(sleep=SLEEP))
    (tmp_path / "wsgate.yaml").write_text(CONFIG.format(module=module))
    gateway = Gateway(load_config(tmp_path / "wsgate.yaml"))
    await gateway.start(port=0)
    try:
        yield f"ws://127.0.0.1:{gateway.port}/dev"
    finally:
        await gateway.stop(timeout=5)


async def ask(ws: Any, message: dict[str, Any]) -> str:
    """Send one message and return the reply: the name of the thread the handler ran on."""
    await ws.send(json.dumps(message))
    reply = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(reply, str)
    return reply


async def probe_while(ws: Any, busy: asyncio.Task[Any]) -> list[float]:
    """Round trips of quick messages, one at a time, until ``busy`` is done."""
    times = []
    while not busy.done():
        started = time.monotonic()
        await ask(ws, {"action": "echo"})
        times.append(time.monotonic() - started)
        await asyncio.sleep(0.001)
    return times


async def sleep_three_times(ws: Any, message: dict[str, Any]) -> list[str]:
    return [await ask(ws, message) for _ in range(3)]


async def test_quick_route_runs_on_the_loop_and_a_sleeper_never_delays_it(url: str) -> None:
    loop_thread = threading.current_thread().name  # the gateway runs on this test's loop
    async with client(url) as sleeper, client(url) as prober:
        first = await ask(prober, {"action": "echo"})
        assert first != loop_thread  # an unproven route starts on handler threads
        for _ in range(sync_calls.PROBATION):
            last = await ask(prober, {"action": "echo"})
        assert last == loop_thread  # quick calls in a row: the route runs on the loop
        sleeping = asyncio.create_task(sleep_three_times(sleeper, {"action": "sleep"}))
        times = await probe_while(prober, sleeping)
        threads = await sleeping
    assert loop_thread not in threads  # the sleeping route stays on threads
    assert len(times) >= 10
    assert max(times) < BOUND, f"a reply waited {max(times) * 1000:.0f} ms"


async def test_quick_calls_stay_off_the_loop_while_a_call_of_their_route_sleeps(
    url: str,
) -> None:
    loop_thread = threading.current_thread().name
    async with client(url) as sleeper, client(url) as prober:
        # One route, two kinds of call: its quick calls must not run on the loop while a call
        # that sleeps is still out on a thread, not yet judged.
        sleeping = asyncio.create_task(sleep_three_times(sleeper, {"action": "echo", "sleep": 1}))
        times = await probe_while(prober, sleeping)
        threads = await sleeping
    assert loop_thread not in threads
    assert len(times) >= 10
    assert max(times) < BOUND, f"a reply waited {max(times) * 1000:.0f} ms"


async def test_a_route_that_blocks_the_loop_goes_back_to_threads(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop_thread = threading.current_thread().name
    async with client(url) as ws:
        for _ in range(sync_calls.PROBATION + 1):
            last = await ask(ws, {"action": "echo"})
        assert last == loop_thread
        # The price of running on the loop: the first call there that blocks holds it up once.
        assert await ask(ws, {"action": "echo", "sleep": 1}) == loop_thread
        assert await ask(ws, {"action": "echo"}) != loop_thread
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("held the event loop" in message for message in warnings)


POSTING = """
import json
import threading

import boto3


def handler(event, context):
    body = json.loads(event["body"])
    if body.get("post"):
        # Back to this gateway, through @connections: on the loop this would wait for itself.
        request = event["requestContext"]
        api = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"http://{request['domainName']}/{request['stage']}",
            region_name="us-east-1",
        )
        api.post_to_connection(ConnectionId=request["connectionId"], Data=b"posted")
    return {"statusCode": 200, "body": threading.current_thread().name}
"""


async def test_a_function_that_reaches_for_the_network_leaves_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    module = f"posting_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(POSTING)
    (tmp_path / "wsgate.yaml").write_text(CONFIG.format(module=module))
    gateway = Gateway(load_config(tmp_path / "wsgate.yaml"))
    await gateway.start(port=0)
    loop_thread = threading.current_thread().name
    try:
        async with client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            for _ in range(sync_calls.PROBATION + 1):
                last = await ask(ws, {"action": "echo"})
            assert last == loop_thread  # quick so far: on the loop
            # Its first network call would wait on the loop it holds; it is made on a thread.
            started = time.monotonic()
            await ws.send(json.dumps({"action": "echo", "post": 1}))
            replies = [await asyncio.wait_for(ws.recv(), 10) for _ in range(2)]
            assert time.monotonic() - started < 5
            assert "posted" in replies
            (thread,) = [reply for reply in replies if reply != "posted"]
            assert thread != loop_thread
            # From now on every call of the function runs on threads, however quick.
            for _ in range(sync_calls.PROBATION + 1):
                assert await ask(ws, {"action": "echo"}) != loop_thread
            with pytest.raises(asyncio.TimeoutError):  # posted once only
                await asyncio.wait_for(ws.recv(), 0.3)
    finally:
        await gateway.stop(timeout=5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("reached for the network on the event loop" in message for message in warnings)
