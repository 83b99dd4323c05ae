"""The command line end to end: validate, cert, serve in a real process, connect, post/get/delete.

Exit statuses: 0 success and 2 usage for every command, 1 an invalid config file.
"""

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


def test_a_bad_registry_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    example = str(EXAMPLE / "wsgate.yaml")
    assert main(["serve", example, "--port", "0", "--registry", "mysql://db"]) == 2
    assert capsys.readouterr().err.startswith("wsgate serve: error: --registry: invalid registry")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["serve"],
        ["serve", str(EXAMPLE / "wsgate.yaml"), "--port", "http"],
        ["serve", str(EXAMPLE / "wsgate.yaml"), "--admin-port", "65536"],
        ["serve", str(EXAMPLE / "wsgate.yaml"), "--log-level", "loud"],
        ["validate"],
        ["cert", "--dir"],
        ["connect", "ftp://h/"],
        ["get", "http://h/dev"],
        ["post", "http://h/dev", "id", "data", "--timeout", "0"],
        ["trace", "http://h"],
        ["logs", "http://h", "--count", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_an_unknown_stage_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(EXAMPLE / "wsgate.yaml"), "--stage", "nope"]) == 2
    assert "--stage: no stage 'nope'" in capsys.readouterr().err


def test_state_needs_the_admin_listener(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(EXAMPLE / "wsgate.yaml"), "--state", "x.db"]) == 2
    assert "--state: the control plane is served on the admin listener" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert main(["serve", "--help"]) == 0
    assert "1  invalid config file" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["serve", "validate", "cert", "trace", "logs"])
def test_help_documents_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "exit status:" in help_text
    assert "\n  2  usage error" in help_text


WARNED_CONFIG = """
name: warned
routeSelectionExpression: request.body.action
stages: {dev: {}}
routes:
  $default: {target: m}
integrations:
  m: {integrationType: MOCK}
"""
WARNING = "warning: routeSelectionExpression: 'request.body.action' has no '$', so it is a constant"


def test_validate_prints_warnings_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(WARNED_CONFIG)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: valid")
    assert err.startswith(f"{path}: {WARNING}")
    assert len(err.splitlines()) == 1


async def test_serve_prints_warnings_before_its_urls(tmp_path: Path) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(WARNED_CONFIG)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "serve",
        str(path),
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,  # one stream, to see what came first
        env={**os.environ, "PYTHONASYNCIODEBUG": ""},
    )
    assert process.stdout is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 20 * UNIT)).decode()
        second = (await asyncio.wait_for(process.stdout.readline(), 20 * UNIT)).decode()
    finally:
        process.kill()
        await process.wait()
    assert first.startswith(f"{path}: {WARNING}")
    assert second.startswith("wsgate ") and "serving API 'warned'" in second


def test_cert_reports_a_folder_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regular = tmp_path / "file"
    regular.write_text("not a folder")
    assert main(["cert", "--dir", str(regular / "tls")]) == 3
    err = capsys.readouterr().err
    assert err == f"wsgate cert: cannot write {regular / 'tls' / 'ca-key.pem'}: Not a directory\n"


def test_cert_refuses_a_bad_name_as_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cert", "--dir", str(tmp_path), "bad name!"]) == 2
    assert capsys.readouterr().err == "wsgate cert: bad name!: not a host name or an IP address\n"


def test_cert_with_an_invalid_config_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_CONFIG)
    assert main(["cert", "--dir", str(tmp_path / "tls"), "--config", str(path)]) == 1
    assert "no integration named 'chatfn'" in capsys.readouterr().err


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
    assert json.loads(out)["Identity"]["SourceIp"] == "127.0.0.1"
    code, _, _ = await _wsgate("delete", endpoint, connection_id)
    assert code == 0
    received, _ = await asyncio.wait_for(listener.communicate(), 20 * UNIT)
    frames = [json.loads(x) for x in received.decode().splitlines()]
    assert {"type": "text", "data": "pushed"} in frames

    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20 * UNIT) == 0
