"""The named tuples built with ``wsgate.types.new_tuple`` on hot paths equal what their own
constructors build, field for field: a field added to one of the classes fails here rather
than shifting the values of the others."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NamedTuple

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.outcomes import Outcome, Phase, Result, decide, replied
from wsgate.core.routing import RouteMatch, SelectionOutcome, compile_expression, select_route
from wsgate.integrations.base import (
    Call,
    IntegrationRequest,
    IntegrationResult,
    answered,
    message_call,
    request_for,
)
from wsgate.registry.base import ConnectionRecord
from wsgate.registry.memory import MemoryRegistry
from wsgate.server.handshake import connection_facts, read_handshake
from wsgate.server.registration import Registration

FACTS = ConnectionFacts("AAAAAAAAAAAAAAA=", 1, "192.0.2.1", "ua", "api", "dev", "example.com")


def _same(built: NamedTuple, expected: NamedTuple) -> None:
    assert type(built) is type(expected)
    assert len(built) == len(type(expected)._fields)
    assert built == expected


def test_message_call() -> None:
    trace: list[dict[str, Any]] = []
    built = message_call(FACTS, "echo", "req", 5, 29000, True, "hi", "msg", trace, (("a", "b"),))
    expected = Call(
        FACTS,
        "echo",
        "req",
        5,
        29000,
        reply_wanted=True,
        body="hi",
        message_id="msg",
        trace=trace,
        propagate=(("a", "b"),),
    )
    _same(built, expected)


def test_request_and_result() -> None:
    _same(request_for({"body": "x"}, 100), IntegrationRequest({"body": "x"}, None, 100))
    _same(answered({"statusCode": 200}), IntegrationResult({"statusCode": 200}))


def test_route_match_and_reply() -> None:
    built = select_route(
        compile_expression("$request.body.action"), {"echo": 1}, '{"action":"echo"}'
    )
    _same(built, RouteMatch("echo", SelectionOutcome.MATCHED, "echo"))
    _same(replied("hi"), decide(Phase.MESSAGE, Result.ANSWERED, reply="hi"))
    assert isinstance(replied(None), Outcome)


def test_facts_and_handshake() -> None:
    headers = CIMultiDict({"Host": "example.com", "User-Agent": "ua/1"})
    request = make_mocked_request("GET", "/dev?x=1", headers=headers)
    stage = SimpleNamespace(name="dev", config=SimpleNamespace(stage_variables={"v": "1"}))
    facts = connection_facts(request, stage, 7, "api", None)  # type: ignore[arg-type]
    expected = ConnectionFacts(
        connection_id=facts.connection_id,
        connected_at=7,
        source_ip=facts.source_ip,
        user_agent="ua/1",
        api_id="api",
        stage="dev",
        domain_name="example.com",
        stage_variables={"v": "1"},
    )
    _same(facts, expected)
    handshake = read_handshake(request)
    _same(
        handshake,
        Handshake(
            headers=[("Host", "example.com"), ("User-Agent", "ua/1")],
            query=[("x", "1")],
            trace_id=handshake.trace_id,
            forwarded_port=handshake.forwarded_port,
            forwarded_proto=handshake.forwarded_proto,
        ),
    )


def test_registry_record() -> None:
    registration = Registration(MemoryRegistry(), "node-a")
    conn = SimpleNamespace(
        facts=FACTS._replace(authorizer={"principalId": "p", "n": 1, "none": None}),
        stage=SimpleNamespace(name="dev"),
        principal="p",
        session=SimpleNamespace(last_active_at_ms=9),
        groups=frozenset({"g"}),
    )
    built = registration.record(conn)  # type: ignore[arg-type]
    expected = ConnectionRecord(
        connection_id=FACTS.connection_id,
        stage="dev",
        node_id="node-a",
        connected_at_ms=1,
        source_ip="192.0.2.1",
        user_agent="ua",
        principal="p",
        authorizer={"principalId": "p", "n": "1", "none": None},
        last_active_at_ms=9,
        groups=frozenset({"g"}),
        incarnation=registration.incarnation,
    )
    _same(built, expected)
