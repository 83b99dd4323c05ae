"""The public listener's own defences and TLS: request deadline, header limits, origins, wss://.

Everything goes over real sockets: raw TCP for misbehaving clients, the websockets client,
boto3 over https:// with a CA made by ``wsgate cert``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp.web_protocol import RequestHandler
from botocore.config import Config
from websockets.exceptions import InvalidStatus

from tests.helpers import UNIT, eventually, ws_client
from wsgate.cli import main
from wsgate.config.load import parse_config
from wsgate.server.app import Gateway

CONFIG = """
name: guarded
routeSelectionExpression: $request.body.action
stages: {dev: {}}
routes:
  $default: {target: echo, routeResponseSelectionExpression: $default}
integrations:
  echo: {integrationType: MOCK, requestTemplates: {$default: '{"statusCode": 200}'},
         integrationResponses: {$default: {responseTemplates: {$default: 'echo'}}}}
server:
  # The listener is under test here, not signatures: boto3 below signs with a made-up key.
  managementAuthorization: NONE
  listener:
    handshakeTimeoutSeconds: %(deadline)s
    maxHeaderBytes: 2048
    allowedOrigins: ["https://app.example.com", "https://*.example.org"]
%(tls)s
"""

Start = Callable[..., Any]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    gateways: list[Gateway] = []

    async def start_gateway(deadline: float = 10.0, tls: str = "") -> Gateway:
        text = CONFIG % {"deadline": deadline, "tls": tls}
        gateway = Gateway(parse_config(text, base_dir=tmp_path))
        await gateway.start(port=0)
        gateways.append(gateway)
        return gateway

    yield start_gateway
    for gateway in gateways:
        await gateway.stop(timeout=5)


async def test_a_client_that_never_finishes_its_request_is_dropped(start):
    gateway = await start(deadline=0.3 * UNIT)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /dev HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5 * UNIT) == b""  # closed by the gateway
    writer.close()
    await writer.wait_closed()
    # A client that sent its handshake in time keeps its socket past the deadline.
    async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
        await asyncio.sleep(0.6 * UNIT)
        await ws.send("{}")
        assert await ws.recv() == "echo"


async def test_oversized_headers_are_refused(start):
    gateway = await start()
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    request = "GET /dev HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 4096 + "\r\n\r\n"
    writer.write(request.encode())
    status_line = await asyncio.wait_for(reader.readline(), 5 * UNIT)
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"400"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser
        ("https://app.example.com", True),
        ("https://chat.example.org", True),
        ("https://example.org", False),
        ("https://evil.example.com", False),
        ("http://app.example.com", False),
    ],
)
async def test_only_allowed_origins_may_open_a_socket(start, origin, allowed):
    gateway = await start()
    url = f"ws://127.0.0.1:{gateway.port}/dev"
    if allowed:
        async with ws_client(url, origin=origin) as ws:
            await ws.send("{}")
            assert await ws.recv() == "echo"
        return
    with pytest.raises(InvalidStatus) as caught:
        async with ws_client(url, origin=origin):
            pass
    assert caught.value.response.status_code == 403
    assert json.loads(caught.value.response.body) == {"message": "Forbidden"}


def make_tls(folder: Path) -> str:
    """A certificate from ``wsgate cert`` in ``folder``, as the config's ``server.tls``."""
    with redirect_stdout(io.StringIO()) as out:
        assert main(["cert", "--dir", str(folder), "localhost", "127.0.0.1"]) == 0
    assert "AWS_CA_BUNDLE=" in out.getvalue()
    return (
        "  tls:\n"
        f"    certFile: {folder / 'server-chain.pem'}\n"
        f"    keyFile: {folder / 'server-key.pem'}\n"
        f"    caFile: {folder / 'ca.pem'}\n"
    )


async def test_wss_and_https_with_a_ca_from_wsgate_cert(start, tmp_path):
    folder = tmp_path / "tls"
    gateway = await start(tls=make_tls(folder))
    # The URLs the startup banner prints name the schemes clients must use.
    urls = gateway.urls()
    assert urls["websocket:dev"] == f"wss://127.0.0.1:{gateway.port}/dev"
    assert urls["management:dev:public"] == f"https://127.0.0.1:{gateway.port}/dev"
    trusted = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    async with ws_client(f"wss://localhost:{gateway.port}/dev", ssl=trusted) as ws:
        await ws.send("{}")
        assert await ws.recv() == "echo"
        connection_id = next(iter(gateway.dataplane.live))
        # boto3, as a handler would use it: https://{domainName}/{stage}, verified by the CA.
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"https://localhost:{gateway.port}/dev",
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            verify=str(folder / "ca.pem"),
            config=Config(retries={"max_attempts": 1}),
        )
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"hi")
        client.close()  # a kept-alive TLS connection would outlive the gateway
        assert await ws.recv() == "hi"
    # Without the CA the certificate is not trusted.
    with pytest.raises(ssl.SSLCertVerificationError):
        async with ws_client(
            f"wss://localhost:{gateway.port}/dev", ssl=ssl.create_default_context()
        ):
            pass
    await eventually(lambda: not gateway.dataplane.live)


async def test_local_functions_trust_the_ca_named_in_the_config(tmp_path):
    folder = tmp_path / "tls"
    with redirect_stdout(io.StringIO()):
        assert main(["cert", "--dir", str(folder)]) == 0
    apps = Path(__file__).parent / "apps" / "access"
    config = f"""
name: callback
routeSelectionExpression: $request.body.action
stages: {{dev: {{}}}}
routes:
  callback: {{target: callback}}
integrations:
  callback: {{integrationType: AWS_PROXY, integrationUri: callback}}
functions:
  callback: {{handler: handlers.callback, codeUri: {apps}, timeout: 20}}
server:
  tls:
    certFile: {folder / "server-chain.pem"}
    keyFile: {folder / "server-key.pem"}
    caFile: {folder / "ca.pem"}
"""
    gateway = Gateway(parse_config(config, base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        trusted = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        async with ws_client(f"wss://localhost:{gateway.port}/dev", ssl=trusted) as ws:
            await ws.send(json.dumps({"action": "callback"}))
            # The handler's boto3 verified the gateway with AWS_CA_BUNDLE, set by the gateway.
            assert await asyncio.wait_for(ws.recv(), 20 * UNIT) == "called back"
    finally:
        await gateway.stop(timeout=5)


def live_request_handlers() -> int:
    """How many server-side connection objects exist in this process."""
    gc.collect()
    return sum(isinstance(thing, RequestHandler) for thing in gc.get_objects())


async def test_kept_alive_connections_are_forgotten_once_closed(start):
    gateway = await start(deadline=0.2 * UNIT)
    before = live_request_handlers()
    url = f"http://127.0.0.1:{gateway.port}/nostage"
    opened: list[object] = []

    async def on_open(*_: object) -> None:
        opened.append(None)

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(on_open)
    pools = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), trace_configs=[tracing])
        for _ in range(5)
    ]
    try:
        for http in pools:  # each pool opens its one connection in time
            async with http.get(url) as reply:
                assert reply.status == 403
        # boto3's pooled connections are reused long after their deadline.
        await asyncio.sleep(0.4 * UNIT)
        for _ in range(40):
            for http in pools:
                async with http.get(url) as reply:
                    assert reply.status == 403
        assert len(opened) == len(pools)  # kept alive, one each
    finally:
        for http in pools:
            await http.close()
    # Once closed, nothing of them is kept (formerly: each connection's handler, ~2 KB, forever).
    await eventually(lambda: live_request_handlers() <= before)


def client_hello() -> bytes:
    """The first flight of a real TLS client."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello"])
async def test_a_tls_handshake_must_finish_within_the_deadline(start, tmp_path, sent):
    deadline = 0.5 * UNIT
    gateway = await start(deadline=deadline, tls=make_tls(tmp_path / "tls"))
    hello = client_hello()
    payload = hello[: len(hello) // 2] if sent != "nothing" else b""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = time.monotonic()
    writer.write(payload)
    await writer.drain()
    try:
        # Before, the server waited 60 s (asyncio's default) for the handshake.
        assert await asyncio.wait_for(reader.read(), deadline + 3 * UNIT) == b""
    except ConnectionResetError:
        pass  # closed too, less politely
    elapsed = time.monotonic() - started
    writer.close()
    await writer.wait_closed()
    assert deadline * 0.8 <= elapsed


async def test_a_tls_client_silent_after_its_handshake_is_dropped(start, tmp_path):
    folder = tmp_path / "tls"
    deadline = 0.5 * UNIT
    gateway = await start(deadline=deadline, tls=make_tls(folder))
    trusted = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", gateway.port, ssl=trusted, server_hostname="localhost"
    )
    assert await asyncio.wait_for(reader.read(), deadline + 3 * UNIT) == b""
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()
    # One that sent its upgrade in time keeps its socket past the deadline.
    async with ws_client(f"wss://localhost:{gateway.port}/dev", ssl=trusted) as ws:
        await asyncio.sleep(2 * deadline)
        await ws.send("{}")
        assert await ws.recv() == "echo"


async def test_connections_that_leave_without_a_request_are_forgotten(start):
    gateway = await start(deadline=0.2 * UNIT)
    before = live_request_handlers()
    for _ in range(5):
        _, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.close()
        await writer.wait_closed()
    # Held until their deadline (and a look once more, as for a TLS handshake), then let go.
    await eventually(lambda: live_request_handlers() <= before)
