"""The README's boto3 script: the chat API defined from nothing on a gateway serving the chat
example, then two clients chatting through it (their functions post back with boto3)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
from pathlib import Path

from tests.helpers import eventually, ws_client
from tests.integration.test_controlplane import _client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "examples" / "controlplane" / "chat_api.py"


async def test_the_boto3_script_defines_a_working_chat(tmp_path: Path) -> None:
    # A private copy, so the example's SQLite file lands in the test's folder.
    shutil.copytree(ROOT / "examples" / "chat", tmp_path / "chat")
    config = load_config(tmp_path / "chat" / "wsgate.yaml")
    config = config.model_copy(
        update={"server": config.server.model_copy(update={"admin_port": 0})}
    )
    gateway = Gateway(config, base_dir=tmp_path / "chat", state=tmp_path / "apis.db")
    await gateway.start(port=0)
    spec = importlib.util.spec_from_file_location("chat_api", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    try:
        url = await asyncio.to_thread(script.define_chat, _client(gateway), "us-east-1")
        api_id = url.split("/")[-2]
        assert url == f"ws://127.0.0.1:{gateway.port}/{api_id}/dev"
        async with ws_client(url) as alice, ws_client(url) as bob:
            hosted = gateway.hosted[api_id, "dev"]
            await eventually(lambda: len(hosted.dataplane.live) == 2)
            await alice.send(json.dumps({"action": "sendmessage", "data": "hi"}))
            assert await asyncio.wait_for(alice.recv(), 15) == "hi"
            assert await asyncio.wait_for(bob.recv(), 15) == "hi"
            await bob.send("hello?")
            assert "sendmessage" in json.loads(await asyncio.wait_for(bob.recv(), 15))["message"]
    finally:
        await gateway.stop(timeout=5)
