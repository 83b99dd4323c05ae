"""A CDK app's synthesized output (tests/data/cdk/cdk.out) served as it is by the real gateway."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import UNIT, eventually, ws_client
from wsgate.config.template.load import load_api
from wsgate.config.template.options import TemplateOptions
from wsgate.server.app import Gateway

CDK = Path(__file__).parents[1] / "data" / "cdk"


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Gateway]:
    shutil.copytree(CDK / "cdk.out", tmp_path / "cdk.out")
    options = TemplateOptions(
        home=tmp_path / "home",
        # Every function: connection ids in the test's folder, callbacks over plain http.
        env_vars={
            "Parameters": {
                "CONNECTIONS_FILE": str(tmp_path / "connections.json"),
                "CALLBACK_SCHEME": "http",
            }
        },
    )
    loaded = load_api(tmp_path / "cdk.out" / "ChatStack.template.json", options)
    assert loaded.stack_name == "ChatStack"
    assert set(loaded.config.routes) == {"$connect", "$disconnect", "sendmessage"}
    assert loaded.outputs["WebSocketUrl"] == (
        f"wss://{loaded.config.api_id}.execute-api.us-east-1.amazonaws.com/dev"
    )
    gateway = Gateway(loaded.config)
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def test_two_clients_chat_through_cdk_output(chat: Gateway, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{chat.port}/dev"
    connections = tmp_path / "connections.json"
    async with ws_client(url) as alice, ws_client(url) as bob:
        await eventually(
            lambda: connections.exists() and len(json.loads(connections.read_text())) == 2
        )
        await alice.send(json.dumps({"action": "sendmessage", "data": "hi bob"}))
        assert await asyncio.wait_for(bob.recv(), 15 * UNIT) == "hi bob"
        await bob.send(json.dumps({"action": "sendmessage", "data": "hi alice"}))
        assert await asyncio.wait_for(alice.recv(), 15 * UNIT) == "hi alice"
