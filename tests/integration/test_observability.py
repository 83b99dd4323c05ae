"""Access logs and metrics after a scripted scenario through a real gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import APPS
from tests.helpers import admin_headers, eventually, ws_client as client
from wsgate.config.load import load_config
from wsgate.config.model import AccessLogSettings
from wsgate.errors import ConfigError
from wsgate.server.app import Gateway

ACCESS_FORMAT = (
    '{"requestId":"$context.requestId","routeKey":"$context.routeKey",'
    '"eventType":"$context.eventType","status":$context.status,'
    '"connectionId":"$context.connectionId","requestTime":"$context.requestTime",'
    '"error":"$context.error.message"}'
)


@pytest.fixture
async def observed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    config = load_config(APPS / "basic" / "wsgate.yaml")
    settings = AccessLogSettings(format=ACCESS_FORMAT, destination=str(tmp_path / "access.log"))
    stage = config.stages["dev"].model_copy(update={"access_log_settings": settings})
    server = config.server.model_copy(update={"admin_port": 0, "metrics": True})
    config = config.model_copy(update={"server": server, "stages": {**config.stages, "dev": stage}})
    gateway = Gateway(config)
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_access_log_and_metrics_after_a_scenario(observed: Gateway, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{observed.port}/dev"
    async with client(url) as ws:
        await ws.send(json.dumps({"action": "echo"}))
        await asyncio.wait_for(ws.recv(), 10)
        await ws.send(json.dumps({"action": "fail"}))
        await asyncio.wait_for(ws.recv(), 10)
    await eventually(lambda: not observed.dataplane.live)
    await asyncio.sleep(0)
    admin = next(x.port for x in observed.listeners if x.role == "admin")
    async with aiohttp.ClientSession(headers=admin_headers()) as http:
        async with http.get(f"http://127.0.0.1:{admin}/metrics") as reply:
            assert reply.status == 200
            text = await reply.text()
    samples = _samples(text)

    def value(name: str, **labels: str) -> float:
        matches = [
            v
            for (n, ls), v in samples.items()
            if n == name and all((k, w) in ls for k, w in labels.items())
        ]
        return sum(matches)

    api = observed.config.api_id or ""
    assert value("wsgate_connect_count_total", api_id=api, stage="dev") == 1
    assert value("wsgate_message_count_total", api_id=api, stage="dev", route="echo") == 1
    assert value("wsgate_integration_error_total", api_id=api, stage="dev", route="fail") == 1
    assert value("wsgate_connections", api_id=api, stage="dev") == 0
    # Both messages in; the echo's reply and the failure's error frame out.
    assert value("wsgate_messages_received_total") == 2
    assert value("wsgate_messages_sent_total") == 2
    assert value("wsgate_messages_received_length_total") == len('{"action": "echo"}') + len(
        '{"action": "fail"}'
    )
    assert value("wsgate_messages_sent_length_total") > 0

    await observed.stop(timeout=5)  # flushes the access log
    lines = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    routes = [line["routeKey"] for line in lines]
    assert routes == ["$connect", "echo", "fail", "$disconnect"]
    assert [line["status"] for line in lines] == [200, 200, 500, 200]
    assert lines[2]["error"] == "Internal server error"
    assert len({line["connectionId"] for line in lines}) == 1


def test_validate_reports_access_log_and_metrics_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wsgate.cli import main

    path = tmp_path / "wsgate.yaml"
    path.write_text(
        "name: x\nrouteSelectionExpression: $request.body.action\n"
        "stages:\n  dev:\n    accessLogSettings: {format: '$context.routeKey'}\n"
        "server: {metrics: true}\n"
    )
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "stages.dev.accessLogSettings.format:" in err
    assert "requestId" in err
    assert "server.metrics: metrics are served on the admin listener: set adminPort" in err


@pytest.mark.parametrize(
    ("destination", "reason"),
    [("missing/folder/access.log", "No such file or directory"), ("a\0b", "embedded null byte")],
)
def test_an_access_log_that_cannot_be_opened_is_a_config_error(
    tmp_path: Path, destination: str, reason: str
) -> None:
    config = load_config(APPS / "basic" / "wsgate.yaml")
    settings = AccessLogSettings(format=ACCESS_FORMAT, destination=str(tmp_path / destination))
    stage = config.stages["dev"].model_copy(update={"access_log_settings": settings})
    config = config.model_copy(update={"stages": {**config.stages, "dev": stage}})
    with pytest.raises(
        ConfigError, match=r"stages\.dev\.accessLogSettings\.destination: cannot open"
    ):
        Gateway(config)
    with pytest.raises(ConfigError, match=reason):
        Gateway(config)
