"""Fixtures: gateways started on 127.0.0.1 port 0 from the config files under tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import RunningGateway
from wsgate.config.load import load_config
from wsgate.server.app import Gateway

APPS = Path(__file__).parent / "integration" / "apps"


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
