"""Groups, fan-out and listings on a single node (memory registry), and their bad inputs."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
import yarl

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
    # Fan-out and its inputs are under test here, not signatures: calls go unsigned.
    data["server"]["managementAuthorization"] = "NONE"
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
        ("GET", "/@connections?limit=many", {}, 400, "limit must be a whole number"),
        ("PATCH", "/@broadcast", {}, 403, "not supported"),
        ("POST", "/@broadcast", {"data": b"x" * (128 * 1024 + 1)}, 413, "Message too long"),
    ],
)
async def test_bad_requests_get_clear_answers(node, method, path, kwargs, status, message):
    got, body = await call(node, method, path, **kwargs)
    assert got == status
    assert message in body["message"]


def _b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


async def raw_get(
    node: Gateway, query: str, path: str = "/@connections"
) -> tuple[int, Mapping[str, str], Any]:
    """GET a listing with the query string sent exactly as written, as boto3 sends it."""
    url = yarl.URL(f"http://127.0.0.1:{node.port}/dev{path}?{query}", encoded=True)
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        return reply.status, reply.headers.copy(), await reply.json(content_type=None)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("cursor=garbage", "cursor"),
        ("cursor=", "cursor"),
        ("cursor=%FF%FE", "cursor"),
        ("cursor=***", "cursor"),
        (f"cursor={_b64(b'no separator')}", "cursor"),
        (f"cursor={_b64(b'x:AAAAAAAAAAAAAAA=')}", "cursor"),
        (f"cursor={_b64(b'1:')}", "cursor"),
        (f"cursor={_b64(bytes([0xFF, 0xFE, 0x3A, 0x41]))}", "cursor"),
        (f"cursor={_b64(b'-1:AAAAAAAAAAAAAAA=')}", "cursor"),
        (f"cursor={_b64(b'9' * 400 + b':AAAAAAAAAAAAAAA=')}", "cursor"),
        ("minAgeSeconds=inf", "minAgeSeconds"),
        ("minAgeSeconds=-inf", "minAgeSeconds"),
        ("minAgeSeconds=nan", "minAgeSeconds"),
        ("minAgeSeconds=-1", "minAgeSeconds"),
        ("minAgeSeconds=1e400", "minAgeSeconds"),
        ("minAgeSeconds=" + "9" * 400, "minAgeSeconds"),
        ("minAgeSeconds=1e12", "minAgeSeconds"),
        ("minAgeSeconds=", "minAgeSeconds"),
        ("minAgeSeconds=ten", "minAgeSeconds"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=100000", "limit"),
        ("limit=1001", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=%EF%BC%95", "limit"),  # a fullwidth 5, which int() would take
        ("limit=1_0", "limit"),
        ("group=", "group"),
        ("group=has%20space", "group"),
        ("group=" + "g" * 129, "group"),
        ("group=caf%C3%A9", "group"),
    ],
)
@pytest.mark.parametrize("path", ["/@connections", "/@groups/a"])
async def test_bad_listing_queries_are_bad_requests(node, query, parameter, path):
    status, headers, body = await raw_get(node, query, path)
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "BadRequestException"
    assert body["message"].startswith(f"{parameter} ")


async def test_good_listing_queries_still_work(node):
    url = f"ws://127.0.0.1:{node.port}/dev"
    async with ws_client(f"{url}?groups=a") as first, ws_client(url) as second:
        await eventually(lambda: len(node.dataplane.live) == 2)
        del first, second
        status, _, page = await raw_get(node, "limit=1")
        assert (status, len(page["items"])) == (200, 1)
        status, _, rest = await raw_get(node, f"limit=1000&cursor={page['nextCursor']}")
        assert (status, len(rest["items"]), rest["nextCursor"]) == (200, 1, None)
        assert rest["items"][0]["connectionId"] != page["items"][0]["connectionId"]
        for query, count in [
            ("", 2),
            ("limit=2&minAgeSeconds=0", 2),
            ("minAgeSeconds=3600.5&limit=1000", 0),
            ("group=a", 1),
            ("group=a&limit=1&minAgeSeconds=0", 1),
            ("group=nobody", 0),
            ("principal=someone", 0),
            (f"cursor={_b64(b'0:A')}", 2),
        ]:
            status, _, page = await raw_get(node, query)
            assert (query, status, len(page["items"])) == (query, 200, count)
