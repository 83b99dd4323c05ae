"""``wsgate serve --watch``: saved versions of the config apply to open connections.

A real WebSocket client stays connected while the file is rewritten: a valid version answers
its next messages, an invalid one is refused with every error and the running version stays,
a change to the server settings waits for a restart while the rest applies. The command line
is checked end to end in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import UNIT, eventually, ws_client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway
from wsgate.server.watch import apply_saved, watch_config

CONFIG = """
name: watched
routeSelectionExpression: $request.body.action
stages: {dev: {}}
routes:
  $default: {target: integrations/answer, routeResponseSelectionExpression: $default}
integrations:
  answer:
    integrationType: MOCK
    requestTemplates: {$default: '{"statusCode": 200}'}
    integrationResponses:
      $default: {responseTemplates: {$default: %s}}
"""


async def _say(ws: Any) -> str:
    await ws.send(json.dumps({"action": "x"}))
    return str(await asyncio.wait_for(ws.recv(), 5))


async def test_saved_versions_reach_open_connections(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wsgate.yaml"
    path.write_text(CONFIG % "one")
    gateway = Gateway(load_config(path), base_dir=tmp_path)
    await gateway.start(port=0)
    stop = asyncio.Event()
    watching = asyncio.create_task(
        watch_config(path, lambda: load_config(path), gateway, stop, debounce_ms=20)
    )
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            assert await _say(ws) == "one"
            await asyncio.sleep(0.3 * UNIT)  # the watch is set up
            path.write_text(CONFIG % "two")

            async def answered_two() -> bool:
                return await _say(ws) == "two"

            await eventually(answered_two, timeout=10, interval=0.05)
            # Invalid: every error is logged, the running version answers on.
            caplog.set_level(logging.ERROR, logger="wsgate.server.watch")
            broken = (CONFIG % "three").replace("integrations/answer", "integrations/nope")
            path.write_text(broken.replace("$request.body.action", "$request.body."))
            await eventually(lambda: "not applied" in caplog.text, timeout=10)
            assert "no integration named 'nope'" in caplog.text
            assert "routeSelectionExpression" in caplog.text
            assert await _say(ws) == "two"
    finally:
        stop.set()
        await watching
        await gateway.stop(timeout=5)


async def test_server_settings_wait_for_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wsgate.yaml"
    path.write_text(CONFIG % "one")
    gateway = Gateway(load_config(path), base_dir=tmp_path)
    await gateway.start(port=0)
    try:
        running = gateway.config
        assert await apply_saved(path, lambda: load_config(path), gateway)  # unchanged
        assert gateway.config is running
        path.write_text(
            (CONFIG % "two")
            + "server: {port: 1}\naccountId: '123456789012'\n"
            + "stages:\n  dev:\n"
            + "    accessLogSettings: {destination: x.log, format: $context.requestId}\n"
        )
        caplog.set_level(logging.WARNING, logger="wsgate.server.watch")
        assert await apply_saved(path, lambda: load_config(path), gateway)
        assert "server, account_id, stages.dev.accessLogSettings changed" in caplog.text
        assert gateway.config.server == running.server
        assert gateway.config.stages["dev"].access_log_settings is None
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            assert await _say(ws) == "two"
    finally:
        await gateway.stop(timeout=5)


async def test_serve_watch_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "wsgate.yaml"
    path.write_text(CONFIG % "one")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "serve",
        str(path),
        "--port",
        "0",
        "--watch",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONASYNCIODEBUG": "", "WSGATE_HOME": str(tmp_path / "home")},
    )
    assert process.stdout is not None
    try:
        banner = ""
        while "watching" not in banner:
            banner += (await asyncio.wait_for(process.stdout.readline(), 20 * UNIT)).decode()
        url = re.search(r"(ws://\S+/dev)", banner)
        assert url is not None
        async with ws_client(url[1]) as ws:
            assert await _say(ws) == "one"
            await asyncio.sleep(0.5 * UNIT)
            path.write_text(CONFIG % "two")

            async def answered_two() -> bool:
                return await _say(ws) == "two"

            await eventually(answered_two, timeout=10, interval=0.05)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20 * UNIT)
