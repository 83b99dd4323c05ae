"""The trace store: explanations, filters, bounds, sampling and followers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wsgate.observability.hooks import ConnectionEvent, RequestRecord
from wsgate.observability.tracing import TraceFilter, TraceStore, explain, parse_filter


def record(**changes: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": "r1",
        "connection_id": "c1",
        "event_type": "MESSAGE",
        "route_key": "echo",
        "stage": "dev",
        "api_id": "api",
        "domain_name": "host",
        "source_ip": "127.0.0.1",
        "user_agent": None,
        "connected_at_ms": 1000,
        "request_time_ms": 2000,
        "status": 200,
        "latency_ms": 1.5,
        "integration": "echo",
        "selection": "echo",
        "outcome": "matched",
        "reply_sent": True,
    }
    fields.update(changes)
    return RequestRecord(**fields)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({}, "the key of route 'echo'"),
        ({"reply_sent": False}, "no reply was sent"),
        ({"outcome": "not_json", "route_key": "$default"}, "not a JSON object"),
        ({"outcome": "no_match", "selection": "x", "route_key": "$default"}, "no route has"),
        ({"outcome": "no_route", "selection": None, "route_key": None}, "no $default route"),
        ({"error": "boom", "status": 500}, "then it failed: boom"),
        ({"event_type": "CONNECT", "outcome": None, "route_key": "$connect"}, "CONNECT on"),
    ],
)
def test_explain(changes: dict[str, Any], words: str) -> None:
    assert words in explain(record(**changes))


def test_store_queries_and_bounds() -> None:
    store = TraceStore(capacity=3)
    for n in range(4):
        store.on_request(record(request_id=f"r{n}", status=200 + n, request_time_ms=n))
    assert store.find("r0") is None  # evicted
    assert [e["requestId"] for e in store.query(TraceFilter())] == ["r1", "r2", "r3"]
    assert [e["requestId"] for e in store.query(TraceFilter(status=202))] == ["r2"]
    assert [e["requestId"] for e in store.query(TraceFilter(since_ms=3))] == ["r3"]
    assert store.query(TraceFilter(text="R3"))[0]["requestId"] == "r3"
    assert store.query(TraceFilter(connection_id="other")) == []
    assert store.query(TraceFilter(route="other")) == []
    assert [e["requestId"] for e in store.query(TraceFilter(), limit=1)] == ["r3"]


def test_sampling_keeps_errors() -> None:
    store = TraceStore(sample_rate=0.5, chance=lambda: 0.9)
    store.on_request(record(request_id="ok"))
    store.on_request(record(request_id="bad", error="x", status=500))
    assert store.find("ok") is None
    assert store.find("bad") is not None


def test_connections_are_kept() -> None:
    store = TraceStore()
    store.on_connection(ConnectionEvent("c1", "dev", "api", "127.0.0.1", 5, True))
    store.on_connection(ConnectionEvent("c1", "dev", "api", "127.0.0.1", 6, False, 1000, "bye"))
    messages = [e["message"] for e in store.query(TraceFilter(connection_id="c1"))]
    assert messages == ["connection open", "connection closed"]


async def test_followers_get_matching_entries_and_lose_the_oldest_when_slow() -> None:
    store = TraceStore()
    queue = store.follow(TraceFilter(route="echo"))
    store.on_request(record(route_key="other"))
    store.on_request(record(request_id="a"))
    assert (await asyncio.wait_for(queue.get(), 1))["requestId"] == "a"
    for n in range(1005):
        store.on_request(record(request_id=f"x{n}"))
    assert queue.qsize() == 1000
    assert queue.get_nowait()["requestId"] == "x5"
    store.unfollow(queue)
    store.on_request(record(request_id="late"))
    assert queue.qsize() == 999


def test_parse_filter() -> None:
    where = parse_filter([("status", "403"), ("since", "5"), ("route", "r"), ("text", "X")])
    assert (where.status, where.since_ms, where.route, where.text) == (403, 5, "r", "x")
    with pytest.raises(ValueError):
        parse_filter([("status", "abc")])
