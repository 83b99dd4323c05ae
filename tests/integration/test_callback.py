"""Local functions call the gateway back at the addresses AWS gives them: the API's
execute-api name (hard-coded, or from the environment a template builds), ``https://{domainName}``
from the event, and the SDK's default endpoint, from Python workers and Node.js functions."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import UNIT, missing_tool, ws_client
from wsgate.config.load import parse_config
from wsgate.server.app import Gateway

APPS = Path(__file__).parent / "apps" / "callback"
NODE = Path(__file__).parent / "functions" / "node" / "callback"
API_ID = "cb1234abcd"
OURS = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
OTHER = "zz9876wxyz.execute-api.us-east-1.amazonaws.com"  # not an API of this gateway

_PYTHON = {
    "pyhard": "handlers.post_hardcoded",
    "pyevent": "handlers.post_from_event",
    "pydefault": "handlers.post_default",
    "pyresolve": "handlers.resolve",
}
_NODE = {
    "nodehard": "app.hardcoded",
    "nodeevent": "app.fromEvent",
    "nodedefault": "app.byDefault",
    "noderesolve": "app.resolve",
}


def _config(node: bool) -> str:
    functions = {name: (handler, "python3.11", APPS) for name, handler in _PYTHON.items()}
    if node:
        functions |= {name: (handler, "nodejs20.x", NODE) for name, handler in _NODE.items()}
    lines = [
        "name: callback",
        f"apiId: {API_ID}",
        "routeSelectionExpression: $request.body.action",
        "stages: {dev: {}}",
        "routes:",
        *(f"  {n}: {{target: {n}, routeResponseSelectionExpression: $default}}" for n in functions),
        "integrations:",
        *(f"  {n}: {{integrationType: AWS_PROXY, integrationUri: {n}}}" for n in functions),
        "functions:",
    ]
    for name, (handler, runtime, code) in functions.items():
        lines += [
            f"  {name}:",
            f"    handler: {handler}",
            f"    runtime: {runtime}",
            f"    codeUri: {code}",
            "    timeout: 20",
            f"    environment: {{CALLBACK_URL: 'https://{OURS}/dev'}}",
        ]
    return "\n".join(lines) + "\n"


async def _started(node: bool) -> Gateway:
    gateway = Gateway(parse_config(_config(node), base_dir=APPS))
    await gateway.start(port=0)
    return gateway


@pytest.fixture
async def python_gateway() -> AsyncIterator[Gateway]:
    gateway = await _started(node=False)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


@pytest.fixture
async def node_gateway() -> AsyncIterator[Gateway]:
    if shutil.which("node") is None:
        missing_tool("node is not installed (apt install nodejs npm)")
    gateway = await _started(node=True)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


def _listener_port(gateway: Gateway) -> int:
    assert gateway.functions_listener is not None
    return gateway.functions_listener.port


async def _ask(gateway: Gateway, message: dict[str, object]) -> str:
    async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as client:
        await client.send(json.dumps(message))
        reply = await asyncio.wait_for(client.recv(), 20 * UNIT)
        assert isinstance(reply, str)
        return reply


@pytest.mark.parametrize(
    ("action", "reply"),
    [
        ("pyhard", "python: hard-coded"),
        ("pyevent", "python: from the event"),
        ("pydefault", "python: default endpoint"),
    ],
)
async def test_python_workers_reach_the_gateway_as_on_aws(
    python_gateway: Gateway, action: str, reply: str
) -> None:
    assert await _ask(python_gateway, {"action": action}) == reply


async def test_python_workers_send_only_the_gateways_names_to_it(python_gateway: Gateway) -> None:
    answers = json.loads(
        await _ask(python_gateway, {"action": "pyresolve", "names": [OURS, OTHER]})
    )
    assert answers[OURS] == ["127.0.0.1", _listener_port(python_gateway)]
    # Another API's name resolves as it always does: through DNS, or not at all offline.
    assert answers[OTHER] != ["127.0.0.1", _listener_port(python_gateway)]
    assert isinstance(answers[OTHER], str) or answers[OTHER][1] == 443


@pytest.mark.timeout(600)  # the first run on a machine installs the SDK from npm
@pytest.mark.parametrize(
    ("action", "reply"),
    [
        ("nodehard", "node: hard-coded"),
        ("nodeevent", "node: from the event"),
        ("nodedefault", "node: default endpoint"),
    ],
)
async def test_node_functions_reach_the_gateway_as_on_aws(
    node_gateway: Gateway, action: str, reply: str
) -> None:
    assert await _ask(node_gateway, {"action": action}) == reply


@pytest.mark.timeout(600)  # as above
async def test_node_functions_send_only_the_gateways_names_to_it(node_gateway: Gateway) -> None:
    answers = json.loads(
        await _ask(node_gateway, {"action": "noderesolve", "names": [OURS, OTHER]})
    )
    assert answers[OURS] == ["127.0.0.1", _listener_port(node_gateway)]
    assert answers[OTHER] != ["127.0.0.1", _listener_port(node_gateway)]
    assert isinstance(answers[OTHER], str) or answers[OTHER][1] == 443


async def test_the_functions_listener_is_loopback_only_and_not_advertised(
    python_gateway: Gateway,
) -> None:
    assert python_gateway.functions_listener is not None
    assert python_gateway.functions_listener.host == "127.0.0.1"
    assert [listener.role for listener in python_gateway.listeners] == ["public"]
    assert all(
        str(_listener_port(python_gateway)) not in url for url in python_gateway.urls().values()
    )


async def test_the_functions_listener_drops_silent_clients_and_bad_handshakes() -> None:
    text = _config(node=False) + "server: {listener: {handshakeTimeoutSeconds: 0.3}}\n"
    gateway = Gateway(parse_config(text, base_dir=APPS))
    await gateway.start(port=0)
    try:
        port = _listener_port(gateway)
        for first in (b"", b"\x16\x03\x01\x00\x05hello"):  # nothing; not a ClientHello
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(first)
            assert await asyncio.wait_for(reader.read(), 5 * UNIT) == b""
            writer.close()
    finally:
        await gateway.stop(timeout=5)
