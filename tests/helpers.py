"""Shared test helpers: a running gateway, event logs, deadlines instead of sleeps."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

import pytest

from wsgate.server.app import Gateway

T = TypeVar("T")

# One scaled time unit for every wait in the suite; CI machines may set it higher.
UNIT = float(os.environ.get("WSGATE_TEST_TIME_UNIT", "1.0"))


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = ..., interval: float = ...
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T], *, timeout: float = ..., interval: float = ...
) -> T: ...


async def eventually(
    probe: Callable[[], Any], *, timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll ``probe`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout * UNIT
    while True:
        value = probe()
        if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout * UNIT:.1f}s")
        await asyncio.sleep(interval)


@dataclass
class RunningGateway:
    """A gateway started by a test, with its URLs and the events its handlers recorded."""

    gateway: Gateway
    events_file: Path

    @property
    def port(self) -> int:
        return self.gateway.port

    def ws_url(self, stage: str = "dev", query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/{stage}" + (f"?{query}" if query else "")

    def endpoint(self, stage: str = "dev") -> str:
        return f"http://127.0.0.1:{self.port}/{stage}"

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        lines = self.events_file.read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        if event_type is None:
            return events
        return [e for e in events if e["requestContext"]["eventType"] == event_type]

    def events_for(self, connection_id: str, event_type: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events(event_type)
            if e["requestContext"]["connectionId"] == connection_id
        ]


def ws_client(url: str, **kwargs: Any) -> Any:
    """A real WebSocket client (the ``websockets`` library), without proxies or compression."""
    from websockets.asyncio.client import connect

    kwargs.setdefault("proxy", None)
    kwargs.setdefault("compression", None)
    return connect(url, **kwargs)


def management_client(endpoint: str) -> Any:
    """The unmodified boto3 client, pointed at the gateway like a Lambda handler would."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def missing_tool(reason: str) -> NoReturn:
    """Skip a test whose system tool is absent, or fail it where every tool must be there.

    ``scripts/test`` installs Redis, HAProxy and Chromium and sets WSGATE_REQUIRE_TOOLS, so in
    CI a missing tool is a failure, never a quietly skipped test.
    """
    if os.environ.get("WSGATE_REQUIRE_TOOLS"):
        pytest.fail(f"{reason} (required: WSGATE_REQUIRE_TOOLS is set)")
    pytest.skip(reason)
