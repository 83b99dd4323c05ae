"""Safe by default: ``@connections`` wants SigV4 as on AWS, and the admin listener keeps to its
operator (Host names, origins, its token). Against real gateways, real clients."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.helpers import (
    UNIT,
    RunningGateway,
    SignedHttp,
    admin_headers,
    local_secrets,
    management_client,
    ws_client,
)
from wsgate.config.load import load_config
from wsgate.server.adminaccess import COOKIE
from wsgate.server.app import Gateway

APPS = Path(__file__).parent / "apps"
START = Callable[..., Awaitable[Gateway]]
OPEN_CONFIG = """
name: open
routeSelectionExpression: $request.body.action
stages: {dev: {}}
routes:
  $default: {target: mock}
integrations:
  mock: {integrationType: MOCK, requestTemplates: {$default: '{"statusCode": 200}'}}
server: {managementAuthorization: NONE}
"""


@pytest.fixture
async def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[START]:
    """Start the basic API with server settings replaced; stopped at the end."""
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    started: list[Gateway] = []

    async def start(**server: Any) -> Gateway:
        config = load_config(APPS / "basic" / "wsgate.yaml")
        settings = config.server.model_copy(update=server)
        gateway = Gateway(config.model_copy(update={"server": settings}))
        await gateway.start(port=0)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop(timeout=5)


def _admin(gateway: Gateway) -> str:
    port = next(x.port for x in gateway.listeners if x.role == "admin")
    return f"http://127.0.0.1:{port}"


# -- @connections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/dev/@connections", {}),
        ("POST", "/dev/@broadcast", {"Content-Type": "text/plain", "Origin": "https://evil.test"}),
        ("POST", "/dev/@connections/{id}", {}),
        ("GET", "/dev/@connections/{id}", {}),
        ("DELETE", "/dev/@connections/{id}", {}),
        ("PUT", "/dev/@groups/everyone/{id}", {}),
        ("POST", "/dev/%40connections/{id}", {}),
    ],
)
async def test_unsigned_management_calls_are_refused_by_default(
    basic: RunningGateway, method: str, path: str, headers: dict[str, str]
) -> None:
    assert basic.gateway.config.server.management_authorization == "AWS_IAM"
    async with ws_client(basic.ws_url()) as ws:
        connection_id = next(iter(basic.gateway.dataplane.live))
        url = f"http://127.0.0.1:{basic.port}" + path.format(id=connection_id.replace("=", "%3D"))
        async with aiohttp.ClientSession() as http:
            request = http.request(method, URL(url, encoded=True), data=b"hi", headers=headers)
            async with request as reply:
                assert reply.status == 403
                assert reply.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
                assert await reply.json() == {"message": "Missing Authentication Token"}
        # Nothing happened to the connection: no frame, still open.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2 * UNIT)
        assert connection_id in basic.gateway.dataplane.live


async def test_the_local_key_and_the_functions_keys_are_accepted(basic: RunningGateway) -> None:
    async with ws_client(basic.ws_url()) as ws:
        connection_id = next(iter(basic.gateway.dataplane.live))
        api = management_client(basic.endpoint())  # signed with the local key
        await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=b"k")
        assert await asyncio.wait_for(ws.recv(), 5 * UNIT) == "k"
        async with aiohttp.ClientSession() as session:
            async with SignedHttp(session).get(f"{basic.endpoint()}/@connections") as reply:
                assert reply.status == 200
                assert [item["connectionId"] for item in (await reply.json())["items"]] == [
                    connection_id
                ]
    # Every local function was handed a key the gateway accepts (here: the local one).
    key = local_secrets().access_key_id
    assert {c.access_key_id for c in basic.gateway.integrations.function_credentials} == {key}


async def test_an_open_management_api_is_explicit(start: START) -> None:
    gateway = await start(management_authorization="NONE")
    async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
        connection_id = next(iter(gateway.dataplane.live))
        url = f"http://127.0.0.1:{gateway.port}/dev/@connections/{connection_id}"
        async with aiohttp.ClientSession() as http, http.post(url, data=b"open") as reply:
            assert reply.status == 200
        assert await asyncio.wait_for(ws.recv(), 5 * UNIT) == "open"


async def test_the_banner_warns_about_an_open_management_api(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(OPEN_CONFIG, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "serve",
        str(path),
        "--port",
        "0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONASYNCIODEBUG": "", "EVENTS_FILE": str(tmp_path / "e")},
    )
    assert process.stderr is not None
    try:
        line = (await asyncio.wait_for(process.stderr.readline(), 20 * UNIT)).decode()
    finally:
        process.kill()
        await process.wait()
    assert line.startswith("wsgate: warning: managementAuthorization is NONE: anyone who reaches")
    assert "can list, post to and close every connection" in line


# -- the admin listener ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/_wsgate/connections", "/_wsgate/traces", "/_wsgate/logs", "/_wsgate/dashboard", "/metrics"],
)
async def test_a_rebound_host_name_is_refused(start: START, path: str) -> None:
    gateway = await start(admin_port=0, metrics=True)
    headers = {**admin_headers(), "Host": "attacker.example"}
    async with aiohttp.ClientSession() as http:
        async with http.get(_admin(gateway) + path, headers=headers) as reply:
            assert reply.status == 421
            assert "adminHosts" in (await reply.json())["message"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost", 200),
        ("127.0.0.1", 200),
        ("LOCALHOST:1234", 200),
        ("ops.internal", 200),  # listed in adminHosts
        ("ops.internal.attacker.example", 421),
        ("[::1]", 200),
        ("10.0.0.1", 421),  # an address this request did not arrive on
    ],
)
async def test_host_names_the_listener_answers_to(start: START, host: str, status: int) -> None:
    gateway = await start(admin_port=0, admin_hosts=["ops.internal"])
    headers = {**admin_headers(), "Host": host}
    async with aiohttp.ClientSession() as http:
        async with http.get(_admin(gateway) + "/_wsgate/connections", headers=headers) as reply:
            assert reply.status == status


async def test_changes_from_a_foreign_origin_are_refused(start: START) -> None:
    gateway = await start(admin_port=0)
    admin = _admin(gateway)
    async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
        connection_id = next(iter(gateway.dataplane.live))
        url = f"{admin}/dev/@connections/{connection_id}"
        cookie = {"Cookie": f"{COOKIE}={local_secrets().admin_token}"}
        async with aiohttp.ClientSession() as http:
            for headers in (
                {"Origin": "https://evil.test", "Content-Type": "text/plain"},
                {"Origin": "null"},
                {"Sec-Fetch-Site": "cross-site"},
            ):
                async with http.post(url, data=b"x", headers={**cookie, **headers}) as reply:
                    assert reply.status == 403
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.2 * UNIT)
            # The dashboard's own page may: same origin, with the cookie its link set.
            same = {**cookie, "Origin": admin, "Sec-Fetch-Site": "same-origin"}
            async with http.post(url, data=b"mine", headers=same) as reply:
                assert reply.status == 200
            assert await asyncio.wait_for(ws.recv(), 5 * UNIT) == "mine"


async def test_the_admin_listener_wants_its_token(start: START) -> None:
    gateway = await start(admin_port=0, metrics=True)
    admin = _admin(gateway)
    token = local_secrets().admin_token
    async with aiohttp.ClientSession() as http:
        for path in ("/_wsgate/connections", "/_wsgate/traces", "/metrics", "/_wsgate/dashboard"):
            async with http.get(admin + path) as reply:
                assert reply.status == 401
                assert reply.headers["WWW-Authenticate"].startswith("Bearer")
            async with http.get(admin + path, headers={"Authorization": "Bearer nope"}) as reply:
                assert reply.status == 401
            async with http.get(admin + path, headers=admin_headers()) as reply:
                assert reply.status == 200
        # Load balancers ask for health without a token.
        async with http.get(admin + "/_wsgate/health") as reply:
            assert reply.status == 200
        # An unsigned @connections call with neither token nor signature is AWS's 403.
        async with http.get(admin + "/dev/@connections") as reply:
            assert reply.status == 403
        # The dashboard link: the token becomes a cookie and leaves the address.
        link = f"{admin}/_wsgate/dashboard?token={token}"
        async with http.get(link, allow_redirects=False) as reply:
            assert reply.status == 303
            assert reply.headers["Location"] == "/_wsgate/dashboard"
            cookie = reply.cookies[COOKIE]
            assert cookie.value == token
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.get(f"{admin}/_wsgate/dashboard?token=wrong", allow_redirects=False) as r:
            assert r.status == 401
        async with http.get(admin + "/_wsgate/connections", headers={COOKIE: "x"}) as reply:
            assert reply.status == 401


async def test_an_open_api_on_loopback_needs_no_admin_token(start: START) -> None:
    gateway = await start(admin_port=0, management_authorization="NONE")
    assert not gateway.admin_access.require_token
    async with aiohttp.ClientSession() as http:
        async with http.get(_admin(gateway) + "/_wsgate/connections") as reply:
            assert reply.status == 200
        bad = {"Host": "attacker.example"}
        async with http.get(_admin(gateway) + "/_wsgate/connections", headers=bad) as reply:
            assert reply.status == 421


async def test_an_admin_listener_beyond_loopback_needs_the_token(start: START) -> None:
    gateway = await start(admin_port=0, admin_host="0.0.0.0", management_authorization="NONE")
    assert gateway.admin_access.require_token
    async with aiohttp.ClientSession() as http:
        async with http.get(_admin(gateway) + "/_wsgate/connections") as reply:
            assert reply.status == 401
        async with http.get(_admin(gateway) + "/dev/@connections") as reply:
            assert reply.status == 401
        listing = _admin(gateway) + "/dev/@connections"
        async with http.get(listing, headers=admin_headers()) as reply:
            assert reply.status == 200
            assert json.loads(await reply.text())["items"] == []
