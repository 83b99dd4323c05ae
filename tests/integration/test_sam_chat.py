"""examples/sam-chat as it is: Node.js functions with the AWS SDK for JavaScript v3, connection
ids in DynamoDB (moto's server standing in), posts back to the execute-api endpoint that the
template builds. Real processes: ``wsgate serve``, ``moto_server``, ``node``, two clients."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import UNIT, eventually, missing_tool, ws_client
from wsgate.config.template.reader import read_template

EXAMPLE = Path(__file__).parents[2] / "examples" / "sam-chat"


async def _wait_for_line(log: Path, pattern: str, process: asyncio.subprocess.Process) -> str:
    """The first match of ``pattern`` in the file a process writes, once it is there."""

    def found() -> str:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        match = re.search(pattern, text)
        assert match or process.returncode is None, f"exited early:\n{text}"
        return match.group(1) if match else ""

    return await eventually(found, timeout=30)


@pytest.fixture
async def dynamodb(tmp_path: Path) -> AsyncIterator[str]:
    """moto's server on a port of its choosing; yields its URL."""
    if importlib.util.find_spec("moto") is None:
        missing_tool("moto is not installed (pip install -e '.[test]')")
    log = tmp_path / "moto.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            "0",
            stdout=output,
            stderr=output,
        )
    try:
        port = await _wait_for_line(log, r"Running on http://127\.0\.0\.1:(\d+)", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


def _table(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto",
    )


def _create_table_as_declared(client: Any) -> str:
    """The template's ConnectionsTable, made in the stand-in (wsgate does not run tables)."""
    template = read_template((EXAMPLE / "template.yaml").read_text(encoding="utf-8"))
    properties = template["Resources"]["ConnectionsTable"]["Properties"]
    name = template["Parameters"][properties["TableName"]["Ref"]]["Default"]
    client.create_table(
        TableName=name,
        BillingMode=properties["BillingMode"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
    )
    return str(name)


@pytest.fixture
async def chat(
    tmp_path: Path, dynamodb: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``wsgate serve examples/sam-chat/template.yaml --env-vars`` a file like the example's."""
    if shutil.which("node") is None:
        missing_tool("node is not installed (apt install nodejs npm)")
    env_vars = tmp_path / "env.json"
    example = json.loads((EXAMPLE / "env.json").read_text(encoding="utf-8"))
    example["Parameters"]["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb  # the stand-in's own port
    env_vars.write_text(json.dumps(example), encoding="utf-8")
    log = tmp_path / "wsgate.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wsgate",
            "serve",
            str(EXAMPLE / "template.yaml"),
            "--env-vars",
            str(env_vars),
            "--port",
            "0",
            stdout=output,
            stderr=output,
            env={**os.environ, "PYTHONASYNCIODEBUG": ""},
        )
    try:
        port = await _wait_for_line(log, r"WebSocket\s+ws://127\.0\.0\.1:(\d+)/dev", process)
        yield f"ws://127.0.0.1:{port}/dev", process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.timeout(600)  # the first run on a machine installs the SDK from npm
async def test_the_node_sam_chat_runs_end_to_end(
    dynamodb: str, chat: tuple[str, asyncio.subprocess.Process]
) -> None:
    url, process = chat
    table = _table(dynamodb)
    name = await asyncio.to_thread(_create_table_as_declared, table)

    async def stored() -> set[str]:
        items = (await asyncio.to_thread(table.scan, TableName=name))["Items"]
        return {item["connectionId"]["S"] for item in items}

    async with ws_client(url) as alice:
        async with ws_client(url) as bob:
            # $connect wrote both ids to DynamoDB.
            await eventually(lambda: _count(stored, 2), timeout=20)
            # sendmessage scanned the table and posted to each connection through the
            # execute-api endpoint the template built.
            await alice.send(json.dumps({"action": "sendmessage", "data": "hi bob"}))
            assert await asyncio.wait_for(bob.recv(), 20 * UNIT) == "hi bob"
            assert await asyncio.wait_for(alice.recv(), 20 * UNIT) == "hi bob"
            await bob.send(json.dumps({"action": "sendmessage", "data": "hi alice"}))
            assert await asyncio.wait_for(alice.recv(), 20 * UNIT) == "hi alice"
            assert await asyncio.wait_for(bob.recv(), 20 * UNIT) == "hi alice"
        # $disconnect deleted Bob's id.
        await eventually(lambda: _count(stored, 1), timeout=20)
        await alice.send(json.dumps({"action": "sendmessage", "data": "alone"}))
        assert await asyncio.wait_for(alice.recv(), 20 * UNIT) == "alone"
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 20 * UNIT) == 0
    assert await stored() == set()


async def _count(stored: Any, expected: int) -> bool:
    ids: set[str] = await stored()
    return len(ids) == expected
