"""``wsgate connect`` and ``wsgate post|get|delete`` against small stub servers.

The stubs run in a daemon thread with their own event loop, so the same server answers async
tests (which call ``run_connect`` directly), sync tests of ``run_management`` (botocore is
synchronous) and tests that go through argparse and the ``asyncio.run`` wrappers, as ``wsgate``
itself does.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pytest
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from tests.aws_env import isolate_aws
from tests.helpers import UNIT
from wsgate.clients import management, ws
from wsgate.clients.management import ManagementRequest, run_management
from wsgate.clients.ws import ConnectOptions, run_connect

# Upper bound for waiting on the stub thread; never reached when things work.
EVENT_TIMEOUT = 5.0 * UNIT
# How long the client waits for more replies once its input ended; long enough for an echo.
QUIET = 0.3 * UNIT

CONNECTION = {
    "connectedAt": "2024-05-01T12:00:00.000Z",
    "identity": {"sourceIp": "127.0.0.1", "userAgent": "wscat/6"},
    "lastActiveAt": "2024-05-01T12:00:05.000Z",
}
# What `wsgate get` prints for it: botocore's names and parsed times, back in ISO 8601.
PRINTED_CONNECTION = {
    "ConnectedAt": "2024-05-01T12:00:00.000Z",
    "Identity": {"SourceIp": "127.0.0.1", "UserAgent": "wscat/6"},
    "LastActiveAt": "2024-05-01T12:00:05.000Z",
}


@dataclass
class Handshake:
    """What the echo server saw of one WebSocket connection."""

    headers: CIMultiDict[str]
    protocol: str | None = None
    close_code: int | None = None
    closed: threading.Event = field(default_factory=threading.Event)


@dataclass
class ManagementCall:
    """One request the fake ``@connections`` endpoint received."""

    method: str
    raw_path: str
    body: bytes
    authorization: str | None = field(default=None, compare=False)


@dataclass
class Stub:
    """The running stub server and what it recorded."""

    host: str
    handshakes: list[Handshake] = field(default_factory=list)
    calls: list[ManagementCall] = field(default_factory=list)

    def ws_url(self, path: str) -> str:
        return f"ws://{self.host}{path}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}/dev"


def _build_app(stub: Stub) -> web.Application:
    async def echo(request: web.Request) -> web.StreamResponse:
        handshake = Handshake(CIMultiDict(request.headers))
        stub.handshakes.append(handshake)
        socket_ = web.WebSocketResponse(protocols=("chat.v2", "chat.v1"))
        await socket_.prepare(request)
        handshake.protocol = socket_.ws_protocol
        try:
            async for message in socket_:
                if message.type is WSMsgType.TEXT:
                    await _answer(socket_, message.data)
        finally:
            handshake.close_code = socket_.close_code
            handshake.closed.set()
        return socket_

    async def reject(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "Forbidden"}, status=403)

    async def drop(request: web.Request) -> web.StreamResponse:
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        assert request.transport is not None
        request.transport.abort()  # vanish without a close frame
        return socket_

    async def connections(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        authorization = request.headers.get("Authorization")
        stub.calls.append(ManagementCall(request.method, request.raw_path, body, authorization))
        connection_id = request.match_info["connection_id"]
        if connection_id == "gone":
            return _aws_error(410, "GoneException", None)
        if connection_id == "too-big":
            return _aws_error(413, "PayloadTooLargeException", "Message too long")
        if connection_id == "unsigned":
            return _aws_error(403, "MissingAuthenticationTokenException", "Forbidden")
        if connection_id == "broken":
            return web.Response(status=502, text="<html>\nBad gateway\n</html>")
        if connection_id == "html" and request.method == "GET":
            return web.Response(text="<html>not JSON</html>", content_type="text/html")
        if request.method == "GET":
            return web.json_response(CONNECTION)
        return web.Response(status=204 if request.method == "DELETE" else 200)

    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_get("/reject", reject)
    app.router.add_get("/drop", drop)
    app.router.add_route("*", "/dev/@connections/{connection_id}", connections)
    return app


async def _answer(socket_: web.WebSocketResponse, text: str) -> None:
    """Echo ``text``, unless it is a command: ``close CODE REASON`` or ``binary DATA``."""
    command, _, argument = text.partition(" ")
    if command == "close":
        code, _, reason = argument.partition(" ")
        await socket_.close(code=int(code), message=reason.encode())
    elif command == "binary":
        await socket_.send_bytes(argument.encode())
    else:
        await socket_.send_str(text)


def _aws_error(status: int, error_type: str, message: str | None) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
    )


class _ThreadedServer:
    """Serves an aiohttp application on 127.0.0.1, port 0, from a daemon thread's loop."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="stub-server", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(EVENT_TIMEOUT):
            raise RuntimeError("stub server did not start")

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(EVENT_TIMEOUT)

    def _serve(self) -> None:
        self._loop = loop = asyncio.new_event_loop()
        runner = web.AppRunner(self._app, shutdown_timeout=1.0)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        self.port = runner.addresses[0][1]
        self._stop = loop.create_future()
        self._ready.set()
        loop.run_until_complete(self._stop)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Stub]:
    stub = Stub(host="")
    threaded = _ThreadedServer(_build_app(stub))
    threaded.start()
    stub.host = f"127.0.0.1:{threaded.port}"
    yield stub
    threaded.stop()


@pytest.fixture
def stub(server: Stub) -> Stub:
    server.handshakes.clear()
    server.calls.clear()
    return server


@pytest.fixture(autouse=True)
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS credentials anywhere, unless a test sets them."""
    return isolate_aws(monkeypatch, tmp_path / "aws")


@pytest.fixture
def refused_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but never listening: the kernel refuses connections
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # the kernel completes TCP handshakes; nobody ever answers HTTP
        yield sock.getsockname()[1]


@dataclass
class Outcome:
    code: int
    out: str
    err: str


async def connect(options: ConnectOptions, stdin: str | TextIO = "") -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    source = io.StringIO(stdin) if isinstance(stdin, str) else stdin
    code = await run_connect(options, stdin=source, stdout=out, stderr=err)
    return Outcome(code, out.getvalue(), err.getvalue())


def manage(request: ManagementRequest) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = run_management(request, stdout=out, stderr=err)
    return Outcome(code, out.getvalue(), err.getvalue())


def main(argv: list[str]) -> int:
    """What ``wsgate.cli.main`` does with these subcommands."""
    parser = argparse.ArgumentParser(prog="wsgate")
    subparsers = parser.add_subparsers(required=True)
    ws.add_parser(subparsers)
    management.add_parsers(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))


# wsgate connect


async def test_execute_prints_each_reply(stub: Stub) -> None:
    options = ConnectOptions(stub.ws_url("/echo"), execute=("hello", "world"), count=2)
    assert await connect(options) == Outcome(0, "< hello\n< world\n", "")


async def test_execute_exits_once_replies_stop(stub: Stub) -> None:
    options = ConnectOptions(stub.ws_url("/echo"), execute=("hello",), wait=QUIET)
    assert await connect(options) == Outcome(0, "< hello\n", "")
    assert stub.handshakes[0].closed.wait(EVENT_TIMEOUT)
    assert stub.handshakes[0].close_code == 1000


async def test_stdin_lines_are_sent_as_text_frames(stub: Stub) -> None:
    options = ConnectOptions(stub.ws_url("/echo"), count=2)
    assert await connect(options, stdin="one\ntwo\r\n") == Outcome(0, "< one\n< two\n", "")


async def test_stdin_pipe_end_closes_normally(stub: Stub) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"one\ntwo\n")
    os.close(write_end)
    with open(read_end, encoding="utf-8") as stdin:
        outcome = await connect(ConnectOptions(stub.ws_url("/echo"), wait=QUIET), stdin)
        assert os.get_blocking(stdin.fileno())  # left as found, for the shell's sake
    assert outcome == Outcome(0, "< one\n< two\n", "")
    assert stub.handshakes[0].closed.wait(EVENT_TIMEOUT)
    assert stub.handshakes[0].close_code == 1000


async def test_stdin_file_with_invalid_utf8(stub: Stub, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "input.txt")
    with open(path, "wb") as file:
        file.write(b"caf\xe9\nnext\n")
    with open(path, encoding="utf-8") as stdin:
        outcome = await connect(ConnectOptions(stub.ws_url("/echo"), count=2), stdin)
    assert outcome == Outcome(0, "< caf\ufffd\n< next\n", "")


async def test_stdin_terminal_is_read_by_the_loop(stub: Stub) -> None:
    controller, terminal = os.openpty()
    os.write(controller, b"typed\n")
    try:
        with open(terminal, encoding="utf-8") as stdin:
            outcome = await connect(ConnectOptions(stub.ws_url("/echo"), count=1), stdin)
            assert os.get_blocking(stdin.fileno())
    finally:
        os.close(controller)
    # No prompt: stdout is not a terminal here.
    assert outcome == Outcome(0, "< typed\n", "")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("text", "< hi\n< [binary 2 bytes] aGk=\n"),
        ("raw", "hi\naGk=\n"),
        (
            "json",
            '{"type": "text", "data": "hi"}\n{"type": "binary", "data": "aGk="}\n',
        ),
    ],
)
async def test_output_modes(stub: Stub, output: ws.OutputMode, expected: str) -> None:
    options = ConnectOptions(
        stub.ws_url("/echo"), execute=("hi", "binary hi"), count=2, output=output
    )
    assert await connect(options) == Outcome(0, expected, "")


async def test_rejected_handshake_exits_3(stub: Stub) -> None:
    outcome = await connect(ConnectOptions(stub.ws_url("/reject"), execute=("hi",)))
    assert outcome == Outcome(3, "", "error: server answered HTTP 403\n")


@pytest.mark.parametrize(
    ("close", "code", "printed"),
    [
        ("close 1011 boom", 4, "closed: 1011 boom\n"),
        ("close 4001 custom", 4, "closed: 4001 custom\n"),
        ("close 1000 bye", 0, "closed: 1000 bye\n"),
        ("close 1001", 0, "closed: 1001\n"),
    ],
)
async def test_server_close_code_decides_exit(
    stub: Stub, close: str, code: int, printed: str
) -> None:
    outcome = await connect(ConnectOptions(stub.ws_url("/echo"), execute=("hi", close)))
    assert outcome == Outcome(code, "< hi\n", printed)


async def test_dropped_connection_exits_4(stub: Stub) -> None:
    outcome = await connect(ConnectOptions(stub.ws_url("/drop"), execute=("hi",)))
    assert outcome == Outcome(4, "", "closed: 1006 connection lost\n")


async def test_refused_connection_exits_1(refused_port: int) -> None:
    outcome = await connect(ConnectOptions(f"ws://127.0.0.1:{refused_port}/", execute=("hi",)))
    assert outcome.code == 1
    assert outcome.err.startswith(f"error: cannot connect to ws://127.0.0.1:{refused_port}/")


async def test_handshake_timeout_exits_1(silent_port: int) -> None:
    url = f"ws://127.0.0.1:{silent_port}/"
    outcome = await connect(ConnectOptions(url, execute=("hi",), timeout=0.2))
    assert outcome == Outcome(1, "", f"error: handshake with {url} timed out after 0.2 s\n")


async def test_headers_origin_and_subprotocol_are_sent(stub: Stub) -> None:
    options = ConnectOptions(
        stub.ws_url("/echo"),
        headers=(("X-Api-Key", "k1"), ("X-Trace", "a"), ("X-Trace", "b")),
        subprotocols=("chat.v1",),
        origin="https://app.example",
        execute=("hi",),
        count=1,
    )
    assert (await connect(options)).code == 0
    seen = stub.handshakes[0]
    assert seen.headers["X-Api-Key"] == "k1"
    assert seen.headers.getall("X-Trace") == ["a", "b"]
    assert seen.headers["Origin"] == "https://app.example"
    assert seen.headers["Sec-WebSocket-Protocol"] == "chat.v1"
    assert seen.headers["User-Agent"].startswith("wsgate/")
    assert seen.protocol == "chat.v1"


def test_main_connect(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["connect", f"{stub.host}/echo", "-x", "ping", "-H", "X-A: 1", "--count", "1"]
    assert main(argv) == 0
    assert capsys.readouterr() == ("< ping\n", "")
    assert stub.handshakes[0].headers["X-A"] == "1"


def test_main_connect_rejected(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connect", stub.ws_url("/reject"), "-x", "hi"]) == 3
    assert capsys.readouterr().err == "error: server answered HTTP 403\n"


# wsgate post|get|delete


def test_post_sends_raw_bytes_to_encoded_path(stub: Stub) -> None:
    payload = bytes(range(256))
    request = ManagementRequest("post", stub.endpoint, "L0SM9cOFvHcCIhw=", payload)
    assert manage(request) == Outcome(0, "", "")
    assert stub.calls == [ManagementCall("POST", "/dev/@connections/L0SM9cOFvHcCIhw%3D", payload)]
    # No credentials anywhere: sent unsigned rather than refused before leaving.
    assert stub.calls[0].authorization is None


def test_get_prints_connection_json(stub: Stub) -> None:
    outcome = manage(ManagementRequest("get", stub.endpoint + "/", "abc="))
    assert (outcome.code, outcome.err) == (0, "")
    assert json.loads(outcome.out) == PRINTED_CONNECTION
    assert outcome.out.startswith('{\n  "ConnectedAt"')  # pretty, in botocore's order
    assert stub.calls[0].raw_path == "/dev/@connections/abc%3D"


def test_delete_succeeds_on_204(stub: Stub) -> None:
    assert manage(ManagementRequest("delete", stub.endpoint, "abc")) == Outcome(0, "", "")
    assert stub.calls == [ManagementCall("DELETE", "/dev/@connections/abc", b"")]


@pytest.mark.parametrize(
    ("connection_id", "code", "err"),
    [
        ("gone", 3, "error: 410 GoneException\n"),
        ("too-big", 4, "error: 413 PayloadTooLargeException: Message too long\n"),
        ("broken", 4, "error: 502 Bad Gateway\n"),
    ],
)
def test_errors_print_status_and_type(stub: Stub, connection_id: str, code: int, err: str) -> None:
    request = ManagementRequest("post", stub.endpoint, connection_id, b"x")
    assert manage(request) == Outcome(code, "", err)
    # Never retried, not even a 502: a second POST could deliver the message twice.
    assert len(stub.calls) == 1


def test_a_refused_unsigned_request_says_where_credentials_come_from(stub: Stub) -> None:
    outcome = manage(ManagementRequest("delete", stub.endpoint, "unsigned"))
    assert outcome.code == 4
    error, hint = outcome.err.splitlines()
    assert error == "error: 403 MissingAuthenticationTokenException: Forbidden"
    assert hint.startswith("hint: the request was not signed, as no credentials were found")
    assert "--access-key-id" in hint and "AWS_ACCESS_KEY_ID" in hint and "--profile" in hint


def test_credentials_from_the_environment_sign(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert manage(ManagementRequest("delete", stub.endpoint, "abc")).code == 0
    authorization = stub.calls[0].authorization
    assert authorization is not None
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDENVIRONMENT/")
    assert "/us-east-1/execute-api/aws4_request" in authorization


def test_an_unreadable_answer_exits_4(stub: Stub) -> None:
    outcome = manage(ManagementRequest("get", stub.endpoint, "html"))
    err = f"error: {stub.endpoint} answered GetConnection without a connection\n"
    assert outcome == Outcome(4, "", err)


def test_unreachable_endpoint_exits_1(refused_port: int) -> None:
    endpoint = f"http://127.0.0.1:{refused_port}/dev"
    outcome = manage(ManagementRequest("get", endpoint, "abc"))
    assert outcome.code == 1
    assert outcome.err.startswith(f"error: cannot reach {endpoint}: ")


def test_silent_endpoint_times_out_with_1(silent_port: int) -> None:
    endpoint = f"http://127.0.0.1:{silent_port}/dev"
    outcome = manage(ManagementRequest("get", endpoint, "abc", timeout=0.2))
    assert outcome == Outcome(1, "", f"error: {endpoint} did not answer within 0.2 s\n")


def test_main_post_reads_stdin(
    stub: Stub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\x00bytes\n")))
    assert main(["post", stub.endpoint, "id=", "-"]) == 0
    assert capsys.readouterr() == ("", "")
    assert stub.calls == [ManagementCall("POST", "/dev/@connections/id%3D", b"\x00bytes\n")]


def test_main_post_reads_file(stub: Stub, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "payload.bin")
    with open(path, "wb") as file:
        file.write(b"\xff\xfe")
    assert main(["post", stub.endpoint, "id", "--file", path]) == 0
    assert stub.calls[0].body == b"\xff\xfe"


def test_main_post_argument_keeps_its_bytes(stub: Stub) -> None:
    # A non-UTF-8 byte in argv arrives as a lone surrogate; it must go out as that byte.
    data = os.fsdecode(b"caf\xe9")
    assert main(["post", stub.endpoint, "id", data]) == 0
    assert stub.calls[0].body == b"caf\xe9"


def test_main_post_unreadable_file_is_usage_error(
    stub: Stub, tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = os.path.join(tmp_path, "missing")
    assert main(["post", stub.endpoint, "id", "--file", missing]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {missing}: ")
    assert stub.calls == []


def test_main_unknown_profile_is_usage_error(
    stub: Stub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", stub.endpoint, "id", "--profile", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert stub.calls == []


def test_main_signs_with_keys_from_flags(stub: Stub) -> None:
    keys = ["--access-key-id", "AKIDFLAGS", "--secret-access-key", "s", "--region", "eu-west-1"]
    assert main(["delete", stub.endpoint, "id", *keys]) == 0
    authorization = stub.calls[0].authorization
    assert authorization is not None
    assert "Credential=AKIDFLAGS/" in authorization and "/eu-west-1/" in authorization


def test_main_no_sign_request_sends_unsigned(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert main(["delete", stub.endpoint, "id", "--no-sign-request"]) == 0
    assert stub.calls[0].authorization is None


def test_main_get_gone(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", stub.endpoint, "gone"]) == 3
    assert capsys.readouterr() == ("", "error: 410 GoneException\n")
