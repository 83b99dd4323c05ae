"""``wsgate post|get|delete``, ``trace`` and ``logs`` through ``main(argv)`` against real gateways.

The management commands are checked against a gateway whose ``@connections`` API wants SigV4
(``server.managementAuthorization: AWS_IAM``) with right, wrong, unknown and missing keys, and
against an open one. The trace commands are pointed at every listener a user might pick: the
public one, an admin listener with traces turned off, and a server that is no gateway at all.
``main`` runs in a thread, since botocore blocks and each command runs its own event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.aws_env import isolate_aws
from tests.helpers import RunningGateway, ws_client
from wsgate.cli import main
from wsgate.config.load import load_config, parse_config
from wsgate.server.app import Gateway

KEY_ID = "AKIAWSGATECLI0000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCLIKEY"
APPS = Path(__file__).parent / "apps"
SIGNED_CONFIG = f"""
name: signed
routeSelectionExpression: $request.body.action
stages: {{dev: {{}}}}
routes:
  echo: {{target: echo, routeResponseSelectionExpression: $default}}
integrations:
  echo: {{integrationType: AWS_PROXY, integrationUri: echo}}
functions:
  echo: {{handler: handlers.echo, codeUri: {APPS / "access"}, isolation: inprocess}}
iam:
  credentials:
    - accessKeyId: {KEY_ID}
      secretAccessKey: {SECRET}
      principal: arn:aws:iam::000000000000:user/ops
server:
  managementAuthorization: AWS_IAM
"""
KEY_FLAGS = ("--access-key-id", KEY_ID, "--secret-access-key", SECRET)
# Long enough for a frame to cross the loopback; a refused call must deliver nothing by then.
FRAME_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS credentials anywhere, unless a test sets them."""
    return isolate_aws(monkeypatch, tmp_path / "aws")


@pytest.fixture
async def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningGateway]:
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("EVENTS_FILE", str(events))
    gateway = Gateway(parse_config(SIGNED_CONFIG, base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        yield RunningGateway(gateway, events)
    finally:
        await gateway.stop(timeout=5)


@pytest.fixture
async def untraced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """The basic API with an admin listener whose traces are off (traceBufferSize: 0)."""
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    config = load_config(APPS / "basic" / "wsgate.yaml")
    server = config.server.model_copy(update={"admin_port": 0, "trace_buffer_size": 0})
    gateway = Gateway(config.model_copy(update={"server": server}))
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


@pytest.fixture
async def not_a_gateway() -> AsyncIterator[str]:
    """An HTTP server that answers 500 to trace paths and 200 HTML to everything else."""

    async def answer(request: web.Request) -> web.Response:
        if request.path.startswith("/_wsgate/traces"):
            return web.Response(status=500, text="boom")
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def wsgate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``wsgate ARGV`` off the event loop; return its exit status, stdout and stderr."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def admin_url(gateway: Gateway) -> str:
    port = next(x.port for x in gateway.listeners if x.role == "admin")
    return f"http://127.0.0.1:{port}"


# wsgate post|get|delete against a gateway that wants SigV4


async def test_keys_from_flags_post_get_and_delete(signed, capsys):
    async with ws_client(signed.ws_url()) as ws:
        connection_id = next(iter(signed.gateway.dataplane.live))
        endpoint = signed.endpoint()
        assert await wsgate(capsys, "post", endpoint, connection_id, "hi", *KEY_FLAGS) == (
            0,
            "",
            "",
        )
        assert await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT) == "hi"
        code, out, err = await wsgate(capsys, "get", endpoint, connection_id, *KEY_FLAGS)
        assert (code, err) == (0, "")
        connection = json.loads(out)
        assert connection["Identity"]["SourceIp"] == "127.0.0.1"
        assert connection["ConnectedAt"].endswith("Z")  # botocore's datetime, back in ISO 8601
        assert "ResponseMetadata" not in connection
        assert await wsgate(capsys, "delete", endpoint, connection_id, *KEY_FLAGS) == (0, "", "")
        await asyncio.wait_for(ws.wait_closed(), FRAME_TIMEOUT)
    assert ws.close_code == 1000


async def test_an_id_that_starts_with_a_dash_goes_after_double_dash(signed, capsys):
    # The gateway's own ids never start with "-" (core/ids.py); AWS's may.
    assert not any(cid.startswith("-") for cid in signed.gateway.dataplane.live)
    code, _, err = await wsgate(
        capsys, "post", signed.endpoint(), *KEY_FLAGS, "--", "-aBcDeFgHiJkLmN=", "hi"
    )
    assert code == 3, err  # parsed as an id: the gateway answers GoneException
    assert "GoneException" in err


async def test_keys_from_the_environment_sign(signed, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    async with ws_client(signed.ws_url()) as ws:
        connection_id = next(iter(signed.gateway.dataplane.live))
        code, _, err = await wsgate(capsys, "post", signed.endpoint(), connection_id, "env")
        assert (code, err) == (0, "")
        assert await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT) == "env"


@pytest.mark.parametrize(
    ("keys", "error_type"),
    [
        (("--access-key-id", KEY_ID, "--secret-access-key", "wrong"), "InvalidSignatureException"),
        (
            ("--access-key-id", "AKIAUNKNOWNKEY000000", "--secret-access-key", SECRET),
            "UnrecognizedClientException",
        ),
    ],
)
async def test_wrong_keys_exit_4(signed, capsys, keys, error_type):
    async with ws_client(signed.ws_url()) as ws:
        connection_id = next(iter(signed.gateway.dataplane.live))
        endpoint = signed.endpoint()
        code, out, err = await wsgate(capsys, "post", endpoint, connection_id, "no", *keys)
        assert (code, out) == (4, ""), err
        # AWS's own message for a bad signature spans lines (the canonical request); then a hint.
        assert err.startswith(f"error: 403 {error_type}: ")
        hint = err.splitlines()[-1]
        assert hint.startswith(f"hint: signed for us-east-1 with access key {keys[1]}")
        # The refused call delivered nothing: the next frame is the one a signed call sends.
        await wsgate(capsys, "post", endpoint, connection_id, "yes", *KEY_FLAGS)
        assert await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT) == "yes"


@pytest.mark.parametrize("flags", [(), ("--no-sign-request",)])
async def test_unsigned_calls_exit_4_with_a_hint(signed, capsys, flags, tmp_path, monkeypatch):
    # No local key either: a machine where no gateway ever ran. (The in-process function put
    # the key it was given into this process's environment, as in-process isolation does.)
    monkeypatch.setenv("WSGATE_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    async with ws_client(signed.ws_url()):
        connection_id = next(iter(signed.gateway.dataplane.live))
        code, _, err = await wsgate(capsys, "get", signed.endpoint(), connection_id, *flags)
    assert code == 4
    error, hint = err.splitlines()
    assert error.startswith("error: 403 MissingAuthenticationTokenException")
    assert hint.startswith("hint: the request was not signed")
    if not flags:
        assert "AWS_ACCESS_KEY_ID" in hint and "--profile" in hint


async def test_the_local_key_signs_for_a_gateway_on_this_machine(basic, capsys):
    # No flags, no AWS credentials anywhere: the gateway's default wants SigV4, and the CLI
    # finds the local key that every local gateway accepts.
    assert basic.gateway.config.server.management_authorization == "AWS_IAM"
    async with ws_client(basic.ws_url()) as ws:
        connection_id = next(iter(basic.gateway.dataplane.live))
        endpoint = basic.endpoint()
        assert await wsgate(capsys, "post", endpoint, connection_id, "open") == (0, "", "")
        assert await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT) == "open"
        code, out, _ = await wsgate(capsys, "get", endpoint, connection_id)
        assert code == 0
        assert json.loads(out)["Identity"]["SourceIp"] == "127.0.0.1"
        assert (await wsgate(capsys, "delete", endpoint, connection_id))[0] == 0
    code, _, err = await wsgate(capsys, "get", endpoint, connection_id)
    assert code == 3
    assert err.startswith("error: 410 GoneException")


# wsgate trace|logs pointed at the wrong place


async def test_the_public_listener_serves_no_traces(basic_admin, capsys):
    public = f"http://127.0.0.1:{basic_admin.port}"
    for argv in (["trace", public, "AAAAAAAAAAAAAAA="], ["logs", public, "--count", "1"]):
        code, out, err = await wsgate(capsys, *argv)
        assert (code, out) == (1, "")
        assert err.startswith(f"error: {public} answered 403 Forbidden: that is the gateway's ")
        assert "public listener" in err
        assert "--admin-port PORT" in err and "server.adminPort" in err


async def test_an_admin_listener_without_traces_says_how_to_enable_them(untraced, capsys):
    admin = admin_url(untraced)
    for argv in (["trace", admin, "AAAAAAAAAAAAAAA="], ["logs", admin, "--count", "1"]):
        code, out, err = await wsgate(capsys, *argv)
        assert (code, out) == (1, "")
        assert err.startswith(f"error: {admin} answered 404 Not Found: this admin listener ")
        assert "server.traceBufferSize above 0" in err


async def test_an_unknown_request_id_exits_3(basic_admin, capsys):
    code, out, err = await wsgate(capsys, "trace", admin_url(basic_admin), "AAAAAAAAAAAAAAA=")
    assert (code, out) == (3, "")
    assert err == "error: no trace of request 'AAAAAAAAAAAAAAA=' (unknown, or no longer kept)\n"


async def test_any_other_answer_is_an_error(not_a_gateway, capsys):
    for argv in (["trace", not_a_gateway, "X"], ["logs", not_a_gateway, "--count", "1"]):
        code, out, err = await wsgate(capsys, *argv)
        assert (code, out) == (1, "")
        assert "not a wsgate admin listener" in err
        assert "--admin-port PORT" in err
