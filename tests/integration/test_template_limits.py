"""A client-driven template loop end to end: bounded, answered with an error, nobody else waits.

One HTTP integration's request template loops over a range the client chooses (``n``); a real
gateway renders it in its event loop, so an unbounded render would stall every connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from websockets.asyncio.client import ClientConnection

from tests.helpers import UNIT, ws_client as client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

_LOOP = "#foreach($i in [1..$input.path('$.n')])$i,#end"


@pytest.fixture
async def backend_address() -> AsyncIterator[str]:
    """An HTTP backend on 127.0.0.1 port 0 that answers with the body it got."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def gateway(tmp_path: Path, backend_address: str) -> AsyncIterator[Gateway]:
    config = {
        "name": "template-limits",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
        "routes": {"loop": {"target": "loop", "routeResponseSelectionExpression": "$default"}},
        "integrations": {
            "loop": {
                "integrationType": "HTTP",
                "integrationUri": f"http://{backend_address}/echo",
                "requestTemplates": {"$default": _LOOP},
            }
        },
    }
    path = tmp_path / "limits.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    started = Gateway(load_config(path), base_dir=tmp_path)
    await started.start(port=0)
    try:
        yield started
    finally:
        await started.stop(timeout=5)


async def _ask(ws: ClientConnection, n: int) -> str | bytes:
    await ws.send(json.dumps({"action": "loop", "n": n}))
    return await asyncio.wait_for(ws.recv(), 5 * UNIT)


async def test_client_driven_loop_fails_fast_and_blocks_nobody(gateway: Gateway) -> None:
    url = f"ws://127.0.0.1:{gateway.port}/dev"
    async with client(url) as attacker, client(url) as other:
        assert await _ask(other, 3) == "1,2,3,"
        started = time.monotonic()
        # A 60-byte message asks for 100M iterations; the other connection asks meanwhile.
        await attacker.send(json.dumps({"action": "loop", "n": 100_000_000}))
        answered = await _ask(other, 2)
        refused = await asyncio.wait_for(attacker.recv(), 5 * UNIT)
        elapsed = time.monotonic() - started

        assert answered == "1,2,"
        assert isinstance(refused, str)
        assert json.loads(refused)["message"] == "Internal server error"
        assert elapsed < 1.0 * UNIT
        # The connection stays open and its next message is served.
        assert await _ask(attacker, 1) == "1,"
