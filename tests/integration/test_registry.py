"""The registry contract, run once per backend (memory, redis), plus what only Redis can do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from tests.helpers import UNIT, eventually
from tests.redis_server import RedisServer
from wsgate.errors import NodeUnreachable, RegistryError, RegistryUnavailable
from wsgate.registry import registry_from_url
from wsgate.registry.base import (
    ConnectionQuery,
    ConnectionRecord,
    ConnectionRegistry,
    Heartbeat,
)
from wsgate.registry.memory import MemoryRegistry
from wsgate.registry.redis import RedisRegistry

PREFIX = "test:api1:"
TTL = 0.3  # short node heartbeats and claims, waited for with a deadline


def record(connection_id: str, **changes) -> ConnectionRecord:
    base = ConnectionRecord(
        connection_id=connection_id,
        stage="dev",
        node_id="node-a",
        connected_at_ms=1_700_000_000_000,
        source_ip="192.0.2.1",
        user_agent="pytest",
    )
    return base._replace(**changes)


@pytest.fixture(params=["memory", "redis"])
def registry_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def registry(registry_url: str) -> AsyncIterator[ConnectionRegistry]:
    registry = registry_from_url(registry_url, prefix=PREFIX)
    try:
        yield registry
    finally:
        await registry.close()


async def expired(registry: ConnectionRegistry, node_id: str) -> None:
    """Wait (with a deadline) until a node's heartbeat has expired."""

    async def not_alive():
        return not any(n.alive for n in await registry.nodes() if n.node_id == node_id)

    await eventually(not_alive, timeout=3)


async def unreachable_after(call: Awaitable[bytes]) -> float:
    """Seconds until ``call`` raised NodeUnreachable."""
    start = time.monotonic()
    with pytest.raises(NodeUnreachable):
        await call
    return time.monotonic() - start


# -- connections -------------------------------------------------------------------------------


async def test_add_get_remove(registry):
    full = record(
        "c1",
        principal="user-1",
        authorizer={"principalId": "user-1", "role": "admin", "empty": None},
        last_active_at_ms=1_700_000_000_500,
        groups=frozenset({"g1", "g2"}),
        user_agent=None,
    )
    await registry.add(full)
    assert await registry.get("c1") == full
    assert await registry.get("nope") is None
    assert await registry.remove("c1") == full
    assert await registry.get("c1") is None
    assert await registry.remove("c1") is None
    assert await registry.members("dev", "g1") == {}


async def test_exactly_one_of_concurrent_removes_gets_the_record(registry):
    await registry.add(record("c1", groups=frozenset({"g"})))
    results = await asyncio.gather(*(registry.remove("c1") for _ in range(20)))
    assert [r.connection_id for r in results if r is not None] == ["c1"]


async def test_add_again_replaces_the_record_and_its_memberships(registry):
    await registry.add(record("c1", groups=frozenset({"a", "b"}), principal="p1"))
    again = record("c1", groups=frozenset({"b"}), principal=None, connected_at_ms=5)
    await registry.add(again)
    assert await registry.get("c1") == again
    assert await registry.members("dev", "a") == {}
    assert await registry.members("dev", "b") == {"c1": "node-a"}
    assert (await registry.list(ConnectionQuery("dev", principal="p1"))).records == ()
    assert await registry.count("dev") == 1


async def test_count_per_stage(registry):
    for i in range(3):
        await registry.add(record(f"d{i}"))
    for i in range(2):
        await registry.add(record(f"p{i}", stage="prod", node_id="node-b"))
    assert await registry.count("dev") == 3
    assert await registry.count("prod") == 2
    assert await registry.count("other") == 0
    assert await registry.count() == 5
    await registry.remove("d0")
    assert await registry.count("dev") == 2
    assert await registry.count() == 4


async def test_touch_updates_last_active_and_never_resurrects(registry):
    await registry.add(record("c1"))
    await registry.add(record("c2"))
    await registry.touch({"c1": 111, "c2": 222, "gone": 333})
    assert (await registry.get("c1")).last_active_at_ms == 111
    assert (await registry.get("c2")).last_active_at_ms == 222
    assert await registry.get("gone") is None
    await registry.remove("c1")
    await registry.touch({"c1": 444})
    await registry.touch({})
    assert await registry.get("c1") is None
    assert await registry.count() == 1
    assert [r.connection_id for r in (await registry.list(ConnectionQuery("dev"))).records] == [
        "c2"
    ]


async def test_touch_many_at_once(registry):
    for i in range(1200):
        await registry.add(record(f"c{i:04}"))
    await registry.touch({f"c{i:04}": i for i in range(1200)})
    assert (await registry.get("c1199")).last_active_at_ms == 1199


# -- listing -----------------------------------------------------------------------------------


async def all_pages(registry, query: ConnectionQuery) -> list[list[str]]:
    pages = []
    while True:
        page = await registry.list(query)
        pages.append([r.connection_id for r in page.records])
        if page.next_cursor is None:
            return pages
        query = replace(query, cursor=page.next_cursor)


async def add_many(registry, count: int, **changes) -> list[ConnectionRecord]:
    """Records with clashing connect times (three per millisecond), added in random order."""
    records = [record(f"id{i:02}", connected_at_ms=1000 + i // 3, **changes) for i in range(count)]
    for each in random.Random(7).sample(records, len(records)):
        await registry.add(each)
    return records


async def test_list_pages_oldest_first(registry):
    records = await add_many(registry, 25)
    await registry.add(record("other-stage", stage="prod"))
    pages = await all_pages(registry, ConnectionQuery("dev", limit=7))
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    expected = [
        r.connection_id for r in sorted(records, key=lambda r: (r.connected_at_ms, r.connection_id))
    ]
    assert [cid for page in pages for cid in page] == expected
    first = await registry.list(ConnectionQuery("dev", limit=7))
    assert first.records[0] == records[0]


async def test_list_exact_pages_end_without_an_empty_page(registry):
    await add_many(registry, 6)
    assert [len(page) for page in await all_pages(registry, ConnectionQuery("dev", limit=3))] == [
        3,
        3,
    ]
    assert await all_pages(registry, ConnectionQuery("empty")) == [[]]


async def test_list_cursor_survives_changes(registry):
    records = await add_many(registry, 12)
    ids = [r.connection_id for r in records]
    first = await registry.list(ConnectionQuery("dev", limit=5))
    assert [r.connection_id for r in first.records] == ids[:5]
    # The cursor's own record and one before it go; a newer record arrives.
    await registry.remove(ids[4])
    await registry.remove(ids[1])
    await registry.add(record("newest", connected_at_ms=9999))
    rest = await all_pages(registry, ConnectionQuery("dev", limit=5, cursor=first.next_cursor))
    assert [cid for page in rest for cid in page] == [*ids[5:], "newest"]


async def test_list_filters(registry):
    records = await add_many(registry, 30)
    for each in records[::2]:
        await registry.add(each._replace(principal="alice"))
    alice = [r.connection_id for r in records[::2]]
    members = [r.connection_id for r in records[::3]]
    await registry.join("dev", "team", members)

    def ids(pages):
        return [cid for page in pages for cid in page]

    assert ids(await all_pages(registry, ConnectionQuery("dev", group="team", limit=3))) == members
    assert (
        ids(await all_pages(registry, ConnectionQuery("dev", principal="alice", limit=4))) == alice
    )
    both = ConnectionQuery("dev", group="team", principal="alice", limit=2)
    assert ids(await all_pages(registry, both)) == [cid for cid in members if cid in alice]
    old = ConnectionQuery("dev", connected_before_ms=1003, limit=4)
    assert ids(await all_pages(registry, old)) == [f"id{i:02}" for i in range(9)]
    assert ids(await all_pages(registry, ConnectionQuery("dev", group="nobody"))) == []
    assert ids(await all_pages(registry, ConnectionQuery("prod", group="team"))) == []
    page = await registry.list(ConnectionQuery("dev", principal="alice", limit=2))
    assert all(r.principal == "alice" for r in page.records)


async def test_list_finds_a_rare_match_among_many(registry):
    # A backend may bound the work per page: pages can come back short, but none is lost.
    for i in range(1500):
        await registry.add(record(f"c{i:04}", connected_at_ms=i))
    await registry.join("dev", "rare", ["c1499", "c0002"])
    pages = await all_pages(registry, ConnectionQuery("dev", group="rare", limit=1))
    assert [cid for page in pages for cid in page] == ["c0002", "c1499"]


@pytest.mark.parametrize(
    "query", [ConnectionQuery("dev", limit=0), ConnectionQuery("dev", cursor="%%%")]
)
async def test_list_refuses_a_bad_query(registry, query):
    with pytest.raises(ValueError):
        await registry.list(query)


# -- groups ------------------------------------------------------------------------------------


async def test_join_leave_members_owners(registry):
    await registry.add(record("c1"))
    await registry.add(record("c2", node_id="node-b"))
    await registry.add(record("p1", stage="prod"))
    joined = await registry.join("dev", "g", ["c2", "gone", "c1", "p1", "c2"])
    assert joined == ["c2", "c1"]  # gone and other-stage ids ignored, order kept, no duplicates
    assert await registry.join("dev", "g", []) == []
    assert await registry.members("dev", "g") == {"c1": "node-a", "c2": "node-b"}
    assert await registry.members("prod", "g") == {}
    assert (await registry.get("c1")).groups == {"g"}
    await registry.leave("dev", "g", ["c1", "gone", "p1"])
    await registry.leave("dev", "g", [])
    assert await registry.members("dev", "g") == {"c2": "node-b"}
    assert (await registry.get("c1")).groups == frozenset()
    assert await registry.owners(["c1", "c2", "gone", "p1", "c1"]) == {
        "c1": "node-a",
        "c2": "node-b",
        "p1": "node-a",
    }
    assert await registry.owners([]) == {}
    await registry.remove("c2")
    assert await registry.members("dev", "g") == {}


async def test_join_of_a_removed_connection_is_ignored(registry):
    await registry.add(record("c1"))
    await registry.remove("c1")
    assert await registry.join("dev", "g", ["c1"]) == []
    assert await registry.members("dev", "g") == {}
    assert await registry.get("c1") is None


# -- nodes -------------------------------------------------------------------------------------


async def test_heartbeat_makes_a_node_alive_until_it_expires(registry):
    assert not (await registry.heartbeat("node-a", TTL)).declared_dead
    await registry.add(record("c1", node_id="node-a"))
    await registry.add(record("c2", node_id="node-b"))
    nodes = {n.node_id: n for n in await registry.nodes()}
    assert nodes["node-a"].alive and nodes["node-a"].connections == 1
    assert not nodes["node-b"].alive and nodes["node-b"].connections == 1
    await expired(registry, "node-a")
    assert not (await registry.heartbeat("node-a", 30)).declared_dead
    assert [n.node_id for n in await registry.nodes() if n.alive] == ["node-a"]


async def test_claim_node_is_exclusive_until_it_expires(registry):
    await registry.heartbeat("dead", TTL)
    assert await registry.claim_node("dead", "node-b", TTL) is False  # still alive
    await expired(registry, "dead")
    assert await registry.claim_node("dead", "node-b", TTL) is True
    assert await registry.claim_node("dead", "node-c", TTL) is False
    assert await registry.claim_node("dead", "node-b", TTL) is True  # the holder extends it

    async def claimed_by_c():
        return await registry.claim_node("dead", "node-c", 30)

    await eventually(claimed_by_c, timeout=3)
    assert await registry.claim_node("dead", "node-b", 30) is False


async def test_concurrent_claims_have_one_winner(registry):
    wins = await asyncio.gather(*(registry.claim_node("dead", f"n{i}", 30) for i in range(10)))
    assert wins.count(True) == 1


async def test_heartbeat_returns_false_once_after_a_claim(registry):
    await registry.heartbeat("zombie", TTL)
    await expired(registry, "zombie")
    assert await registry.claim_node("zombie", "node-b", 30)
    assert (await registry.heartbeat("zombie", 30)).declared_dead
    assert not (await registry.heartbeat("zombie", 30)).declared_dead
    assert [n.alive for n in await registry.nodes() if n.node_id == "zombie"] == [True]
    assert await registry.claim_node("zombie", "node-b", 30) is False  # alive again


async def test_node_connections_and_forget_node(registry):
    await registry.heartbeat("dead", TTL)
    for cid in ("c2", "c1", "c3"):
        await registry.add(record(cid, node_id="dead"))
    await registry.add(record("other", node_id="live"))
    assert await registry.node_connections("dead") == ["c1", "c2", "c3"]
    assert await registry.node_connections("unknown") == []
    await expired(registry, "dead")
    assert await registry.claim_node("dead", "live", 30)
    for cid in await registry.node_connections("dead"):
        assert await registry.remove(cid) is not None
    await registry.forget_node("dead")
    assert "dead" not in [n.node_id for n in await registry.nodes()]
    assert await registry.node_connections("dead") == []
    # Forgotten, then back: the heartbeat learns that the node was declared dead.
    assert (await registry.heartbeat("dead", 30)).declared_dead


async def test_forget_node_keeps_connections_still_registered(registry):
    await registry.add(record("left", node_id="gone"))
    await registry.forget_node("gone")
    assert [(n.node_id, n.connections) for n in await registry.nodes()] == [("gone", 1)]
    assert await registry.node_connections("gone") == ["left"]
    await registry.remove("left")
    await registry.forget_node("gone")
    assert await registry.nodes() == []


async def test_forget_node_of_a_node_that_came_back_keeps_its_heartbeat(registry):
    await registry.heartbeat("flaky", TTL)
    await expired(registry, "flaky")
    assert await registry.claim_node("flaky", "node-b", 30)
    assert (await registry.heartbeat("flaky", 30)).declared_dead  # it is back
    await registry.forget_node("flaky")
    assert [(n.node_id, n.alive) for n in await registry.nodes()] == [("flaky", True)]
    assert await registry.claim_node("flaky", "node-c", 30) is False


async def test_a_node_forgets_itself_on_shutdown(registry):
    await registry.heartbeat("leaving", 30)
    await registry.forget_node("leaving")
    assert await registry.nodes() == []
    assert not (await registry.heartbeat("leaving", 30)).declared_dead  # never claimed


async def test_a_heartbeat_tells_which_other_heartbeat_it_replaced(registry):
    assert await registry.heartbeat("node-a", 30, "first") == Heartbeat(False)
    assert await registry.heartbeat("node-a", 30, "first") == Heartbeat(False)
    beat = await registry.heartbeat("node-a", TTL, "second")  # restarted before it expired
    assert (beat.declared_dead, beat.replaced) == (False, "first")
    assert 20 < beat.replaced_ttl_seconds <= 30
    await expired(registry, "node-a")
    assert await registry.heartbeat("node-a", 30, "third") == Heartbeat(False)


async def test_stale_connections_are_those_of_other_incarnations(registry):
    await registry.heartbeat("node-a", TTL, "new")
    for cid, incarnation in (("c1", "old"), ("c2", ""), ("c3", "new")):
        await registry.add(record(cid, incarnation=incarnation))
    await registry.add(record("elsewhere", node_id="node-b", incarnation="old"))
    assert await registry.stale_connections("node-a", "new") == ["c1", "c2"]
    assert await registry.stale_connections("node-a", "old") == ["c2", "c3"]
    # Without one given: other than the live heartbeat's, then all once it expired.
    assert await registry.stale_connections("node-a") == ["c1", "c2"]
    await expired(registry, "node-a")
    assert await registry.stale_connections("node-a") == ["c1", "c2", "c3"]
    assert await registry.stale_connections("nobody") == []
    assert (await registry.get("c3")).incarnation == "new"


# -- requests between nodes --------------------------------------------------------------------


async def echo(payload: bytes) -> bytes:
    return b"echo:" + payload


async def test_serve_and_request(registry):
    await registry.serve("node-a", echo)
    assert await registry.request("node-a", b"hi", 2) == b"echo:hi"
    assert await registry.request("node-a", b"", 2) == b"echo:"
    binary = bytes(range(256)) * 10
    assert await registry.request("node-a", binary, 2) == b"echo:" + binary


async def test_serve_again_replaces_the_handler(registry):
    await registry.serve("node-a", echo)

    async def other(payload: bytes) -> bytes:
        return b"other"

    await registry.serve("node-a", other)
    assert await registry.request("node-a", b"x", 2) == b"other"


async def test_request_to_an_unknown_node_fails_at_once(registry):
    await registry.serve("node-a", echo)
    assert await unreachable_after(registry.request("node-z", b"x", 10)) < 1
    with pytest.raises(NodeUnreachable) as caught:
        await registry.request("node-z", b"x", 10)
    assert caught.value.node_id == "node-z"
    assert caught.value.timeout == 10


async def test_request_to_a_slow_node_times_out(registry):
    never = asyncio.Event()

    async def slow(payload: bytes) -> bytes:
        await never.wait()
        return b"late"

    await registry.serve("node-a", slow)
    assert 0.2 <= await unreachable_after(registry.request("node-a", b"x", 0.2)) < 2 * UNIT


async def test_a_failing_handler_is_reported(registry, caplog):
    async def broken(payload: bytes) -> bytes:
        raise ValueError("boom")

    await registry.serve("node-a", broken)
    with caplog.at_level(logging.ERROR), pytest.raises(RegistryError) as caught:
        await registry.request("node-a", b"x", 2)
    assert not isinstance(caught.value, NodeUnreachable)
    assert "node-a" in str(caught.value)
    assert any("failed to answer" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_concurrent_requests_get_their_own_replies(registry):
    async def shuffled(payload: bytes) -> bytes:
        for _ in range(random.randrange(5)):
            await asyncio.sleep(0)
        return payload[::-1]

    await registry.serve("node-a", shuffled)
    payloads = [f"request-{i}".encode() for i in range(100)]
    replies = await asyncio.gather(*(registry.request("node-a", p, 5) for p in payloads))
    assert replies == [p[::-1] for p in payloads]


async def test_request_owner_finds_and_asks_the_connections_node(registry):
    await registry.serve("node-a", echo)
    await registry.add(record("c1", node_id="node-a"))
    await registry.add(record("c2", node_id="node-gone"))
    assert await registry.request_owner("c1", b"hi", 2) == ("node-a", await echo(b"hi"))
    assert await registry.request_owner("nobody", b"hi", 2) is None
    with pytest.raises(NodeUnreachable) as caught:  # its node does not listen
        await registry.request_owner("c2", b"hi", 2)
    assert caught.value.node_id == "node-gone"
    await registry.remove("c1")
    assert await registry.request_owner("c1", b"hi", 2) is None


# -- memory only -------------------------------------------------------------------------------


async def test_memory_expiry_follows_the_injected_clock():
    now = [100.0]
    registry = MemoryRegistry(clock=lambda: now[0])
    assert not (await registry.heartbeat("n", 10)).declared_dead
    assert await registry.claim_node("n", "other", 10) is False
    now[0] += 10
    assert [n.alive for n in await registry.nodes()] == [False]
    assert await registry.claim_node("n", "a", 5)
    assert await registry.claim_node("n", "b", 5) is False
    now[0] += 5
    assert await registry.claim_node("n", "b", 5)
    await registry.close()


async def test_memory_registries_share_nothing():
    one, two = MemoryRegistry(), MemoryRegistry()
    await one.serve("node-a", echo)
    await one.add(record("c1"))
    assert await two.get("c1") is None
    with pytest.raises(NodeUnreachable):
        await two.request("node-a", b"x", 5)
    await one.close()
    await two.close()


# -- Redis only --------------------------------------------------------------------------------


@pytest.fixture
async def open_redis(redis_server: RedisServer) -> AsyncIterator[Callable[..., RedisRegistry]]:
    """Open RedisRegistry instances ("nodes") on the test server; all closed at the end."""
    opened: list[RedisRegistry] = []

    def open_registry(prefix: str = PREFIX) -> RedisRegistry:
        registry = RedisRegistry(redis_server.url, prefix=prefix)
        opened.append(registry)
        return registry

    try:
        yield open_registry
    finally:
        for registry in opened:
            await registry.close()


def named(name: str) -> Callable[[bytes], Awaitable[bytes]]:
    async def answer(payload: bytes) -> bytes:
        return name.encode() + b":" + payload

    return answer


async def test_redis_keys_follow_the_documented_layout(redis_server, open_redis):
    registry = open_redis()
    await registry.add(
        record("c1", principal="alice", groups=frozenset({"team"}), incarnation="f00d")
    )
    await registry.heartbeat("node-a", 30, "f00d")
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert sorted(await raw.keys("*")) == [
            f"{PREFIX}conn:c1",
            f"{PREFIX}conn:c1:groups",
            f"{PREFIX}group:dev:team",
            f"{PREFIX}node:node-a:alive",
            f"{PREFIX}node:node-a:conns",
            f"{PREFIX}nodes",
            f"{PREFIX}principal:dev:alice",
            f"{PREFIX}stage:dev:conns",
        ]
        assert await raw.hgetall(f"{PREFIX}conn:c1") == {
            "stage": "dev",
            "node": "node-a",
            "connectedAt": "1700000000000",
            "lastActiveAt": "0",
            "sourceIp": "192.0.2.1",
            "userAgent": "pytest",
            "principal": "alice",
            "incarnation": "f00d",
        }
        assert await raw.get(f"{PREFIX}node:node-a:alive") == "f00d"
        # A group maps each member to its node: a fan-out reads members and nodes at once.
        assert await raw.hgetall(f"{PREFIX}group:dev:team") == {"c1": "node-a"}
        assert 0 < await raw.pttl(f"{PREFIX}node:node-a:alive") <= 30_000
        await registry.remove("c1")
        assert sorted(await raw.keys("*")) == [f"{PREFIX}node:node-a:alive", f"{PREFIX}nodes"]
    finally:
        await raw.aclose()


async def test_prefixes_keep_apis_apart(open_redis):
    one, two = open_redis("wsgate:api1:"), open_redis("wsgate:api2:")
    await one.add(record("c1"))
    await one.serve("node-a", echo)
    assert await two.get("c1") is None
    assert await two.count() == 0
    with pytest.raises(NodeUnreachable):
        await two.request("node-a", b"x", 5)
    assert await one.request("node-a", b"x", 5) == b"echo:x"


async def test_two_nodes_share_state_and_talk(open_redis):
    a, b = open_redis(), open_redis()
    await a.serve("node-a", named("a"))
    await b.serve("node-b", named("b"))
    await a.add(record("c1", node_id="node-a", groups=frozenset({"g"})))
    await b.add(record("c2", node_id="node-b"))
    assert await b.join("dev", "g", ["c2"]) == ["c2"]
    assert await a.members("dev", "g") == {"c1": "node-a", "c2": "node-b"}
    assert await b.get("c1") == await a.get("c1")
    assert await a.request("node-b", b"x", 2) == b"b:x"
    assert await b.request("node-a", b"y", 2) == b"a:y"
    replies = await asyncio.gather(
        *(a.request("node-b", b"%d" % i, 5) for i in range(50)),
        *(b.request("node-a", b"%d" % i, 5) for i in range(50)),
    )
    assert replies == [b"b:%d" % i for i in range(50)] + [b"a:%d" % i for i in range(50)]


async def test_a_burst_waits_for_connections_instead_of_failing(open_redis):
    # More calls at once than the pool has connections: they queue, none fails.
    a, b = open_redis(), open_redis()
    await b.serve("node-b", named("b"))
    await asyncio.gather(*(a.add(record(f"c{i}", node_id="node-b")) for i in range(300)))
    found = await asyncio.gather(*(a.get(f"c{i}") for i in range(300)))
    assert all(found)
    replies = await asyncio.gather(*(a.request("node-b", b"%d" % i, 10) for i in range(300)))
    assert replies == [b"b:%d" % i for i in range(300)]


async def test_a_request_that_arrives_past_its_deadline_is_dropped(redis_server, open_redis):
    a = open_redis()
    handled: list[bytes] = []
    done = asyncio.Event()

    async def note(payload: bytes) -> bytes:
        handled.append(payload)
        done.set()
        return b""

    await a.serve("node-a", note)
    raw = Redis.from_url(redis_server.url)
    try:
        now_ms = time.time_ns() // 1_000_000
        for payload, act_by_ms in (
            (b"late", now_ms - 1),
            (b"now", now_ms),
            (b"soon", now_ms + 5000),
        ):
            frame = struct.pack("!cQQH", b"D", 1, act_by_ms, 3) + b"r:x" + payload
            assert await raw.publish(f"{PREFIX}bus:node-a", frame) == 1
    finally:
        await raw.aclose()
    await asyncio.wait_for(done.wait(), 5 * UNIT)
    assert handled == [b"soon"]


@pytest.mark.parametrize(
    ("timeout", "skew", "window_ms"),
    [
        (5.0, 0.25, 750),  # the publish may time out after 1 s (the socket timeout)
        (0.6, 0.25, 350),  # the wait for the reply runs out first
        (0.2, 0.25, 100),  # a short timeout keeps half its time
        (5.0, 0.0, 1000),
    ],
)
async def test_a_request_must_start_before_its_requester_may_give_up(
    redis_server, timeout, skew, window_ms
):
    """The deadline a request carries: that of the requester, less the clock skew allowance."""
    requester = RedisRegistry(redis_server.url, prefix=PREFIX, max_clock_skew_seconds=skew)
    raw = Redis.from_url(redis_server.url)
    listener = raw.pubsub()
    try:
        await listener.subscribe(f"{PREFIX}bus:node-x")
        before_ms = time.time_ns() // 1_000_000
        asking = asyncio.create_task(requester.request("node-x", b"x", timeout))
        message = None
        while message is None or message["type"] != "message":
            message = await listener.get_message(timeout=5 * UNIT)
        after_ms = time.time_ns() // 1_000_000
        kind, _, act_by_ms, _ = struct.unpack_from("!cQQH", message["data"])
        assert kind == b"D"
        assert before_ms + window_ms - 50 <= act_by_ms <= after_ms + window_ms
        asking.cancel()
        with contextlib.suppress(asyncio.CancelledError, NodeUnreachable):
            await asking
    finally:
        await listener.aclose()
        await raw.aclose()
        await requester.close()


def reconnect_failures(caplog: pytest.LogCaptureFixture) -> int:
    return sum("reconnecting failed" in r.getMessage() for r in caplog.records)


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "wsgate.registry.redis_bus" and r.levelno >= logging.WARNING
    ]


async def test_outage_fails_fast_then_recovers_in_place(redis_server, open_redis, caplog):
    caplog.set_level(logging.DEBUG, logger="wsgate.registry.redis_bus")
    a, b = open_redis(), open_redis()
    await a.serve("node-a", named("a"))
    await b.serve("node-b", named("b"))
    assert await b.request("node-a", b"before", 2) == b"a:before"
    redis_server.stop()
    calls = [
        lambda: a.add(record("c1")),
        lambda: a.get("c1"),
        lambda: a.remove("c1"),
        lambda: a.count("dev"),
        lambda: a.count(),
        lambda: a.touch({"c1": 1}),
        lambda: a.list(ConnectionQuery("dev")),
        lambda: a.join("dev", "g", ["c1"]),
        lambda: a.leave("dev", "g", ["c1"]),
        lambda: a.members("dev", "g"),
        lambda: a.owners(["c1"]),
        lambda: a.heartbeat("node-a", 5),
        lambda: a.nodes(),
        lambda: a.claim_node("node-z", "node-a", 5),
        lambda: a.node_connections("node-a"),
        lambda: a.forget_node("node-z"),
        lambda: b.request("node-a", b"during", 10),
        lambda: a.serve("node-x", echo),
    ]
    for index, call in enumerate(calls):
        start = time.monotonic()
        with pytest.raises(RegistryUnavailable):
            await call()
        assert (index, time.monotonic() - start < 2 * UNIT) == (index, True)
    # Both listeners keep trying to reconnect, and said so once each.
    await eventually(lambda: reconnect_failures(caplog) >= 6)
    assert len(outage_warnings(caplog)) == 2

    redis_server.start()

    async def stored():
        try:
            await a.add(record("c1"))
        except RegistryUnavailable:
            return False
        return await b.get("c1") == record("c1")

    async def answered():
        try:
            return (
                await b.request("node-a", b"after", 1) == b"a:after"
                and await a.request("node-b", b"after", 1) == b"b:after"
            )
        except RegistryError:
            return False

    await eventually(stored)
    await eventually(answered)
    assert len(outage_warnings(caplog)) == 2
    assert not (await a.heartbeat("node-a", 5)).declared_dead


async def test_outage_fails_waiting_requests_at_once(redis_server, open_redis):
    a, b = open_redis(), open_redis()
    started = asyncio.Event()

    async def stuck(payload: bytes) -> bytes:
        started.set()
        await asyncio.Event().wait()
        return b""

    await a.serve("node-a", stuck)
    waiting = asyncio.create_task(b.request("node-a", b"x", 30))
    await started.wait()
    start = time.monotonic()
    redis_server.stop()
    with pytest.raises(RegistryUnavailable):
        await waiting
    assert time.monotonic() - start < 2 * UNIT


async def test_close_leaves_nothing_running(open_redis):
    registry = open_redis()
    await registry.serve("node-a", echo)
    assert await registry.request("node-a", b"x", 2) == b"echo:x"
    await registry.close()
    await registry.close()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    with pytest.raises(RegistryUnavailable):
        await registry.get("c1")
    with pytest.raises(RegistryUnavailable):
        await registry.request("node-a", b"x", 1)
    with pytest.raises(RegistryUnavailable):
        await registry.serve("node-b", echo)


async def test_a_dropped_pubsub_connection_is_restored(redis_server, open_redis, caplog):
    a, b = open_redis(), open_redis()
    await a.serve("node-a", named("a"))
    assert await b.request("node-a", b"1", 2) == b"a:1"
    raw = Redis.from_url(redis_server.url)
    try:
        assert await raw.client_kill_filter(_type="pubsub") == 2
    finally:
        await raw.aclose()

    async def answered():
        try:
            return await b.request("node-a", b"2", 1) == b"a:2"
        except RegistryError:
            return False

    await eventually(answered)
    assert len(outage_warnings(caplog)) == 2


async def test_an_idle_pubsub_connection_is_pinged_and_kept(open_redis, monkeypatch, caplog):
    monkeypatch.setattr("wsgate.registry.redis_bus._IDLE_SECONDS", 0.02)
    a = open_redis()
    await a.serve("node-a", named("a"))
    pongs = 0
    original = a._bus._dispatch

    def counting(message):
        nonlocal pongs
        pongs += message["type"] == "pong"
        original(message)

    monkeypatch.setattr(a._bus, "_dispatch", counting)
    await eventually(lambda: pongs >= 3)
    assert await a.request("node-a", b"x", 2) == b"a:x"
    assert outage_warnings(caplog) == []


async def test_a_hung_server_fails_fast_and_is_detected(
    redis_server, open_redis, monkeypatch, caplog
):
    monkeypatch.setattr("wsgate.registry.redis_bus._IDLE_SECONDS", 0.1)
    a = open_redis()
    await a.serve("node-a", named("a"))
    redis_server.pause()
    try:
        start = time.monotonic()
        with pytest.raises(RegistryUnavailable):
            await a.get("c1")
        assert time.monotonic() - start < 2 * UNIT  # the socket timeout (1 s), not forever
        await eventually(lambda: outage_warnings(caplog))
        assert "no answer to PING" in outage_warnings(caplog)[0].getMessage()
    finally:
        redis_server.resume()

    async def answered():
        try:
            return await a.request("node-a", b"x", 1) == b"a:x"
        except RegistryError:
            return False

    await eventually(answered)
