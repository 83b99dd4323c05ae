"""A forwarded post is delivered exactly once when answered 200, and never when answered 5xx.

Two gateways on one real redis-server. Redis is frozen with SIGSTOP while a post crosses it: the
caller gives up (503) with the command already written, and Redis runs it when it thaws. The
owner must then drop it, because its deadline has passed. A retried post with the same
idempotency id is delivered once, even when the first attempt's reply was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import UNIT, eventually
from tests.integration.test_cluster import Start, call, node_starter, open_on
from wsgate.errors import NodeUnreachable
from wsgate.server.delivery import DeliveredIds

# Heartbeats outlive the freeze: no node may be declared dead while Redis is stopped.
SLOW_DEATH = {"heartbeatSeconds": 0.2, "nodeTimeoutSeconds": 10.0, "requestTimeoutSeconds": 1.0}


@pytest.fixture
async def start_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> AsyncIterator[Start]:
    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    async with node_starter(tmp_path, redis_url) as start:
        yield start


async def received(client: Any) -> list[str]:
    """Every message the client got until the "end" marker."""
    messages = []
    while (message := await asyncio.wait_for(client.recv(), 5 * UNIT)) != "end":
        messages.append(message)
    return messages


async def test_a_post_answered_5xx_while_redis_is_frozen_is_never_delivered(
    start_nodes, redis_server
):
    one, two = await start_nodes(2, **SLOW_DEATH)
    client, connection_id = await open_on(two)
    # A first crossing subscribes node one's reply channel: the frozen post really goes out.
    assert (await call(one, "POST", f"/@connections/{connection_id}", data=b"warm"))[0] == 200
    assert await asyncio.wait_for(client.recv(), 5 * UNIT) == "warm"
    redis_server.pause()
    try:
        status, _ = await call(one, "POST", f"/@connections/{connection_id}", data=b"frozen")
    finally:
        redis_server.resume()
    assert status in (503, 504)

    # Retry as a backend would, until one attempt is answered 200: only that one arrives.
    async def posted() -> bool:
        reply = await call(one, "POST", f"/@connections/{connection_id}", data=b"retried")
        assert reply[0] in (200, 503, 504), reply
        return reply[0] == 200

    await eventually(posted, timeout=10)
    assert (await call(two, "POST", f"/@connections/{connection_id}", data=b"end"))[0] == 200
    assert await received(client) == ["retried"]
    await client.close()


async def test_a_retried_post_is_delivered_once_even_when_its_reply_was_lost(start_nodes):
    one, two = await start_nodes(2)
    client, connection_id = await open_on(two)
    # The owner delivers, then its reply comes too late: the caller answers 504.
    answer = two.cluster._answer
    replied = asyncio.Event()

    async def late(payload: bytes) -> bytes:
        reply: bytes = await answer(payload)
        await replied.wait()
        return reply

    await two.registry.serve("node2", late)
    with pytest.raises(NodeUnreachable):
        await one.cluster.post("dev", connection_id, "once", idempotency_id="call-1")
    replied.set()
    await two.registry.serve("node2", answer)
    # The retries, through either node: answered as delivered, not delivered again.
    await one.cluster.post("dev", connection_id, "once", idempotency_id="call-1")
    await two.cluster.post("dev", connection_id, "once", idempotency_id="call-1")
    # Another id is another message; so is a post without one.
    await one.cluster.post("dev", connection_id, "twice", idempotency_id="call-2")
    await one.cluster.post("dev", connection_id, "twice")
    await two.cluster.post("dev", connection_id, "end")
    assert await received(client) == ["once", "twice", "twice"]
    await client.close()


def test_idempotency_ids_are_kept_for_a_while_and_in_bounded_number():
    clock = [1000.0]
    kept = DeliveredIds(seconds=60.0, limit=3, clock=lambda: clock[0])
    assert not kept.seen("a")
    kept.add("a")
    clock[0] += 30
    kept.add("b")
    assert kept.seen("a") and kept.seen("b")
    clock[0] += 31  # "a" is 61 s old, "b" 31 s
    assert not kept.seen("a") and kept.seen("b")
    kept.add("c")
    kept.add("d")
    kept.add("e")  # over the limit: the oldest ("b") goes first
    assert [kept.seen(key) for key in "bcde"] == [False, True, True, True]


async def test_the_sdks_invocation_id_makes_a_retry_deliver_once(start_nodes):
    # Through the management API, as boto3 retries: each attempt of one call carries the same
    # amz-sdk-invocation-id, and the owner delivers the first only.
    one, two = await start_nodes(2)
    client, connection_id = await open_on(two)
    call_id = {"amz-sdk-invocation-id": "5f1c7bde-33c4-4c7f-a3f5-2b1fd6c1a9e0"}
    path = f"/@connections/{connection_id}"
    for node in (one, one, two):  # the retries may reach any node
        assert (await call(node, "POST", path, data=b"once", headers=call_id))[0] == 200
    assert (await call(one, "POST", path, data=b"next"))[0] == 200
    assert (await call(two, "POST", path, data=b"end"))[0] == 200
    assert await received(client) == ["once", "next"]
    await client.close()


async def test_a_client_too_far_behind_refuses_posts_from_any_node(start_nodes):
    one, two = await start_nodes(2)
    client, connection_id = await open_on(two)
    client.transport.pause_reading()  # it stops reading: the kernel buffers fill up
    big = b"x" * 120_000
    refusals = []
    for _ in range(200):
        status, body = await call(one, "POST", f"/@connections/{connection_id}", data=big)
        if status != 200:
            refusals.append((status, body))
            break
    # AWS's answer to a poster over a limit, carried back from the node holding the socket.
    assert refusals and refusals[0][0] == 429
    assert "has not read" in refusals[0][1]["message"]
    # A fan-out reports it failed, with why, and delivers to the others.
    other, other_id = await open_on(one)
    data = "y" * 120_000
    status, report = await call(
        one,
        "POST",
        "/@connections",
        json={"connectionIds": [connection_id, other_id], "data": data},
    )
    assert status == 200
    assert report["deliveredIds"] == [other_id]
    assert "has not read" in report["failedIds"][connection_id]
    assert await asyncio.wait_for(other.recv(), 5 * UNIT) == data
    client.transport.abort()
    await other.close()
