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

from wsgate.security.local import LocalSecrets, load_local_secrets
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
    """The unmodified boto3 client, pointed at the gateway like a Lambda handler would: signed
    with the local access key that the gateway hands its functions."""
    import boto3
    from botocore.config import Config

    key = local_secrets()
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def local_secrets() -> LocalSecrets:
    """The local access key and admin token of the test session (see conftest's wsgate_home)."""
    secrets = load_local_secrets()
    assert secrets is not None
    return secrets


def admin_headers() -> dict[str, str]:
    """What the admin listener asks of a caller: its token."""
    return {"Authorization": f"Bearer {local_secrets().admin_token}"}


def signed_headers(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> dict[str, str]:
    """SigV4 headers for a raw ``@connections`` request, signed with the local key, as boto3
    would sign it (service execute-api, region us-east-1)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key = local_secrets()
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def missing_tool(reason: str) -> NoReturn:
    """Skip a test whose system tool is absent, or fail it where every tool must be there.

    ``scripts/test`` installs Redis, HAProxy and Chromium and sets WSGATE_REQUIRE_TOOLS, so in
    CI a missing tool is a failure, never a quietly skipped test.
    """
    if os.environ.get("WSGATE_REQUIRE_TOOLS"):
        pytest.fail(f"{reason} (required: WSGATE_REQUIRE_TOOLS is set)")
    pytest.skip(reason)


class SignedHttp:
    """An aiohttp session whose requests are SigV4-signed with the local key, as boto3 signs
    them; the URL goes out exactly as written (``%3D`` stays ``%3D``)."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | str = b"",
        json: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        import json as json_module

        from yarl import URL

        body = data.encode() if isinstance(data, str) else data
        headers = dict(headers or {})
        if json is not None:
            body = json_module.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        signed = signed_headers(method, url, body, headers)
        target = URL(url, encoded=True)
        return self._session.request(method, target, data=body, headers=signed, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)
