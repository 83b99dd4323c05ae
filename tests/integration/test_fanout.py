"""Groups, fan-out and listings on a single node (memory registry), and their bad inputs."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.helpers import eventually, ws_client
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

APP = Path(__file__).parent / "apps" / "cluster" / "wsgate.yaml"


@pytest.fixture
async def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    data = yaml.safe_load(APP.read_text(encoding="utf-8"))
    for function in data["functions"].values():
        function["codeUri"] = str(APP.parent)
    path = tmp_path / "single.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    gateway = Gateway(load_config(path))
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def call(node: Gateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{node.port}/dev{path}"
        async with http.request(method, url, **kwargs) as reply:
            body = await reply.read()
            return reply.status, json.loads(body) if body else None


async def test_groups_and_sends_on_one_node(node):
    url = f"ws://127.0.0.1:{node.port}/dev"
    async with ws_client(f"{url}?groups=a,b") as first, ws_client(url) as second:
        ids = await eventually(
            lambda: list(node.dataplane.live) if len(node.dataplane.live) == 2 else []
        )
        joined = next(cid for cid in ids if node.dataplane.live[cid].groups)
        other = next(cid for cid in ids if cid != joined)
        status, report = await call(node, "POST", "/@groups/b", data=b"to b")
        assert (status, report["deliveredIds"]) == (200, [joined])
        assert await asyncio.wait_for(first.recv(), 5) == "to b"
        binary = base64.b64encode(b"\x00\xff").decode()
        body = {"connectionIds": ids, "dataBase64": binary}
        status, report = await call(node, "POST", "/@connections", json=body)
        assert (status, report["delivered"]) == (200, 2)
        assert await asyncio.wait_for(first.recv(), 5) == b"\x00\xff"
        assert await asyncio.wait_for(second.recv(), 5) == b"\x00\xff"
        status, page = await call(node, "GET", "/@connections?group=a")
        assert [item["connectionId"] for item in page["items"]] == [joined]
        status, page = await call(node, "GET", "/@connections?minAgeSeconds=3600")
        assert page["items"] == []
        assert (await call(node, "PUT", f"/@groups/c/{other}"))[0] == 204
        status, report = await call(node, "POST", "/@broadcast", data=b"all")
        assert report["delivered"] == 2
    # Closed connections leave their groups.
    await eventually(lambda: not node.dataplane.live)
    status, report = await call(node, "POST", "/@groups/a", data=b"anyone?")
    assert (status, report["delivered"], report["gone"]) == (200, 0, 0)
    assert (await call(node, "PUT", f"/@groups/c/{other}"))[0] == 410


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("POST", "/@connections", {"data": b"not json"}, 400, "not JSON"),
        ("POST", "/@connections", {"json": {"connectionIds": []}}, 400, "connectionIds"),
        ("POST", "/@connections", {"json": {"connectionIds": ["x"]}}, 400, "give data"),
        (
            "POST",
            "/@connections",
            {"json": {"connectionIds": ["x"], "dataBase64": "***"}},
            400,
            "not base64",
        ),
        (
            "POST",
            "/@connections",
            {"json": {"connectionIds": ["x"], "data": "x" * (128 * 1024 + 1)}},
            413,
            "Message too long",
        ),
        ("POST", "/@groups/has%20space", {"data": b"x"}, 400, "group names"),
        ("PUT", "/@groups/a/not-an-id", {}, 400, "Invalid connectionId"),
        ("GET", "/@connections?limit=0", {}, 400, "limit must be"),
        ("GET", "/@connections?limit=many", {}, 400, "numbers"),
        ("PATCH", "/@broadcast", {}, 403, "not supported"),
        ("POST", "/@broadcast", {"data": b"x" * (128 * 1024 + 1)}, 413, "Message too long"),
    ],
)
async def test_bad_requests_get_clear_answers(node, method, path, kwargs, status, message):
    got, body = await call(node, method, path, **kwargs)
    assert got == status
    assert message in body["message"]
