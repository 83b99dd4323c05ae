"""The command line end to end: validate, serve in a real process, connect, post/get/delete."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import UNIT
from wsgate.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "chat"
BAD_CONFIG = """
name: broken
routeSelectionExpression: $request.body.action
stages:
  dev: {}
routes:
  sendmessage: {target: chatfn}
  $weird: {target: fn}
integrations:
  fn: {integrationType: AWS_PROXY, integrationUri: missing, timeoutInMillis: 10}
bogus: 1
"""


def test_validate_reports_every_error_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_CONFIG)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "routes.sendmessage.target: no integration named 'chatfn'" in err
    assert "routes.$weird: route keys starting with $ are reserved" in err
    assert "integrations.fn.integrationUri: no function named 'missing'" in err
    assert "integrations.fn.timeoutInMillis: input should be greater than or equal to 50" in err
    assert "bogus: unknown field" in err


def test_validate_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE / "wsgate.yaml")]) == 0
    assert "valid" in capsys.readouterr().out


def test_serve_refuses_an_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_CONFIG)
    assert main(["serve", str(path), "--port", "0"]) == 1
    assert "no integration named 'chatfn'" in capsys.readouterr().err


def test_a_bad_registry_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    example = str(EXAMPLE / "wsgate.yaml")
    assert main(["serve", example, "--port", "0", "--registry", "mysql://db"]) == 1
    assert "server.registry" in capsys.readouterr().err


def test_validate_checks_the_registry_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A copy whose functions are still found in the example's folder, with a bad registry.
    text = (EXAMPLE / "wsgate.yaml").read_text()
    text = text.replace("codeUri: functions", f"codeUri: {EXAMPLE / 'functions'}")
    copy = tmp_path / "wsgate.yaml"
    copy.write_text(text + "\nserver: {registry: 'redis://'}\n")
    assert main(["validate", str(copy)]) == 1
    assert "server.registry" in capsys.readouterr().err


async def _wsgate(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 30 * UNIT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    shutil.copytree(EXAMPLE, tmp_path / "chat")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "serve",
        str(tmp_path / "chat" / "wsgate.yaml"),
        "--port",
        "0",
        "--log-format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONASYNCIODEBUG": ""},
    )
    assert process.stdout is not None
    url = ""
    while not url:
        line = (await asyncio.wait_for(process.stdout.readline(), 20 * UNIT)).decode()
        assert line, "wsgate serve exited before printing its URLs"
        match = re.search(r"ws://127\.0\.0\.1:\d+/dev", line)
        url = match.group(0) if match else ""
    try:
        yield process, url
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_connect_manage_and_stop(
    served: tuple[asyncio.subprocess.Process, str],
) -> None:
    process, url = served
    code, out, _ = await _wsgate(
        "connect", url, "--raw", "-x", '{"action": "echo", "n": 1}', "--count", "1"
    )
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1]) == {"action": "echo", "n": 1}

    code, _, err = await _wsgate("connect", url.replace("/dev", "/nope"), "-x", "hi")
    assert code == 3
    assert "403" in err

    endpoint = url.replace("ws://", "http://")
    code, _, err = await _wsgate("get", endpoint, "AAAAAAAAAAAAAAA=")
    assert code == 3
    assert "GoneException" in err

    # A client that stays connected, then is pushed to, inspected and closed from the CLI.
    listener = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "connect",
        url,
        "--json",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    # The -x client opened the first connection; the listener opens the second.
    opened: list[str] = []
    while len(opened) < 2:
        record = json.loads(await asyncio.wait_for(process.stderr.readline(), 20 * UNIT))
        if record["message"] == "connection open":
            opened.append(record["connectionId"])
    connection_id = opened[1]
    code, _, err = await _wsgate("post", endpoint, connection_id, "pushed")
    assert code == 0, (err, connection_id)
    code, out, _ = await _wsgate("get", endpoint, connection_id)
    assert code == 0
    assert json.loads(out)["identity"]["sourceIp"] == "127.0.0.1"
    code, _, _ = await _wsgate("delete", endpoint, connection_id)
    assert code == 0
    received, _ = await asyncio.wait_for(listener.communicate(), 20 * UNIT)
    frames = [json.loads(x) for x in received.decode().splitlines()]
    assert {"type": "text", "data": "pushed"} in frames

    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20 * UNIT) == 0
