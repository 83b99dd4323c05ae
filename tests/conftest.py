"""Fixtures: gateways started on 127.0.0.1 port 0 from the config files under tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.helpers import RunningGateway, missing_tool
from tests.redis_server import RedisServer, find_redis_server
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

APPS = Path(__file__).parent / "integration" / "apps"
_ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session", autouse=True)
def wsgate_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The local access key and admin token live here for the session, never in ~/.wsgate.

    Set in the environment, so gateways started in subprocesses share them with the tests.
    """
    home = tmp_path_factory.mktemp("wsgate-home")
    previous = os.environ.get("WSGATE_HOME")
    # The Node.js SDK cache outlives sessions (scripts/test fills it before the tests run).
    os.environ.setdefault("WSGATE_NODE_SDK_DIR", str(_ROOT / ".venv" / "node-sdk"))
    os.environ["WSGATE_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("WSGATE_HOME", None)
        else:
            os.environ["WSGATE_HOME"] = previous


@pytest.fixture
async def basic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningGateway]:
    """The basic test API (tests/integration/apps/basic) on a free port."""
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("EVENTS_FILE", str(events))
    config = load_config(APPS / "basic" / "wsgate.yaml")
    gateway = Gateway(config)
    await gateway.start(port=0)
    try:
        yield RunningGateway(gateway, events)
    finally:
        await gateway.stop(timeout=5)


# -- Redis -------------------------------------------------------------------------------------


@pytest.fixture
async def basic_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """The basic test API with an admin listener (traces, dashboard), on free ports."""
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    config = load_config(APPS / "basic" / "wsgate.yaml")
    server = config.server.model_copy(update={"admin_port": 0})
    gateway = Gateway(config.model_copy(update={"server": server}))
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


@pytest.fixture(scope="session")
def redis_server_process() -> Iterator[RedisServer]:
    """One redis-server for the whole session, on a Unix socket in a temp dir (no TCP port)."""
    binary = find_redis_server()
    if binary is None:
        missing_tool("redis-server is not installed (apt install redis-server)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def redis_server(redis_server_process: RedisServer) -> Iterator[RedisServer]:
    """The session's redis-server, running and empty; a test may stop and start it."""
    redis_server_process.start()
    redis_server_process.flush()
    yield redis_server_process
    redis_server_process.start()  # for the next test, if this one stopped it


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's redis-server (unix://...), running and empty."""
    return redis_server.url
