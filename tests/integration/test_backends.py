"""Backend transports against real servers: aiohttp backends on port 0 and Starlette in process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers import UNIT
from wsgate.core.exchange import BackendReply, BackendRequest
from wsgate.errors import IntegrationBadResponse, IntegrationTimeout, IntegrationUnavailable
from wsgate.integrations.asgi import AsgiTransport, Message, Receive, Scope, Send, split_asgi_uri
from wsgate.integrations.transport import HttpTransport, Transport

BINARY = b"\xff\x00\xfe not utf-8 \x80"
# Past this a test has hung; the timeout tests themselves use a fraction of it.
SLOW = 5 * UNIT


def request(
    url: str,
    *,
    method: str = "POST",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> BackendRequest:
    return BackendRequest(method, url, headers, body)


def decoded(reply: BackendReply) -> dict[str, Any]:
    assert reply.status == 200, reply
    result: dict[str, Any] = json.loads(reply.body)
    return result


# -- aiohttp backends ----------------------------------------------------------------------------


@dataclass
class Backends:
    """Starts aiohttp backends on 127.0.0.1 and stops them; ``peers`` counts client sockets."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    peers: set[tuple[str, int]] = field(default_factory=set)
    runners: list[web.AppRunner] = field(default_factory=list)

    async def start(self, port: int = 0) -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners.append(runner)
        return runner, runner.addresses[0][1]

    async def url(self, path: str = "/echo") -> str:
        _, port = await self.start()
        return f"http://127.0.0.1:{port}{path}"

    async def stop(self, runner: web.AppRunner) -> None:
        self.runners.remove(runner)
        await runner.cleanup()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/echo", self._echo)
        app.router.add_get("/status/{code}", _status)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/big/{size}", _big)
        app.router.add_get("/chunked/{size}", _chunked)
        app.router.add_get("/gzip/{size}", _gzip)
        app.router.add_get("/cookie", _cookie)
        return app

    async def _echo(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            self.peers.add(peer)
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "headers": [[k.decode(), v.decode()] for k, v in request.raw_headers],
                "body": base64.b64encode(body).decode(),
            },
            headers={"X-Multi": "1"},
        )

    async def _slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(text="late")


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    response = web.Response(status=code, body=b"status body" if code != 304 else None)
    response.headers.add("Location", "/echo")
    response.headers.add("X-Multi", "a")
    response.headers.add("x-multi", "b")
    return response


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * int(request.match_info["size"]))


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    remaining = int(request.match_info["size"])
    while remaining:
        piece = min(remaining, 300)
        await response.write(b"y" * piece)
        remaining -= piece
    await response.write_eof()
    return response


async def _gzip(request: web.Request) -> web.Response:
    body = gzip.compress(b"z" * int(request.match_info["size"]))
    return web.Response(body=body, headers={"Content-Encoding": "gzip"})


async def _cookie(request: web.Request) -> web.Response:
    response = web.Response(text=request.headers.get("Cookie", ""))
    response.set_cookie("session", "secret")
    return response


@pytest.fixture
async def backends() -> AsyncIterator[Backends]:
    started = Backends()
    try:
        yield started
    finally:
        started.release.set()
        for runner in list(started.runners):
            await started.stop(runner)


@pytest.fixture
async def http() -> AsyncIterator[HttpTransport]:
    transport = HttpTransport()
    try:
        yield transport
    finally:
        await transport.close()


@contextlib.asynccontextmanager
async def raw_server(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A TCP server that answers each request with ``answer``, for replies aiohttp won't make."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await answer(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()
        await server.wait_closed()


# -- HttpTransport -------------------------------------------------------------------------------


async def test_post_round_trip_keeps_headers_query_and_bytes(
    backends: Backends, http: HttpTransport
) -> None:
    url = await backends.url("/echo?a=1&a=2&b=%2F&c=x%20y&d=%41")
    headers = (("X-Custom-Case", "Value"), ("x-rep", "1"), ("X-Rep", "2"), ("Content-Length", "99"))
    reply = await http.send(request(url, headers=headers, body=BINARY), timeout=SLOW)

    echoed = decoded(reply)
    assert echoed["method"] == "POST"
    assert echoed["raw_path"] == "/echo?a=1&a=2&b=%2F&c=x%20y&d=%41"
    assert base64.b64decode(echoed["body"]) == BINARY
    sent = [tuple(pair) for pair in echoed["headers"]]
    names = [name for name, _ in sent]
    assert ("X-Custom-Case", "Value") in sent
    assert [value for name, value in sent if name.lower() == "x-rep"] == ["1", "2"]
    # Only Host and a correct Content-Length are added; nothing of aiohttp's own.
    assert ("Content-Length", str(len(BINARY))) in sent
    assert "Host" in names
    assert not {"User-Agent", "Accept", "Accept-Encoding", "Content-Type"} & set(names)
    assert reply.header("content-type") == "application/json; charset=utf-8"
    assert reply.header("X-MULTI") == "1"


async def test_user_agent_and_method_are_sent_as_given(
    backends: Backends, http: HttpTransport
) -> None:
    url = await backends.url()
    headers = (("User-Agent", "AmazonAPIGateway_abc123"),)
    reply = await http.send(request(url, method="PUT", headers=headers), timeout=SLOW)
    echoed = decoded(reply)
    assert echoed["method"] == "PUT"
    assert ["User-Agent", "AmazonAPIGateway_abc123"] in echoed["headers"]


@pytest.mark.parametrize("code", [301, 302, 304, 400, 404, 500, 503])
async def test_non_2xx_replies_are_replies(
    backends: Backends, http: HttpTransport, code: int
) -> None:
    url = await backends.url(f"/status/{code}")
    reply = await http.send(request(url, method="GET"), timeout=SLOW)
    assert reply.status == code  # a redirect is returned, not followed
    assert reply.header("location") == "/echo"
    assert [v for k, v in reply.headers if k.lower() == "x-multi"] == ["a", "b"]
    assert reply.body == (b"" if code == 304 else b"status body")


async def test_timeout_covers_the_whole_exchange(backends: Backends, http: HttpTransport) -> None:
    url = await backends.url("/slow")
    started = asyncio.get_running_loop().time()
    with pytest.raises(IntegrationTimeout) as caught:
        await http.send(request(url, method="GET"), timeout=0.2, integration="slowpoke")
    assert asyncio.get_running_loop().time() - started < SLOW
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.integration == "slowpoke"
    assert "/slow" in str(caught.value)


async def _stall_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst ten.")
    await writer.drain()
    await reader.read()  # until the client gives up and closes


async def test_timeout_covers_reading_the_body(http: HttpTransport) -> None:
    async with raw_server(_stall_body) as url:
        with pytest.raises(IntegrationTimeout):
            await http.send(request(url), timeout=0.2)


async def test_spent_timeout_is_a_timeout(http: HttpTransport) -> None:
    with pytest.raises(IntegrationTimeout):
        await http.send(request("http://127.0.0.1:9/"), timeout=0)


async def test_refused_connection_is_unavailable(backends: Backends, http: HttpTransport) -> None:
    runner, port = await backends.start()
    await backends.stop(runner)
    url = f"http://127.0.0.1:{port}/echo?token=secret"
    with pytest.raises(IntegrationUnavailable) as caught:
        await http.send(request(url), timeout=SLOW, integration="chat")
    message = str(caught.value)
    assert "'chat'" in message
    assert f"http://127.0.0.1:{port}/echo" in message
    assert "secret" not in message  # the query string stays out of logs
    assert caught.value.__cause__ is not None


async def test_unknown_host_is_unavailable(http: HttpTransport) -> None:
    with pytest.raises(IntegrationUnavailable, match="resolve"):
        await http.send(request("http://wsgate-test.invalid/"), timeout=SLOW)


async def test_restarted_backend_is_used_again(backends: Backends, http: HttpTransport) -> None:
    runner, port = await backends.start()
    url = f"http://127.0.0.1:{port}/echo"
    assert (await http.send(request(url, body=b"one"), timeout=SLOW)).status == 200
    await backends.stop(runner)
    with pytest.raises(IntegrationUnavailable):
        await http.send(request(url, body=b"two"), timeout=SLOW)
    await backends.start(port)
    reply = await http.send(request(url, body=b"three"), timeout=SLOW)
    assert base64.b64decode(decoded(reply)["body"]) == b"three"


@pytest.mark.parametrize("path", ["/big/1001", "/chunked/1001", "/gzip/1001"])
async def test_oversized_reply_is_bad_response(backends: Backends, path: str) -> None:
    transport = HttpTransport(max_body_bytes=1000)
    try:
        url = await backends.url(path)
        with pytest.raises(IntegrationBadResponse, match="exceeds 1000 bytes") as caught:
            await transport.send(request(url, method="GET"), timeout=SLOW)
        assert caught.value.status == 200
        # The limit is inclusive, and the transport is fine afterwards.
        at_limit = await transport.send(request(url[:-4] + "1000", method="GET"), timeout=SLOW)
        assert len(at_limit.body) == 1000
    finally:
        await transport.close()


async def test_compressed_reply_is_decoded(backends: Backends, http: HttpTransport) -> None:
    url = await backends.url("/gzip/5000")
    reply = await http.send(request(url, method="GET"), timeout=SLOW)
    assert reply.body == b"z" * 5000
    # Those headers described the compressed body, which the caller never sees.
    assert reply.header("content-encoding") is None
    assert reply.header("content-length") is None


async def test_cookies_are_not_kept(backends: Backends, http: HttpTransport) -> None:
    url = await backends.url("/cookie")
    first = await http.send(request(url, method="GET"), timeout=SLOW)
    assert "session=secret" in (first.header("set-cookie") or "")
    second = await http.send(request(url, method="GET"), timeout=SLOW)
    assert second.body == b""


async def test_concurrent_sends_share_the_pool(backends: Backends) -> None:
    transport = HttpTransport(max_connections=16)
    try:
        url = await backends.url()
        bodies = [f"message {i}".encode() for i in range(200)]
        replies = await asyncio.gather(
            *(transport.send(request(url, body=body), timeout=SLOW) for body in bodies)
        )
        assert [base64.b64decode(decoded(r)["body"]) for r in replies] == bodies
        assert 1 <= len(backends.peers) <= 16
    finally:
        await transport.close()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()


async def _truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
    await writer.drain()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    pass


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (_garbage, IntegrationBadResponse, None),
        (_truncated, IntegrationBadResponse, 200),
        (_hang_up, IntegrationUnavailable, None),
    ],
)
async def test_broken_replies_are_translated(
    http: HttpTransport, answer: Any, error: type[Exception], status: int | None
) -> None:
    async with raw_server(answer) as url:
        with pytest.raises(error) as caught:
            await http.send(request(url), timeout=SLOW)
    assert getattr(caught.value, "status", None) == status
    assert caught.value.__cause__ is not None


async def test_unsendable_header_is_unavailable(backends: Backends, http: HttpTransport) -> None:
    url = await backends.url()
    headers = (("X-Injected", "a\r\nX-Evil: 1"),)
    with pytest.raises(IntegrationUnavailable, match="cannot be sent"):
        await http.send(request(url, headers=headers), timeout=SLOW)


async def test_closed_transport_is_unavailable(backends: Backends) -> None:
    transport = HttpTransport()
    url = await backends.url()
    assert (await transport.send(request(url), timeout=SLOW)).status == 200
    await transport.close()
    await transport.close()
    with pytest.raises(IntegrationUnavailable, match="closed"):
        await transport.send(request(url), timeout=SLOW)


# -- AsgiTransport: a Starlette app --------------------------------------------------------------


@dataclass
class Events:
    started: bool = False
    stopped: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)


def starlette_app(events: Events) -> Starlette:
    async def echo(request: Request) -> Response:
        scope = request.scope
        return JSONResponse(
            {
                "method": request.method,
                "scheme": scope["scheme"],
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode(),
                "query_string": scope["query_string"].decode(),
                "root_path": scope["root_path"],
                "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
                "server": list(scope["server"]),
                "client": list(scope["client"]),
                "body": base64.b64encode(await request.body()).decode(),
                "started": getattr(request.state, "started", False),
            },
            headers={"X-Multi": "1"},
        )

    async def status(request: Request) -> Response:
        response = PlainTextResponse("status body", status_code=int(request.path_params["code"]))
        response.headers.append("x-multi", "a")
        response.headers.append("x-multi", "b")
        return response

    async def boom(request: Request) -> Response:
        raise RuntimeError("kaboom")

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(5):
                await asyncio.sleep(0)
                yield f"chunk{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    async def slow(request: Request) -> Response:
        await events.release.wait()
        return PlainTextResponse("late")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.started = True
        yield {"started": True}
        events.stopped = True

    return Starlette(
        routes=[
            Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT"]),
            Route("/status/{code:int}", status),
            Route("/boom", boom),
            Route("/stream", stream),
            Route("/slow", slow),
        ],
        lifespan=lifespan,
    )


@pytest.fixture
async def events() -> AsyncIterator[Events]:
    happened = Events()
    yield happened
    happened.release.set()


@pytest.fixture
async def asgi(events: Events) -> AsyncIterator[AsgiTransport]:
    transport = AsgiTransport(starlette_app(events))
    await transport.start()
    try:
        yield transport
    finally:
        await transport.close()


async def test_asgi_round_trip_builds_the_scope(asgi: AsgiTransport) -> None:
    url = "http://backend.local:8080/echo/a%20b/c?a=1&a=2&b=%2F"
    headers = (("X-Custom-Case", "Value"), ("x-rep", "1"), ("X-Rep", "2"))
    reply = await asgi.send(request(url, headers=headers, body=BINARY), timeout=SLOW)

    echoed = decoded(reply)
    assert echoed["method"] == "POST"
    assert echoed["scheme"] == "http"
    assert echoed["path"] == "/echo/a b/c"
    assert echoed["raw_path"] == "/echo/a%20b/c"
    assert echoed["query_string"] == "a=1&a=2&b=%2F"
    assert echoed["root_path"] == ""
    assert echoed["server"] == ["backend.local", 8080]
    assert echoed["client"] == ["127.0.0.1", 0]
    assert base64.b64decode(echoed["body"]) == BINARY
    assert echoed["started"] is True  # lifespan state reaches requests
    assert echoed["headers"] == [
        ["host", "backend.local:8080"],
        ["x-custom-case", "Value"],
        ["x-rep", "1"],
        ["x-rep", "2"],
        ["content-length", str(len(BINARY))],
    ]
    assert reply.header("X-MULTI") == "1"


@pytest.mark.parametrize("code", [302, 404, 500, 503])
async def test_asgi_non_2xx_replies_are_replies(asgi: AsgiTransport, code: int) -> None:
    reply = await asgi.send(request(f"http://app/status/{code}", method="GET"), timeout=SLOW)
    assert reply.status == code
    assert reply.body == b"status body"
    assert [v for k, v in reply.headers if k == "x-multi"] == ["a", "b"]


async def test_asgi_exception_is_a_500(
    asgi: AsgiTransport, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="wsgate.integrations.asgi"):
        reply = await asgi.send(request("http://app/boom", method="GET"), timeout=SLOW)
    # Starlette sends its own complete 500 before re-raising; that reply stands.
    assert reply.status == 500
    assert reply.body == b"Internal Server Error"
    logged = [r for r in caplog.records if r.name == "wsgate.integrations.asgi"]
    assert logged and logged[0].exc_info and "kaboom" in str(logged[0].exc_info[1])


async def test_asgi_streamed_body_is_assembled(asgi: AsgiTransport) -> None:
    reply = await asgi.send(request("http://app/stream", method="GET"), timeout=SLOW)
    assert reply.status == 200
    assert reply.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"


async def test_asgi_timeout(asgi: AsgiTransport) -> None:
    with pytest.raises(IntegrationTimeout) as caught:
        await asgi.send(request("http://app/slow", method="GET"), timeout=0.2, integration="app")
    assert caught.value.integration == "app"


async def test_asgi_lifespan_runs_startup_and_shutdown(events: Events) -> None:
    transport = AsgiTransport(starlette_app(events))
    await transport.start()
    assert events.started and not events.stopped
    await transport.close()
    assert events.stopped
    with pytest.raises(IntegrationUnavailable, match="closed"):
        await transport.send(request("http://app/echo/"), timeout=SLOW)


# -- AsgiTransport: raw ASGI apps ----------------------------------------------------------------


def raw_app(
    *messages: Message, raise_after: bool = False, lifespan: bool = False
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that sends ``messages`` and then maybe raises; without lifespan support."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and lifespan:
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})
            return
        assert scope["type"] == "http"
        await receive()
        for message in messages:
            await send(message)
        if raise_after:
            raise ValueError("app bug")

    return app


START = {"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]}


async def test_asgi_app_raising_before_a_response_is_an_empty_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = AsgiTransport(raw_app(raise_after=True))
    await transport.start()  # no lifespan support: tolerated
    with caplog.at_level(logging.ERROR, logger="wsgate.integrations.asgi"):
        reply = await transport.send(request("http://app/"), timeout=SLOW)
    assert reply == BackendReply(500, (), b"")
    assert any("app bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    await transport.close()


@pytest.mark.parametrize(
    ("messages", "raise_after", "match"),
    [
        ((), False, "without a response"),
        ((START, {"type": "http.response.body", "body": b"x", "more_body": True}), False, "before"),
        ((START, {"type": "http.response.body", "body": b"x", "more_body": True}), True, "raised"),
        ((START, {"type": "http.response.body", "body": b"x" * 1001}), False, "exceeds 1000"),
        ((START, START), False, "raised"),
    ],
)
async def test_asgi_unusable_responses_are_bad_responses(
    messages: tuple[Message, ...], raise_after: bool, match: str
) -> None:
    transport = AsgiTransport(raw_app(*messages, raise_after=raise_after), max_body_bytes=1000)
    with pytest.raises(IntegrationBadResponse, match=match):
        await transport.send(request("http://app/"), timeout=SLOW)


async def test_asgi_body_chunks_within_the_limit() -> None:
    chunks = [{"type": "http.response.body", "body": b"x" * 500, "more_body": True}] * 2
    app = raw_app(START, *chunks, {"type": "http.response.body"})
    reply = await AsgiTransport(app, max_body_bytes=1000).send(request("http://app/"), timeout=SLOW)
    assert reply == BackendReply(201, (("x-a", "1"),), b"x" * 1000)


async def test_asgi_lifespan_startup_failure_is_unavailable() -> None:
    transport = AsgiTransport(raw_app(lifespan=True))
    with pytest.raises(IntegrationUnavailable, match="no database"):
        await transport.start()


async def test_transports_implement_the_interface(events: Events) -> None:
    transports: list[Transport] = [HttpTransport(), AsgiTransport(starlette_app(events))]
    assert all(callable(t.send) and callable(t.close) for t in transports)


# -- AsgiTransport.from_uri ----------------------------------------------------------------------


@pytest.fixture
def code_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder for app modules and a module name no other test uses; import state restored."""
    path, modules = list(sys.path), set(sys.modules)
    try:
        yield tmp_path, f"wsgate_test_app_{uuid.uuid4().hex}"
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            del sys.modules[name]


async def test_from_uri_imports_the_app(code_dir: tuple[Path, str]) -> None:
    folder, module = code_dir
    (folder / f"{module}.py").write_text(
        "from starlette.applications import Starlette\n"
        "from starlette.responses import PlainTextResponse\n"
        "from starlette.routing import Route\n"
        "async def hello(request):\n"
        "    return PlainTextResponse('hello ' + request.url.path)\n"
        "class Holder:\n"
        "    app = Starlette(routes=[Route('/{p:path}', hello)])\n"
    )
    transport = AsgiTransport.from_uri(f"asgi:{module}:Holder.app", code_dir=str(folder))
    await transport.start()
    reply = await transport.send(request("http://app/x", method="GET"), timeout=SLOW)
    assert reply.body == b"hello /x"
    await transport.close()


@pytest.mark.parametrize(
    ("source", "uri", "match"),
    [
        (None, "asgi:{module}_missing:app", "cannot import module"),
        ("app = None\n", "asgi:{module}:application", "has no attribute 'application'"),
        ("app = 42\n", "asgi:{module}:app", "is a int, not an ASGI app"),
        ("raise RuntimeError('bad init')\n", "asgi:{module}:app", "bad init"),
        (None, "asgi:{module}", "expected 'asgi:package.module:attribute'"),
        (None, "http://example.com/", "expected 'asgi:package.module:attribute'"),
    ],
)
def test_from_uri_errors_name_the_problem(
    code_dir: tuple[Path, str], source: str | None, uri: str, match: str
) -> None:
    folder, module = code_dir
    if source is not None:
        (folder / f"{module}.py").write_text(source)
    with pytest.raises(ValueError, match=match) as caught:
        AsgiTransport.from_uri(uri.format(module=module), code_dir=str(folder))
    assert uri.format(module=module) in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("asgi:pkg.mod:app", ("pkg.mod:app", "http://localhost/")),
        ("asgi:pkg.mod:obj.app/a/b?x=1", ("pkg.mod:obj.app", "http://localhost/a/b?x=1")),
        ("asgi:mod:app?x=1", ("mod:app", "http://localhost/?x=1")),
    ],
)
def test_split_asgi_uri(uri: str, expected: tuple[str, str]) -> None:
    assert split_asgi_uri(uri) == expected
