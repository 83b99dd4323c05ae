"""Who may connect and how fast (§6, §9.2): authorizers, API keys, throttles, connection limits.

A real WebSocket client against a real gateway whose authorizer is a local function; outcomes are
counted, never timed: throttles use rates so low that no token comes back during a test.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from tests.helpers import RunningGateway, SignedHttp, admin_headers, eventually, ws_client
from wsgate.config.load import load_config, parse_config
from wsgate.observability.tracing import TraceFilter
from wsgate.server.app import Gateway

APP = Path(__file__).parent / "apps" / "access" / "wsgate.yaml"
KEY_TOKEN = "key-partner-key-0123456789abcdef"


@pytest.fixture
async def access(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningGateway]:
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("EVENTS_FILE", str(events))
    gateway = Gateway(load_config(APP))
    await gateway.start(port=0)
    try:
        yield RunningGateway(gateway, events)
    finally:
        await gateway.stop(timeout=5)


def authorizer_events(api: RunningGateway) -> list[dict[str, Any]]:
    return [event for event in api.events() if event.get("type") == "REQUEST"]


def proxy_events(api: RunningGateway, event_type: str) -> list[dict[str, Any]]:
    """The events of the route integrations (the authorizer's carry a CONNECT context too)."""
    return [
        event
        for event in api.events()
        if event.get("type") != "REQUEST" and event["requestContext"]["eventType"] == event_type
    ]


async def refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        async with ws_client(url):
            pass
    return caught.value.response.status_code


async def ask(ws, action: str) -> dict[str, Any]:
    await ws.send(json.dumps({"action": action}))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def test_an_allowed_connection_carries_the_authorizers_context(access):
    async with ws_client(access.ws_url(query="token=allow-alice")) as ws:
        assert await ask(ws, "echo") == {"action": "echo"}
    expected = {"principalId": "alice", "tenant": "acme", "level": "3", "admin": "false"}
    for event_type in ("CONNECT", "MESSAGE", "DISCONNECT"):

        def arrived(kind: str = event_type) -> list[dict[str, Any]]:
            return proxy_events(access, kind)

        (event,) = await eventually(arrived)
        assert event["requestContext"]["authorizer"] == expected
    (call,) = authorizer_events(access)
    assert call["methodArn"].endswith(f"{access.gateway.config.api_id}/dev/$connect")
    assert call["queryStringParameters"] == {"token": "allow-alice"}
    assert "authorizer" not in call["requestContext"]


@pytest.mark.parametrize(
    ("query", "status", "called", "why"),
    [
        ("", 401, False, "identity source is missing"),
        ("token=", 401, False, "identity source is missing"),
        ("token=unauthorized", 401, True, "raised Unauthorized"),
        ("token=deny-bob", 403, True, "explicitly denies"),
        ("token=boom", 500, True, "the authorizer failed"),
        ("token=nonsense", 500, True, "principalId is missing"),
    ],
)
async def test_refused_handshakes_never_reach_connect(access, query, status, called, why):
    assert await refused(access.ws_url(query=query)) == status
    assert bool(authorizer_events(access)) is called
    assert proxy_events(access, "CONNECT") == []
    store = access.gateway.traces
    assert store is not None
    (trace,) = store.query(TraceFilter(route="$connect"))
    assert trace["status"] == status
    assert why in trace["error"]


async def test_results_are_cached_per_identity(access):
    for _ in range(3):
        async with ws_client(access.ws_url(query="token=allow-carol")) as ws:
            await ask(ws, "echo")
    assert await refused(access.ws_url(query="token=deny-dave")) == 403
    assert await refused(access.ws_url(query="token=deny-dave")) == 403
    tokens = [event["queryStringParameters"]["token"] for event in authorizer_events(access)]
    assert tokens == ["allow-carol", "deny-dave"]
    assert len(await eventually(lambda: proxy_events(access, "CONNECT"))) == 3


async def test_route_and_connection_throttles_answer_429_and_keep_the_socket(access):
    async with ws_client(access.ws_url("throttled", "token=allow-erin")) as ws:
        limited = [await ask(ws, "limited") for _ in range(4)]
        # The route allows a burst of 3; the connection 5 messages in all (3 spent above).
        echoes = [await ask(ws, "echo") for _ in range(3)]
    outcomes = [reply.get("message", "ok") for reply in limited + echoes]
    assert outcomes == ["ok"] * 3 + ["Too Many Requests"] + ["ok"] * 2 + ["Too Many Requests"]
    store = access.gateway.traces
    assert store is not None
    throttled = store.query(TraceFilter(status=429))
    assert [entry["routeKey"] for entry in throttled] == ["limited", "echo"]
    assert "over its throttling limit" in throttled[0]["error"]


async def test_connection_cap_and_new_connection_rate(access):
    url = access.ws_url("crowded", "token=allow-fay")
    first = await ws_client(url).__aenter__()
    second = await ws_client(url).__aenter__()
    assert await refused(url) == 429  # two open already
    await first.close()

    async def third() -> bool:
        # The first one's seat is given back once its $disconnect has run, which may take a
        # while on a loaded machine; a refused seat spends no token of the burst.
        try:
            async with ws_client(url):  # the third new connection of the burst
                return True
        except InvalidStatus as refusal:
            if refusal.response.status_code != 429:
                raise
            return False

    await eventually(third, timeout=10, interval=0.1)
    await second.close()
    await eventually(lambda: not access.gateway.dataplane.live)
    assert await refused(url) == 429  # the burst of new connections is spent


async def test_api_keys_gate_routes_and_count_against_the_plan(access):
    async with ws_client(access.ws_url(query=f"token={KEY_TOKEN}")) as ws:
        # The plan's quota is 4 a day: the $connect took one.
        replies = [await ask(ws, "keyed") for _ in range(4)]
    assert [r.get("message", "ok") for r in replies] == ["ok"] * 3 + ["Too Many Requests"]
    async with ws_client(access.ws_url(query="token=allow-gus")) as ws:  # no key
        assert (await ask(ws, "keyed"))["message"] == "Forbidden"
        assert await ask(ws, "echo") == {"action": "echo"}  # the socket stays open
    async with ws_client(access.ws_url(query="token=key-retired-key-0123456789abcdef")) as ws:
        assert (await ask(ws, "keyed"))["message"] == "Forbidden"  # a disabled key


async def test_metrics_count_decisions_and_throttles(access):
    assert await refused(access.ws_url(query="token=deny-hal")) == 403
    assert await refused(access.ws_url(query="token=unauthorized")) == 401
    assert await refused(access.ws_url(query="")) == 401  # no identity: the authorizer never ran
    async with ws_client(access.ws_url("throttled", "token=allow-ida")) as ws:
        replies = [await ask(ws, "limited") for _ in range(4)]
    assert replies[-1]["message"] == "Too Many Requests"
    (admin,) = [each.port for each in access.gateway.listeners if each.role == "admin"]
    async with aiohttp.ClientSession(headers=admin_headers()) as http:
        async with http.get(f"http://127.0.0.1:{admin}/metrics") as reply:
            text = await reply.text()
    api = access.gateway.config.api_id
    samples = [
        sample for family in text_string_to_metric_families(text) for sample in family.samples
    ]

    def value(name: str, **labels: str) -> float:
        wanted = {"api_id": api, **labels}
        (found,) = [s.value for s in samples if s.name == name and s.labels == wanted]
        return float(found)

    decisions = "wsgate_authorizer_decisions_total"
    assert value(decisions, stage="dev", decision="deny") == 1
    assert value(decisions, stage="dev", decision="unauthorized") == 2
    assert value(decisions, stage="throttled", decision="allow") == 1
    assert value("wsgate_throttled_total", stage="throttled", route="limited") == 1
    assert value("wsgate_client_error_total", stage="dev", route="$connect") == 3


async def test_an_http_authorizer_and_authorizer_context_in_templates(tmp_path):
    received: list[dict[str, Any]] = []

    async def authorize(request: web.Request) -> web.Response:
        event = await request.json()
        token = event["headers"].get("Auth")
        if token == "bad":
            return web.Response(status=401)
        if token == "broken":
            return web.Response(status=500)
        if token == "garbage":
            return web.Response(text="not json")
        statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}
        return web.json_response(
            {
                "principalId": "user-7",
                "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                "context": {"tenant": "acme"},
            }
        )

    async def messages(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/authorize", authorize)
    app.router.add_post("/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    template = '{"who": "$context.authorizer.principalId", "tenant": "$context.authorizer.tenant"}'
    config = f"""
name: http-authorizer
routeSelectionExpression: $request.body.action
stages: {{dev: {{}}}}
routes:
  $connect: {{authorizationType: CUSTOM, authorizerId: remote}}
  send: {{target: send, routeResponseSelectionExpression: $default}}
authorizers:
  remote: {{authorizerUri: "{base}/authorize", identitySource: route.request.header.Auth}}
integrations:
  send:
    integrationType: HTTP
    integrationUri: {base}/messages
    templateSelectionExpression: \\$default
    requestTemplates: {{$default: '{template}'}}
"""
    gateway = Gateway(parse_config(config, base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        url = f"ws://127.0.0.1:{gateway.port}/dev"
        async with ws_client(url, additional_headers={"Auth": "good"}) as ws:
            assert await ask(ws, "send") == {"ok": True}
        assert received == [{"who": "user-7", "tenant": "acme"}]
        for token, status in (("bad", 401), ("broken", 500), ("garbage", 500)):
            with pytest.raises(InvalidStatus) as caught:
                async with ws_client(url, additional_headers={"Auth": token}):
                    pass
            assert caught.value.response.status_code == status
    finally:
        await gateway.stop(timeout=5)
        await runner.cleanup()


@pytest.fixture
async def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningGateway]:
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    gateway = Gateway(load_config(APP.parent / "keys.yaml"))
    await gateway.start(port=0)
    try:
        yield RunningGateway(gateway, tmp_path / "events.jsonl")
    finally:
        await gateway.stop(timeout=5)


async def test_header_api_keys_plans_and_principal_rates(keys, caplog):
    caplog.set_level(logging.INFO, logger="wsgate.server")
    url = keys.ws_url(query="token=allow-jo")
    assert await refused(url) == 403  # $connect requires a key
    headers = {"x-api-key": "free-key-0123456789abcdef"}
    assert (
        await refused(
            keys.ws_url(query="token=deny-jo"),
        )
        == 403
    )
    async with ws_client(url, additional_headers=headers) as ws:
        # The free plan allows a burst of 2 and the $connect took one.
        replies = [await ask(ws, "echo") for _ in range(2)]
    assert [r.get("message", "ok") for r in replies] == ["ok", "Too Many Requests"]
    gold = {"x-api-key": "gold-key-0123456789abcdef"}
    async with ws_client(keys.ws_url(query="token=allow-kim"), additional_headers=gold) as a:
        async with ws_client(keys.ws_url(query="token=allow-kim"), additional_headers=gold) as b:
            # kim may send 2 messages across all of kim's connections.
            replies = [await ask(a, "other"), await ask(b, "other"), await ask(a, "other")]
        assert [r.get("message", "ok") for r in replies] == ["ok", "ok", "Too Many Requests"]
    # The stage default gives each route its own bucket of 6; kim's three took three of them.
    outcomes = []
    for user in ("lee", "mo"):
        async with ws_client(
            keys.ws_url(query=f"token=allow-{user}"), additional_headers=gold
        ) as ws:
            outcomes += [(await ask(ws, "other")).get("message", "ok") for _ in range(2)]
    assert outcomes == ["ok", "ok", "ok", "Too Many Requests"]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals == [
        "connection refused: route '$connect' requires a valid API key",
        "connection refused: the policy explicitly denies "
        f"arn:aws:execute-api:us-east-1:000000000000:{keys.gateway.config.api_id}/dev/$connect",
        "message refused: API key 'free' is over its usage plan's rate",
        "message refused: principal 'kim' sends faster than the stage allows",
        "message refused: route 'other' is over its throttling limit",
    ]


async def test_connections_join_the_group_their_authorizer_names(access):
    async with ws_client(access.ws_url(query="token=allow-nia")) as ws:
        (connection_id,) = await eventually(lambda: list(access.gateway.dataplane.live))
        async with aiohttp.ClientSession() as session:
            http = SignedHttp(session)
            url = f"{access.endpoint()}/@groups/acme"
            async with http.get(url) as reply:
                items = (await reply.json())["items"]
            assert [item["connectionId"] for item in items] == [connection_id]
            assert items[0]["principal"] == "nia"
            async with http.post(url, data=b"to acme") as reply:
                assert (await reply.json())["delivered"] == 1
        assert await ws.recv() == "to acme"


async def test_concurrent_handshakes_cannot_pass_the_connection_cap(tmp_path: Path) -> None:
    # Twenty handshakes at once while $connect waits: once all twenty were accepted with a cap
    # of five, as connections were counted only once open.
    arrived = 0
    release = asyncio.Event()

    async def connect(request: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        await release.wait()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/connect", connect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = f"""
name: capped
routeSelectionExpression: $request.body.action
stages:
  dev:
    protection: {{maxConnections: 5}}
routes:
  $connect: {{target: connect}}
integrations:
  connect: {{integrationType: HTTP_PROXY, integrationUri: "http://127.0.0.1:{port}/connect"}}
"""
    gateway = Gateway(parse_config(config, base_dir=tmp_path))
    await gateway.start(port=0)
    url = f"ws://127.0.0.1:{gateway.port}/dev"

    async def attempt() -> int:
        try:
            async with ws_client(url, open_timeout=20) as ws:
                await ws.send("{}")
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    try:
        tries = [asyncio.ensure_future(attempt()) for _ in range(20)]
        # The five admitted reach $connect; the fifteen others are refused without it.
        await eventually(lambda: arrived == 5 and sum(t.done() for t in tries) == 15)
        release.set()
        results = await asyncio.gather(*tries)
    finally:
        release.set()
        await gateway.stop(timeout=5)
        await runner.cleanup()
    assert sorted(results) == [101] * 5 + [429] * 15
    assert arrived == 5


async def _blocking_backend() -> tuple[web.AppRunner, int, dict[str, int], asyncio.Event]:
    """An HTTP backend whose answers wait for ``release``; ``seen`` counts calls at once."""
    seen = {"now": 0, "most": 0, "total": 0}
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        seen["now"] += 1
        seen["total"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        await release.wait()
        seen["now"] -= 1
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/echo", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1], seen, release


def _in_flight_config(port: int, per_connection: int, per_node: int) -> str:
    return f"""
name: inflight
routeSelectionExpression: $request.body.action
stages:
  dev:
    limits: {{maxMessagesInFlight: {per_connection}}}
routes:
  $default: {{target: echo, routeResponseSelectionExpression: $default}}
integrations:
  echo: {{integrationType: HTTP_PROXY, integrationUri: "http://127.0.0.1:{port}/echo"}}
server: {{maxMessagesInFlight: {per_node}}}
"""


async def test_a_connection_waits_at_its_messages_in_flight(tmp_path: Path) -> None:
    # Once a client could pile up any number of messages for a slow integration (130 MB for
    # 60k messages/s); now its socket is not read past the stage's maxMessagesInFlight.
    runner, port, seen, release = await _blocking_backend()
    gateway = Gateway(parse_config(_in_flight_config(port, 3, 1000), base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            for number in range(50):
                await ws.send(json.dumps({"n": number}))
            await eventually(lambda: seen["now"] == 3)
            await asyncio.sleep(0.1)  # more would have arrived by now, were they let through
            assert seen["total"] == 3
            (conn,) = gateway.dataplane.live.values()
            assert conn.in_flight == 3
            release.set()
            replies = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(50)]
        # Nothing lost: every message was answered, none ever more than three at once.
        assert sorted(reply["n"] for reply in replies) == list(range(50))
        assert seen["most"] == 3
    finally:
        release.set()
        await gateway.stop(timeout=5)
        await runner.cleanup()


async def test_a_node_refuses_messages_past_its_messages_in_flight(tmp_path: Path) -> None:
    runner, port, seen, release = await _blocking_backend()
    gateway = Gateway(parse_config(_in_flight_config(port, 100, 4), base_dir=tmp_path))
    await gateway.start(port=0)
    url = f"ws://127.0.0.1:{gateway.port}/dev"
    try:
        async with ws_client(url) as busy, ws_client(url) as other:
            for number in range(4):
                await busy.send(json.dumps({"n": number}))
            await eventually(lambda: seen["now"] == 4)
            await other.send(json.dumps({"n": "late"}))
            refused = json.loads(await asyncio.wait_for(other.recv(), 10))
            assert refused["message"] == "Too Many Requests"
            release.set()
            assert len([await asyncio.wait_for(busy.recv(), 10) for _ in range(4)]) == 4
            assert gateway.dataplane.in_flight == 0
            await other.send(json.dumps({"n": "again"}))
            assert json.loads(await asyncio.wait_for(other.recv(), 10)) == {"n": "again"}
    finally:
        release.set()
        await gateway.stop(timeout=5)
        await runner.cleanup()


async def test_a_connection_held_back_still_closes_at_once(tmp_path: Path) -> None:
    runner, port, seen, release = await _blocking_backend()
    gateway = Gateway(parse_config(_in_flight_config(port, 2, 1000), base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        async with ws_client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            for number in range(10):
                await ws.send(json.dumps({"n": number}))
            await eventually(lambda: seen["now"] == 2)
            (connection_id,) = gateway.dataplane.live
            gateway.dataplane.delete("dev", connection_id)
            # The close does not wait for the messages in flight.
            await asyncio.wait_for(ws.wait_closed(), 2)
            assert ws.close_code == 1000
    finally:
        release.set()
        await gateway.stop(timeout=5)
        await runner.cleanup()
