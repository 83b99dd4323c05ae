"""HTTP_PROXY, HTTP and MOCK integrations end to end (§3.4-§3.9, §4, §5, §10, §13.10).

A real WebSocket client talks to a real gateway, whose integrations call a real aiohttp backend
started on 127.0.0.1 port 0 (or a Starlette app in process, through ``asgi:`` URIs). The backend
records every request as it arrived, so each test checks both sides: what the backend received
and what the client got. The configs live in tests/integration/apps/http; the fixture writes a
copy with the backend's address in the stage variables.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests.helpers import UNIT, eventually, ws_client as client
from tests.integration.apps.http import asgi_app
from wsgate.cli import main
from wsgate.config.load import load_config
from wsgate.integrations.transport import DEFAULT_MAX_BODY_BYTES
from wsgate.observability.tracing import TraceFilter
from wsgate.server.app import Gateway

APPS = Path(__file__).parent / "apps" / "http"
FRAME = '{{"message": "{message}", "connectionId":"{cid}", "requestId":"{rid}"}}'
BINARY = b"\x00\xff\xfebinary\x80"  # not UTF-8


# -- the backend -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the backend got it: headers in order and with their casing."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def has(self, name: str, value: str) -> bool:
        """The header is there, spelled exactly so."""
        return (name, value) in self.headers

    def mentions(self, text: str) -> bool:
        """``text`` appears anywhere in the request (a header, the query, the body)."""
        pieces = [self.path, *(v for _, v in self.query), *(v for _, v in self.headers)]
        return any(text in piece for piece in pieces) or text.encode() in self.body


class Backend:
    """An aiohttp server on 127.0.0.1 that records every request and answers per path."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.release = asyncio.Event()  # lets /slow answer
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def one(self, path: str, count: int = 1) -> Received:
        """The ``count``-th request to ``path``, once it has arrived."""
        found = await eventually(lambda: self.at(path) if len(self.at(path)) >= count else [])
        return found[count - 1]

    async def start(self) -> None:
        """Listen on a free port, or on the same port again after stop()."""
        app = web.Application(middlewares=[self._record])
        app.router.add_route("*", "/echo", self._echo)
        app.router.add_route("*", "/status/{code}", self._status)
        app.router.add_route("*", "/slow", self._slow)
        app.router.add_route("*", "/big", self._big)
        app.router.add_route("*", "/binary", self._binary)
        app.router.add_route("*", "/json", self._json)
        app.router.add_route("*", "/connect", self._connect)
        app.router.add_route("*", "/disconnect", self._json)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.received.append(
            Received(
                method=request.method,
                path=request.path,
                query=list(request.query.items()),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers
                ],
                body=await request.read(),
            )
        )
        response: web.StreamResponse = await handler(request)
        return response

    async def _echo(self, request: web.Request) -> web.Response:
        kind = request.headers.get("Content-Type", "application/octet-stream")
        return web.Response(body=await request.read(), headers={"Content-Type": kind})

    async def _status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.json_response({"status": code, "sent": 2}, status=code)

    async def _slow(self, request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 10 * UNIT)
        return web.Response(text="late")

    async def _big(self, request: web.Request) -> web.Response:
        return web.Response(body=bytes(DEFAULT_MAX_BODY_BYTES + 1))

    async def _binary(self, request: web.Request) -> web.Response:
        return web.Response(body=BINARY, content_type="application/octet-stream")

    async def _json(self, request: web.Request) -> web.Response:
        return web.json_response({"sent": 2})

    async def _connect(self, request: web.Request) -> web.Response:
        if "slow" in request.query:
            await self._slow(request)
        status = int(request.query.get("status") or request.headers.get("X-Want-Status") or 200)
        headers = {}
        if "protocol" in request.query:
            headers["Sec-WebSocket-Protocol"] = request.query["protocol"]
        return web.Response(status=status, headers=headers)


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = Backend()
    await server.start()
    try:
        yield server
    finally:
        server.release.set()
        await server.stop()


@pytest.fixture
def closed_address() -> Iterator[str]:
    """A port bound but not listening: connecting is refused, and nobody else can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
async def raw_address() -> AsyncIterator[str]:
    """A server that answers any request with bytes that are not HTTP."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"this is not HTTP at all\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


# -- the gateway -----------------------------------------------------------------------------


@dataclass
class Api:
    gateway: Gateway

    @property
    def api_id(self) -> str:
        return self.gateway.config.api_id or ""

    @property
    def port(self) -> int:
        return self.gateway.port

    def url(self, stage: str = "dev", query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/{stage}" + (f"?{query}" if query else "")


StartApi = Callable[[str], Awaitable[Api]]


@pytest.fixture
async def start_api(
    tmp_path: Path, backend: Backend, closed_address: str, raw_address: str
) -> AsyncIterator[StartApi]:
    """Start a gateway from a config in apps/http, its placeholders replaced by addresses."""
    placeholders = {"BACKEND": backend.address, "CLOSED": closed_address, "RAW": raw_address}
    started: list[Gateway] = []

    async def start(name: str) -> Api:
        data = yaml.safe_load((APPS / name).read_text(encoding="utf-8"))
        for stage in data["stages"].values():
            variables = stage.get("stageVariables", {})
            for key, value in variables.items():
                variables[key] = placeholders.get(value, value)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        gateway = Gateway(load_config(path), base_dir=path.parent)
        await gateway.start(port=0)
        started.append(gateway)
        return Api(gateway)

    try:
        yield start
    finally:
        for gateway in started:
            await gateway.stop(timeout=5)


@pytest.fixture
async def proxy(start_api: StartApi) -> Api:
    return await start_api("proxy.yaml")


@pytest.fixture
async def templates(start_api: StartApi) -> Api:
    return await start_api("templates.yaml")


@pytest.fixture
async def mock(start_api: StartApi) -> Api:
    return await start_api("mock.yaml")


@pytest.fixture(autouse=True)
def asgi_received() -> Iterator[list[asgi_app.Received]]:
    asgi_app.RECEIVED.clear()
    yield asgi_app.RECEIVED
    asgi_app.RECEIVED.clear()


# -- the client ------------------------------------------------------------------------------


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), 5 * UNIT)


async def ask(ws: ClientConnection, message: dict[str, Any] | str | bytes) -> str | bytes:
    await ws.send(json.dumps(message) if isinstance(message, dict) else message)
    return await recv(ws)


async def connection_id(backend: Backend, count: int = 1) -> str:
    """The id the $connect integration mapped into the connectionId header."""
    request = await backend.one("/connect", count)
    value = request.header("connectionId")
    assert value
    return value


def assert_error_frame(frame: str | bytes, message: str, cid: str) -> None:
    """AWS's error frame, byte for byte, with this connection's id."""
    assert isinstance(frame, str)
    request_id = json.loads(frame)["requestId"]
    assert request_id
    assert frame == FRAME.format(message=message, cid=cid, rid=request_id)


async def handshake_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with client(url, **kwargs):
            pass
    return refused.value.response.status_code


# -- HTTP_PROXY: messages ----------------------------------------------------------------------


async def test_proxy_sends_the_raw_message_with_method_and_uri_from_config(
    proxy: Api, backend: Backend
) -> None:
    message = '{"action": "echo", "data": "hi",  "spaces": "kept"}'
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert await ask(ws, message) == message

    sent = await backend.one("/echo")
    assert sent.method == "PUT"
    assert sent.query == [("fixed", "1")]
    assert sent.body == message.encode()  # the message itself, not a Lambda-style envelope
    assert sent.has("User-Agent", f"AmazonAPIGateway_{proxy.api_id}")
    assert sent.has("x-amzn-apigateway-api-id", proxy.api_id)
    assert sent.header("Content-Type") == "application/json"
    assert sent.header("Host") == backend.address
    # The connection id reaches an HTTP backend only when mapped (§3.4).
    assert not sent.mentions(cid)
    # Messages carry no handshake headers.
    assert sent.header("Sec-WebSocket-Key") is None
    assert sent.header("X-Forwarded-For") is None


async def test_proxy_sends_the_connection_id_when_mapped(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert await ask(ws, {"action": "echoid"}) == '{"action": "echoid"}'
    sent = await backend.one("/echo")
    assert sent.method == "POST"
    assert sent.query == []
    assert sent.has("connectionId", cid)


async def test_proxy_without_route_response_sends_nothing(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as ws:
        await ws.send(json.dumps({"action": "oneway", "n": 1}))
        await backend.one("/echo")
        # Two round trips later the one-way reply would have arrived: only the echoes do.
        first = await ask(ws, {"action": "echo", "n": 2})
        second = await ask(ws, {"action": "echo", "n": 3})
    assert [json.loads(first)["n"], json.loads(second)["n"]] == [2, 3]
    assert [json.loads(r.body)["n"] for r in backend.at("/echo")] == [1, 2, 3]


@pytest.mark.parametrize("code", [200, 201, 302, 404, 409])
async def test_proxy_replies_with_the_backend_body_whatever_its_status(
    proxy: Api, backend: Backend, code: int
) -> None:
    async with client(proxy.url()) as ws:
        answer = await ask(ws, {"action": "status", "code": code})
    assert json.loads(answer) == {"status": code, "sent": 2}
    sent = await backend.one(f"/status/{code}")  # the path parameter mapped from the body
    assert sent.body == json.dumps({"action": "status", "code": code}).encode()


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_proxy_backend_5xx_is_internal_server_error(
    proxy: Api, backend: Backend, code: int
) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert_error_frame(
            await ask(ws, {"action": "status", "code": code}), "Internal server error", cid
        )
        # The socket stays open.
        assert await ask(ws, {"action": "echo"}) == '{"action": "echo"}'
    await backend.one(f"/status/{code}")


# -- HTTP_PROXY: $connect and $disconnect ------------------------------------------------------


async def test_proxy_connect_forwards_the_handshake(proxy: Api, backend: Backend) -> None:
    url = proxy.url(query="token=abc&x=1&x=2")
    async with client(url, additional_headers={"X-Client": "tests/1"}) as ws:
        key = ws.request.headers["Sec-WebSocket-Key"]
        cid = await connection_id(backend)
        assert await ask(ws, {"action": "echo"}) == '{"action": "echo"}'

    sent = await backend.one("/connect")
    assert sent.method == "POST"
    assert sent.body == b""
    # The client's query, then the mapped parameter.
    assert sent.query == [("token", "abc"), ("x", "1"), ("x", "2"), ("mappedToken", "abc")]
    assert sent.has("X-Client", "tests/1")
    assert sent.has("X-Mapped-Client", "tests/1")
    assert sent.has("Sec-WebSocket-Key", key)
    assert sent.has("Sec-WebSocket-Version", "13")
    assert sent.has("connectionId", cid)
    assert sent.has("User-Agent", f"AmazonAPIGateway_{proxy.api_id}")
    assert sent.has("x-amzn-apigateway-api-id", proxy.api_id)
    assert sent.has("X-Forwarded-For", "127.0.0.1")
    assert sent.has("X-Forwarded-Port", str(proxy.port))
    assert sent.has("X-Forwarded-Proto", "http")
    assert (sent.header("X-Amzn-Trace-Id") or "").startswith("Root=1-")
    assert sent.header("Host") == backend.address
    assert sent.header("Upgrade") is None
    assert sent.header("Connection") in (None, "keep-alive")  # the gateway's own, not "Upgrade"

    gone = await backend.one("/disconnect")
    assert gone.has("connectionId", cid)
    assert gone.query == []
    assert gone.header("Sec-WebSocket-Key") is None


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_proxy_connect_refused_with_the_backend_status(
    proxy: Api, backend: Backend, status: int
) -> None:
    assert await handshake_status(proxy.url(query=f"status={status}")) == status
    sent = await backend.one("/connect")
    assert sent.query[0] == ("status", str(status))


async def test_proxy_connect_refused_through_a_mapped_header(proxy: Api, backend: Backend) -> None:
    headers = {"X-Want-Status": "401"}
    assert await handshake_status(proxy.url(), additional_headers=headers) == 401


async def test_proxy_connect_to_an_unreachable_backend_is_502(proxy: Api, backend: Backend) -> None:
    # Stage "down" points $connect at a port nobody listens on (docs/decisions.md, §1.2: 502).
    assert await handshake_status(proxy.url("down")) == 502
    assert backend.received == []


async def test_proxy_connect_timeout_is_504(proxy: Api, backend: Backend) -> None:
    # The $connect integration's timeoutInMillis is 1000 (docs/decisions.md: 504).
    assert await handshake_status(proxy.url(query="slow=1")) == 504
    await backend.one("/connect")


async def test_proxy_connect_echoes_the_subprotocol(proxy: Api, backend: Backend) -> None:
    url = proxy.url(query="protocol=chat.v2")
    async with client(url, subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert await ask(ws, {"action": "echo"}) == '{"action": "echo"}'
    sent = await backend.one("/connect")
    assert sent.header("Sec-WebSocket-Protocol") == "chat.v1, chat.v2"


# -- request parameters ----------------------------------------------------------------------


async def test_request_parameters_on_a_message(proxy: Api, backend: Backend) -> None:
    message = {"action": "params", "user": {"name": "ann"}, "query": "a b&c=d"}
    async with client(proxy.url(), additional_headers={"X-Client": "tests/1"}) as ws:
        assert json.loads(await ask(ws, message)) == message
    sent = await backend.one("/echo")
    assert sent.has("X-Static", "fixed value")
    assert sent.has("X-Color", "blue")
    assert sent.has("X-Route", "params")
    assert sent.has("X-Source-Ip", "127.0.0.1")
    assert sent.has("X-User", "ann")
    assert sent.all("Content-Type") == ["text/plain"]  # the mapping replaced the default
    # A handshake header is a $connect-only source (§3.7).
    assert sent.header("X-Handshake") is None
    # Mapped query parameters are appended to the URI's own.
    assert sent.query == [("fixed", "1"), ("q", "a b&c=d"), ("stage", "dev")]


async def test_request_parameter_with_a_missing_source_is_not_sent(
    proxy: Api, backend: Backend
) -> None:
    async with client(proxy.url()) as ws:
        await ask(ws, {"action": "params"})
    sent = await backend.one("/echo")
    assert sent.header("X-User") is None
    assert sent.query == [("fixed", "1"), ("stage", "dev")]


# -- failures ----------------------------------------------------------------------------------


async def test_timeout_is_endpoint_request_timed_out(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert_error_frame(await ask(ws, {"action": "slow"}), "Endpoint request timed out", cid)
        await backend.one("/slow")
        # The socket stays open and the next message works.
        assert await ask(ws, {"action": "echo"}) == '{"action": "echo"}'


async def test_a_slow_backend_holds_up_nobody(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as waiting, client(proxy.url()) as other:
        await waiting.send(json.dumps({"action": "slowlong"}))
        await backend.one("/slow")
        assert await ask(other, {"action": "echo", "who": "other"}) == (
            '{"action": "echo", "who": "other"}'
        )
        # Not even the waiting connection's own next message.
        assert await ask(waiting, {"action": "echo", "who": "me"}) == (
            '{"action": "echo", "who": "me"}'
        )
        backend.release.set()
        assert await recv(waiting) == "late"


async def test_refused_backend_is_internal_server_error(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert_error_frame(await ask(ws, {"action": "refused"}), "Internal server error", cid)
        assert await ask(ws, {"action": "echo"}) == '{"action": "echo"}'


@pytest.mark.parametrize("route", ["big", "malformed"])
async def test_unusable_reply_is_internal_server_error(
    proxy: Api, backend: Backend, route: str
) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert_error_frame(await ask(ws, {"action": route}), "Internal server error", cid)
        assert await ask(ws, {"action": "echo"}) == '{"action": "echo"}'
    if route == "big":
        await backend.one("/big")


async def test_backend_restarted_on_the_same_port_is_used_again(
    proxy: Api, backend: Backend
) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        assert await ask(ws, {"action": "echo", "n": 1}) == '{"action": "echo", "n": 1}'
        port = backend.port
        await backend.stop()
        assert_error_frame(await ask(ws, {"action": "echo", "n": 2}), "Internal server error", cid)
        await backend.start()
        assert backend.port == port
        assert await ask(ws, {"action": "echo", "n": 3}) == '{"action": "echo", "n": 3}'
    assert [json.loads(r.body)["n"] for r in backend.at("/echo")] == [1, 3]


# -- content handling --------------------------------------------------------------------------


async def test_binary_frame_reaches_a_proxy_backend_as_bytes(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as ws:
        # Binary frames go to $default (docs/decisions.md); the echo answers the same bytes.
        assert await ask(ws, BINARY) == BINARY
    sent = await backend.one("/echo")
    assert sent.body == BINARY


async def test_proxy_reply_that_is_not_utf8_is_a_binary_frame(proxy: Api, backend: Backend) -> None:
    async with client(proxy.url()) as ws:
        assert await ask(ws, {"action": "binary"}) == BINARY


async def test_proxy_convert_to_binary_decodes_the_message(
    start_api: StartApi, backend: Backend
) -> None:
    api = await start_api("binary.yaml")
    async with client(api.url()) as ws:
        # Base64 text is not JSON: $default, whose integration decodes it for the backend.
        await ws.send(base64.b64encode(BINARY).decode())
        sent = await backend.one("/echo")
    assert sent.body == BINARY


async def test_proxy_convert_to_binary_leaves_the_reply_as_is(
    start_api: StartApi, backend: Backend
) -> None:
    api = await start_api("binary.yaml")
    async with client(api.url()) as ws:
        # The backend echoes the decoded bytes; a proxy hands its body back as is (§3.4, §3.8).
        assert await ask(ws, base64.b64encode(BINARY).decode()) == BINARY


# -- ASGI -------------------------------------------------------------------------------------


async def test_asgi_app_sees_what_a_network_backend_sees(
    proxy: Api, backend: Backend, asgi_received: list[asgi_app.Received]
) -> None:
    async with client(proxy.url()) as ws:
        cid = await connection_id(backend)
        over_http = await ask(ws, {"action": "echoid", "data": [1, 2]})
        in_process = await ask(ws, {"action": "asgi", "data": [1, 2]})
    assert json.loads(over_http)["data"] == json.loads(in_process)["data"] == [1, 2]
    assert in_process == '{"action": "asgi", "data": [1, 2]}'
    network = await backend.one("/echo")
    [asgi] = asgi_received
    assert (asgi.method, asgi.path, asgi.query) == (network.method, network.path, "")
    assert asgi.body == in_process.encode()
    for name in ("User-Agent", "x-amzn-apigateway-api-id", "connectionId", "Content-Type"):
        assert asgi.header(name) == network.header(name), name
    assert asgi.header("connectionId") == cid


# -- HTTP (non-proxy): mapping templates ---------------------------------------------------------


async def test_seed_template_verbatim(templates: Api, backend: Backend) -> None:
    async with client(templates.url()) as ws:
        cid = await connection_id(backend)
        reply = await ask(ws, {"action": "seed", "ignored": True})
    expected = f'{{"connection-id": "{cid}", "event-type": "MESSAGE"}}'
    sent = await backend.one("/echo")
    assert sent.body == expected.encode()
    assert sent.method == "POST"
    assert sent.has("User-Agent", f"AmazonAPIGateway_{templates.api_id}")
    # No integration response: the backend's body goes back as it came.
    assert reply == expected


async def test_template_input_util_and_stage_variables(templates: Api, backend: Backend) -> None:
    message = {
        "action": "rich",
        "data": {"a": [1, 2], "b": None},
        "n": 7,
        "items": ["x", "y"],
        "text": 'say "hi"\\now',
    }
    async with client(templates.url()) as ws:
        reply = await ask(ws, message)
    sent = json.loads((await backend.one("/echo")).body)
    assert sent == {
        "data": {"a": [1, 2], "b": None},
        "n": 7,
        "first": "x",
        "text": 'say "hi"\\now',
        "color": "blue",
        "route": "rich",
        "stage": "dev",
        "whole": message,
    }
    assert json.loads(reply) == sent


async def test_connect_and_disconnect_templates_see_their_event_type(
    templates: Api, backend: Backend
) -> None:
    url = templates.url(query="token=abc")
    async with client(url, additional_headers={"X-Client": "tests/1"}) as ws:
        cid = await connection_id(backend)
        await ws.send(json.dumps({"action": "seed"}))
        await backend.one("/echo")
    connected = await backend.one("/connect")
    assert json.loads(connected.body) == {
        "event-type": "CONNECT",
        "token": "abc",
        "client": "tests/1",
    }
    # A non-proxy integration sends its template's output, not the client's query.
    assert connected.query == []
    disconnected = await backend.one("/disconnect")
    assert json.loads(disconnected.body) == {
        "event-type": "DISCONNECT",
        "connection-id": cid,
        "code": 1000,
    }


@pytest.mark.parametrize("status", [401, 403])
async def test_http_connect_refused_with_the_backend_status(
    templates: Api, backend: Backend, status: int
) -> None:
    # The query is not forwarded to a non-proxy backend; a request parameter maps it.
    assert await handshake_status(templates.url(query=f"status={status}")) == status
    sent = await backend.one("/connect")
    assert sent.query == []
    assert sent.has("X-Want-Status", str(status))
    assert json.loads(sent.body)["event-type"] == "CONNECT"


# -- passthroughBehavior ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "kind", "backend_gets"),
    [
        ("never", "a", '{"templated": "a"}'),
        ("nomatch", "a", '{"templated": "a"}'),
        ("notemplates", "a", '{"templated": "a"}'),
        # No template matches: the raw message passes through.
        ("nomatch", "b", None),
        # No templates at all: passes through.
        ("notemplatesempty", "b", None),
    ],
)
async def test_passthrough_allowed(
    templates: Api, backend: Backend, route: str, kind: str, backend_gets: str | None
) -> None:
    message = json.dumps({"action": route, "kind": kind})
    async with client(templates.url()) as ws:
        reply = await ask(ws, message)
    sent = await backend.one("/echo")
    assert sent.body.decode() == (backend_gets or message)
    assert reply == sent.body.decode()


@pytest.mark.parametrize("route", ["never", "notemplates"])
async def test_passthrough_refused_is_unsupported_media_type(
    templates: Api, backend: Backend, route: str
) -> None:
    async with client(templates.url()) as ws:
        cid = await connection_id(backend)
        frame = await ask(ws, {"action": route, "kind": "b"})
        # The socket stays open; a matching message goes through.
        assert await ask(ws, {"action": route, "kind": "a"}) == '{"templated": "a"}'
    # The refused message never reached the backend.
    assert [r.body for r in backend.at("/echo")] == [b'{"templated": "a"}']
    assert_error_frame(frame, "Unsupported Media Type", cid)


async def test_a_connect_no_template_takes_is_refused_with_415(
    start_api: StartApi, backend: Backend
) -> None:
    api = await start_api("refusing-connect.yaml")
    with pytest.raises(InvalidStatus) as caught:
        async with client(api.url()):
            pass
    # As a REST API answers such a request; before the outcome table it was a 502.
    assert caught.value.response.status_code == 415
    assert backend.at("/connect") == []
    traces = api.gateway.traces
    assert traces is not None
    [entry] = traces.query(TraceFilter(route="$connect"))
    assert (entry["status"], entry["errorKind"]) == (415, "client")


async def test_a_disconnect_that_times_out_is_reported_504(
    start_api: StartApi, backend: Backend
) -> None:
    api = await start_api("slow-disconnect.yaml")
    async with client(api.url()):
        pass
    await backend.one("/slow")
    traces = api.gateway.traces
    assert traces is not None
    [entry] = await eventually(lambda: traces.query(TraceFilter(route="$disconnect")))
    # A timeout is 504 in every phase (docs/decisions.md); it used to be 500 here.
    assert (entry["status"], entry["errorKind"]) == (504, "execution")
    backend.release.set()


# -- integration responses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reply"),
    [
        (200, {"delivered": 2}),
        (201, {"delivered": 2}),
        (404, {"refused": 404}),
        (429, {"refused": 429}),
        (302, {"other": "responses"}),
    ],
)
async def test_integration_response_selected_by_status(
    templates: Api, backend: Backend, code: int, reply: dict[str, Any]
) -> None:
    async with client(templates.url()) as ws:
        answer = await ask(ws, {"action": "responses", "code": code})
    assert json.loads(answer) == reply
    await backend.one(f"/status/{code}")


async def test_no_integration_response_for_the_status_is_internal_server_error(
    templates: Api, backend: Backend
) -> None:
    async with client(templates.url()) as ws:
        cid = await connection_id(backend)
        assert json.loads(await ask(ws, {"action": "strict", "code": 200})) == {"delivered": 2}
        frame = await ask(ws, {"action": "strict", "code": 404})
        assert_error_frame(frame, "Internal server error", cid)
    await backend.one("/status/404")


async def test_integration_response_for_a_5xx_status(templates: Api, backend: Backend) -> None:
    async with client(templates.url()) as ws:
        answer = await ask(ws, {"action": "fivexx", "code": 503})
    assert json.loads(answer) == {"failed": 503}


@pytest.mark.parametrize(("code", "reply"), [(201, "created"), (200, "other"), (404, "other")])
async def test_response_template_selected_by_status(
    templates: Api, backend: Backend, code: int, reply: str
) -> None:
    async with client(templates.url()) as ws:
        assert await ask(ws, {"action": "selected", "code": code}) == reply


async def test_http_convert_to_binary_decodes_the_message(templates: Api, backend: Backend) -> None:
    async with client(templates.url()) as ws:
        # No integration response: the echoed bytes come back as is, in a binary frame.
        assert await ask(ws, base64.b64encode(BINARY).decode()) == BINARY
        cid = await connection_id(backend)
        assert_error_frame(await ask(ws, "not base64!"), "Internal server error", cid)
    assert [r.body for r in backend.at("/echo")] == [BINARY]


async def test_integration_response_convert_to_text(templates: Api, backend: Backend) -> None:
    async with client(templates.url()) as ws:
        assert await ask(ws, {"action": "totext"}) == base64.b64encode(BINARY).decode()
    await backend.one("/binary")


async def test_templates_through_an_asgi_app(
    templates: Api, backend: Backend, asgi_received: list[asgi_app.Received]
) -> None:
    async with client(templates.url()) as ws:
        cid = await connection_id(backend)
        assert json.loads(await ask(ws, {"action": "asgi", "data": "x"})) == {"delivered": 2}
    [got] = asgi_received
    assert (got.method, got.path) == ("POST", "/json")
    assert json.loads(got.body) == {"via": "asgi", "connection-id": cid, "data": "x"}
    assert got.header("connectionId") == cid
    assert got.header("User-Agent") == f"AmazonAPIGateway_{templates.api_id}"


# -- MOCK -----------------------------------------------------------------------------------------


async def test_mock_renders_its_integration_response(mock: Api) -> None:
    async with client(mock.url("open")) as ws:
        answer = await ask(ws, {"action": "mocked"})
        assert json.loads(answer) == {"mocked": True, "route": "mocked", "stage": "open"}
        assert json.loads(await ask(ws, {"action": "missing"})) == {"error": "not found"}


async def test_mock_without_route_response_sends_nothing(mock: Api) -> None:
    async with client(mock.url("open")) as ws:
        await ws.send(json.dumps({"action": "silent"}))
        answers = [await ask(ws, {"action": "mocked"}), await ask(ws, {"action": "missing"})]
    assert [json.loads(a) for a in answers] == [
        {"mocked": True, "route": "mocked", "stage": "open"},
        {"error": "not found"},
    ]


async def test_mock_connect_status_answers_the_handshake(mock: Api) -> None:
    assert await handshake_status(mock.url("closed")) == 403
    async with client(mock.url("open")) as ws:
        assert json.loads(await ask(ws, {"action": "mocked"}))["mocked"] is True


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["proxy.yaml", "templates.yaml", "mock.yaml", "binary.yaml"])
def test_the_test_configs_are_valid(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(APPS / name)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_reports_templates_and_parameters_with_their_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((APPS / "templates.yaml").read_text(encoding="utf-8"))
    data["integrations"]["seed"]["requestTemplates"]["default"] = '{"a": "#if($x)"}'
    data["integrations"]["rich"]["requestParameters"] = {
        "integration.request.header.X-A": "bogus.source",
        "integration.request.querystring.b": "context.connectionId",
    }
    responses = data["integrations"]["responses"]["integrationResponses"]
    responses["/2\\d\\d/"]["responseTemplates"]["$default"] = "#foreach($a in $b)"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == f"{path}: 3 errors in config"
    assert lines[1].startswith("  integrations.seed.requestTemplates.default: line 1, column ")
    assert lines[2] == (
        "  integrations.rich.requestParameters.integration.request.header.X-A: unknown source "
        "'bogus.source'; expected route.request.{header,multivalueheader,querystring,"
        "multivaluequerystring}.<name>, route.request.body.<JSONPath>, context.<name>, "
        "stageVariables.<name> or a 'static' value"
    )
    assert lines[3].startswith(
        "  integrations.responses.integrationResponses./2\\d\\d/.responseTemplates.$default: "
        "line 1, column "
    )
