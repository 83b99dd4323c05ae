"""Nothing lost, measured: every post answered 200 arrives once and in order, every connection
gets one ``$disconnect``; and a long soak stays flat.

Starts ``--nodes`` ``wsgate serve`` nodes of ``bench/reliability/wsgate.yaml`` (one on the
in-memory registry, several on a throwaway Redis) and an event collector that the gateway's
``$connect`` and ``$disconnect`` call (HTTP_PROXY). Then:

1. **Exactness.** ``--connections`` clients, spread over the nodes, each learn their id
   (``whoami``). For each, ``--posts`` numbered posts go one after another to random nodes,
   SigV4-signed with the local key as boto3 signs them; with ``--stall-redis`` Redis is frozen
   (SIGSTOP) for a while in the middle. The checker then counts, per connection, that the posts
   answered 200 arrived exactly once and in order, and that no post answered otherwise arrived.
   The clients leave three ways (close, ``DELETE @connections``, TCP dropped); each connection
   must get exactly one ``$connect`` and one ``$disconnect``.
2. **Soak** (``--soak-minutes``). The clients stay; each sends an echo message in turn, at
   ``--rate`` messages per second in all, while posts go to random clients at ``--post-rate``.
   Every ``--sample-seconds`` the checker records each node's RSS and open descriptors and the
   echo round trip's p50/p99/p99.9 in that window.

Prints a summary, writes JSON (``--output``), and exits 1 if anything was lost or duplicated.

    python bench/reliability.py --nodes 3 --connections 300 --posts 200 --stall-redis 2
    python bench/reliability.py --nodes 1 --connections 10000 --posts 0 --soak-minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cluster_clients import raise_file_limit
from cluster_processes import Children, Node, start_node, start_redis
from yarl import URL

from wsgate.security.local import load_local_secrets

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "reliability" / "wsgate.yaml"
_CONNECT_AT_ONCE = 64
# The posting backend's HTTP connection pool, as a backend's SDK client keeps one: without a
# bound, 10,000 clients' posts would each open a socket and exhaust descriptors on both ends.
_POST_CONNECTIONS = 256
# Bounds on the post itself, not on its wait for a pooled connection.
_POST_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
# What boto3 retries: server errors and no answer at all.
_RETRIED = frozenset({0, 500, 502, 503, 504})
_ECHOED = '{"echoed": true}'  # the MOCK echo route's answer (bench/reliability/wsgate.yaml)


class Collector:
    """The HTTP backend of ``$connect`` and ``$disconnect``: counts each connection's events."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str, str]] = Counter()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/events", self._event)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _event(self, request: web.Request) -> web.Response:
        key = (request.headers["x-connection-id"], request.headers["x-event-type"])
        self.events[key] += 1
        return web.Response(status=200)


@dataclass
class Client:
    """One WebSocket client: its id, what it received, and what was posted to it."""

    node: Node
    ws: aiohttp.ClientWebSocketResponse
    connection_id: str = ""
    received: list[str] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)  # post number -> HTTP status
    echoes: deque[float] = field(default_factory=deque)  # when each unanswered echo was sent
    reader: asyncio.Task[None] | None = None


class Signer:
    """Signs ``@connections`` calls with the local key, as boto3 would."""

    def __init__(self, home: Path) -> None:
        secrets = load_local_secrets(home, create=False)
        if secrets is None:
            raise SystemExit(f"no local key in {home}: did the nodes start?")
        credentials = Credentials(secrets.access_key_id, secrets.secret_access_key)
        self._auth = SigV4Auth(credentials, "execute-api", "us-east-1")

    def headers(
        self, method: str, url: str, body: bytes, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=extra)
        self._auth.add_auth(request)
        return dict(request.headers.items())


def connection_url(node: Node, client: Client) -> URL:
    """The client's ``@connections`` URL, sent as written: the ``=`` of its id stays ``%3D``,
    as boto3 sends and signs it."""
    quoted = client.connection_id.replace("=", "%3D")
    return URL(f"{node.public}/dev/@connections/{quoted}", encoded=True)


async def open_clients(
    session: aiohttp.ClientSession, nodes: list[Node], count: int, latency: list[float]
) -> list[Client]:
    """``count`` clients, round robin over the nodes, each knowing its connection id."""
    gate = asyncio.Semaphore(_CONNECT_AT_ONCE)

    async def one(node: Node) -> Client:
        async with gate:
            ws = await session.ws_connect(f"{node.websocket}/dev", max_msg_size=0)
            await ws.send_str('{"action": "whoami"}')
            reply = await ws.receive_json(timeout=30)
        client = Client(node, ws, reply["id"])
        client.reader = asyncio.ensure_future(_read(client, latency))
        return client

    return list(await asyncio.gather(*(one(nodes[n % len(nodes)]) for n in range(count))))


async def _read(client: Client, latency: list[float]) -> None:
    async for message in client.ws:
        if message.type is not aiohttp.WSMsgType.TEXT:
            continue
        text = message.data
        if text == _ECHOED:
            # Replies come in the order the messages went: the oldest echo is answered.
            if client.echoes:
                latency.append(time.monotonic() - client.echoes.popleft())
        else:
            client.received.append(text)


async def post_all(
    session: aiohttp.ClientSession,
    signer: Signer,
    nodes: list[Node],
    clients: list[Client],
    args: argparse.Namespace,
    failures: Counter[str],
) -> None:
    """Each client's numbered posts, one after another, each to a random node; the kinds of
    the attempts that got no answer are counted in ``failures``.

    With ``--retries``, a post answered 5xx or not at all is tried again as boto3 does: after a
    random backoff, to a random node, with the same ``amz-sdk-invocation-id``, and its last
    answer counts.
    """

    async def attempt(client: Client, body: bytes, invocation: str, number: int) -> int:
        url = connection_url(random.choice(nodes), client)
        headers = {"amz-sdk-invocation-id": invocation, "amz-sdk-request": f"attempt={number}"}
        headers = signer.headers("POST", str(url), body, headers)
        try:
            async with session.post(
                url, data=body, headers=headers, timeout=_POST_TIMEOUT
            ) as reply:
                return reply.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            failures[f"{type(error).__name__}: {error}"[:90]] += 1
            return 0  # no answer: it may or may not have arrived

    async def for_client(client: Client) -> None:
        for number in range(args.posts):
            body, invocation = str(number).encode(), str(uuid.uuid4())
            for tried in range(args.retries + 1):
                status = await attempt(client, body, invocation, tried + 1)
                if status not in _RETRIED or tried == args.retries:
                    break
                await asyncio.sleep(random.uniform(0, min(20.0, 2.0**tried)))
            client.answered[number] = status

    await asyncio.gather(*(for_client(client) for client in clients))


def check_exactness(clients: list[Client]) -> dict[str, Any]:
    """What the clients got against what was answered 200."""
    found = Counter[str]()
    examples: list[str] = []
    for client in clients:
        expected = [str(n) for n, status in sorted(client.answered.items()) if status == 200]
        unsure = {str(n) for n, status in client.answered.items() if status == 0}
        got = [text for text in client.received if text not in unsure]
        refused = {str(n) for n, status in client.answered.items() if status not in (0, 200)}
        found["answered_200"] += len(expected)
        found["answered_other"] += len(refused)
        found["unanswered"] += len(unsure)
        found["received"] += len(client.received)
        duplicates = len(got) - len(set(got))
        arrived_refused = len(refused & set(got))
        missing = len(set(expected) - set(got))
        ordered = [text for text in got if text not in refused]
        out_of_order = int(ordered != sorted(ordered, key=int))
        found["duplicates"] += duplicates
        found["delivered_though_refused"] += arrived_refused
        found["missing"] += missing
        found["out_of_order_connections"] += out_of_order
        if (duplicates or arrived_refused or missing or out_of_order) and len(examples) < 5:
            examples.append(f"{client.connection_id}: expected {expected[:10]} got {got[:10]}")
    result: dict[str, Any] = dict(found)
    result["examples"] = examples
    result["statuses"] = dict(
        Counter(status for client in clients for status in client.answered.values())
    )
    return result


async def close_three_ways(
    session: aiohttp.ClientSession, signer: Signer, clients: list[Client]
) -> None:
    """A third close, a third are deleted through ``@connections``, a third drop TCP."""
    for index, client in enumerate(clients):
        way = index % 3
        if way == 0:
            await client.ws.close()
        elif way == 1:
            url = connection_url(client.node, client)
            headers = signer.headers("DELETE", str(url), b"")
            async with session.delete(url, headers=headers) as reply:
                await reply.read()
        else:
            # aiohttp offers no abort: reach its connection's transport to reset the socket.
            connection = client.ws._conn
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
    for client in clients:
        if client.reader is not None:
            client.reader.cancel()


async def wait_for_disconnects(
    collector: Collector, clients: list[Client], timeout: float
) -> dict[str, Any]:
    """Each connection's $connect and $disconnect counts, once every one has arrived."""
    ids = {client.connection_id for client in clients}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(collector.events[(cid, "DISCONNECT")] for cid in ids):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a duplicate would come now
    connects = Counter(collector.events[(cid, "CONNECT")] for cid in ids)
    disconnects = Counter(collector.events[(cid, "DISCONNECT")] for cid in ids)
    strangers = {cid for cid, _ in collector.events} - ids
    return {
        "connections": len(ids),
        "connect_counts": {str(k): v for k, v in connects.items()},
        "disconnect_counts": {str(k): v for k, v in disconnects.items()},
        "events_for_unknown_ids": len(strangers),
    }


def process_sample(pid: int) -> dict[str, float]:
    """RSS (MiB) and open descriptors of one process."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {"rss_mib": round(rss_kb / 1024, 1), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 3)


async def soak(
    session: aiohttp.ClientSession,
    signer: Signer,
    nodes: list[Node],
    clients: list[Client],
    args: argparse.Namespace,
    latency: list[float],
) -> list[dict[str, Any]]:
    """Steady echo traffic and posts; a sample of every node and the latency per window."""
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    end = started + args.soak_minutes * 60
    turn = itertools.cycle(clients)
    post_errors = Counter[int]()

    async def echoes() -> None:
        interval = 1 / args.rate
        next_at = time.monotonic()
        while time.monotonic() < end:
            client = next(turn)
            client.echoes.append(time.monotonic())
            await client.ws.send_str('{"action": "echo"}')
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def posts() -> None:
        if args.post_rate <= 0:
            return
        interval = 1 / args.post_rate
        next_at = time.monotonic()
        while time.monotonic() < end:
            url = connection_url(random.choice(nodes), random.choice(clients))
            headers = signer.headers("POST", str(url), b"soak")
            async with session.post(url, data=b"soak", headers=headers) as reply:
                post_errors[reply.status] += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def sampler() -> None:
        while time.monotonic() < end:
            await asyncio.sleep(args.sample_seconds)
            window, latency[:] = list(latency), []
            lost = sum(len(client.echoes) for client in clients)
            samples.append(
                {
                    "minute": round((time.monotonic() - started) / 60, 2),
                    "nodes": {node.name: process_sample(node.pid) for node in nodes},
                    "echoes": len(window),
                    "p50_ms": percentile(window, 0.5),
                    "p99_ms": percentile(window, 0.99),
                    "p999_ms": percentile(window, 0.999),
                    "echoes_unanswered": lost,
                    "posts": dict(post_errors),
                }
            )
            print(json.dumps(samples[-1]), flush=True)

    await asyncio.gather(echoes(), posts(), sampler())
    return samples


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    home = folder / "home"
    os.environ["WSGATE_HOME"] = str(home)
    collector = Collector()
    await collector.start()
    config = folder / "wsgate.yaml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8").replace("COLLECTOR", f"127.0.0.1:{collector.port}"),
        encoding="utf-8",
    )
    children = Children()
    result: dict[str, Any] = {"settings": vars(args).copy()}
    try:
        registry, redis_pid = "memory://", None
        if args.nodes > 1:
            registry, redis_pid = start_redis(children, folder, None, 20)
        nodes = [
            start_node(children, f"node{n + 1}", registry, None, 60, config=config)
            for n in range(args.nodes)
        ]
        signer = Signer(home)
        latency: list[float] = []
        connector = aiohttp.TCPConnector(limit=0)
        posting_pool = aiohttp.TCPConnector(limit=_POST_CONNECTIONS)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            aiohttp.ClientSession(connector=posting_pool) as poster,
        ):
            clients = await open_clients(session, nodes, args.connections, latency)
            result["idle"] = {node.name: process_sample(node.pid) for node in nodes}
            if args.posts:
                failures = Counter[str]()
                posting = asyncio.ensure_future(
                    post_all(poster, signer, nodes, clients, args, failures)
                )
                if args.stall_redis and redis_pid is not None:
                    await asyncio.sleep(args.stall_after)
                    os.kill(redis_pid, signal.SIGSTOP)
                    await asyncio.sleep(args.stall_redis)
                    os.kill(redis_pid, signal.SIGCONT)
                await posting
                await asyncio.sleep(2.0)  # the last frames cross the loopback
                result["exactness"] = check_exactness(clients)
                result["exactness"]["unanswered_because"] = dict(failures)
            if args.soak_minutes:
                result["soak"] = await soak(poster, signer, nodes, clients, args, latency)
            await close_three_ways(poster, signer, clients)
            result["disconnects"] = await wait_for_disconnects(collector, clients, 60)
    finally:
        children.stop_all()
        await collector.stop()
        result["processes"] = children.stopped
    return result


def verdict(result: dict[str, Any]) -> list[str]:
    """What went wrong, if anything."""
    problems = []
    exact = result.get("exactness")
    if exact is not None:
        for name in (
            "duplicates",
            "delivered_though_refused",
            "missing",
            "out_of_order_connections",
        ):
            if exact.get(name):
                problems.append(f"{name}: {exact[name]}")
    counts = result["disconnects"]
    if set(counts["disconnect_counts"]) != {"1"} or set(counts["connect_counts"]) != {"1"}:
        problems.append(f"$connect/$disconnect not exactly once: {counts}")
    if counts["events_for_unknown_ids"]:
        problems.append(f"events for unknown ids: {counts['events_for_unknown_ids']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--posts", type=int, default=100, help="posts per connection")
    parser.add_argument(
        "--retries", type=int, default=0, help="retries of a post, as boto3 makes (it makes 4)"
    )
    parser.add_argument("--stall-redis", type=float, default=0.0, help="seconds Redis is frozen")
    parser.add_argument("--stall-after", type=float, default=1.0, help="seconds into the posts")
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=500.0, help="soak echoes per second")
    parser.add_argument("--post-rate", type=float, default=100.0, help="soak posts per second")
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "reliability.json"
    )
    args = parser.parse_args(argv)
    # Each client holds a WebSocket and, while posting, an HTTP connection, on both ends.
    raise_file_limit(args.connections * 3 + 1000)
    with tempfile.TemporaryDirectory(prefix="wsgate-reliability-") as folder:
        result = asyncio.run(run(args, Path(folder)))
    problems = verdict(result)
    result["problems"] = problems
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    summary = {k: result.get(k) for k in ("exactness", "disconnects", "idle")}
    print(json.dumps(summary, indent=2, default=str))
    print("OK: nothing lost, nothing twice" if not problems else f"FAILED: {problems}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
