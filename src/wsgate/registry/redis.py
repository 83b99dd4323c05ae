"""The Redis registry: what every node of a gateway shares, and requests between nodes.

Every key starts with the prefix (the gateway passes ``wsgate:{apiId}:``)::

    conn:{id}               hash: stage, node, connectedAt, lastActiveAt, sourceIp, and when
                            known incarnation, userAgent, principal, authorizer (JSON object)
    conn:{id}:groups        set: the connection's groups
    node:{node}:conns       set: the ids a node holds
    stage:{stage}:conns     sorted set: a stage's ids scored by connectedAt (listing order)
    principal:{stage}:{p}   set: the ids of one principal
    group:{stage}:{group}   hash: a group's ids, each with its node (one read for a fan-out)
    nodes                   set: every node id seen (by a heartbeat or a connection)
    node:{node}:alive       the incarnation of the node's process, expires with its heartbeat
    node:{node}:claim       the claimer's id, expires with the claim
    node:{node}:dead        the claimer's id: set by a claim, consumed by the next heartbeat

Updates that touch several keys run as Lua scripts (:mod:`wsgate.registry.lua`): atomic, so
that concurrent removers of one connection see it exactly once (as channels_redis keeps groups).
Stage names and connection ids must not contain ``:``; Redis Cluster is not supported.

Requests between nodes travel over pub/sub. Node ``n`` listens on ``bus:{n}``; a requester
listens on one reply channel of its own, ``reply:{node}:{random}``. A request is
``b"D" + id (u64) + deadline (u64) + len(reply channel) (u16) + reply channel + payload``; a
reply is ``b"R" + id (u64) + status (u8: 0 ok, 1 the handler failed) + payload`` (big-endian).

The deadline makes a requester's error mean "not done". The requester may give up — its wait
for the reply runs out, or Redis does not answer the publish within the socket timeout, with the
command already written — and Redis may still pass the request on when it recovers. So the
deadline is the earliest moment the requester may give up, less an allowance for clocks that
disagree (``max_clock_skew_seconds``, at most half the time there is), in wall-clock epoch ms;
the node that receives the request drops it unless its own clock is still before the deadline.
Nodes' clocks must therefore agree within that allowance (NTP).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import logging
import secrets
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Final, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ReadOnlyError,
    RedisError,
    TimeoutError as RedisTimeoutError,
)

from wsgate.errors import NodeUnreachable, RegistryError, RegistryUnavailable
from wsgate.registry import codec, lua
from wsgate.registry.base import (
    ConnectionPage,
    ConnectionQuery,
    ConnectionRecord,
    Heartbeat,
    NodeHandler,
    NodeStatus,
    decode_cursor,
    encode_cursor,
    redact_url,
)
from wsgate.tasks import cancel_and_wait

__all__ = ["RedisRegistry"]

logger = logging.getLogger(__name__)

# Errors that mean "Redis cannot be reached now" (BusyLoadingError is a ConnectionError).
_UNAVAILABLE: Final = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
# How long a claimed node's next heartbeat still learns that it was declared dead.
_DEAD_MARK_MS: Final = 24 * 3600 * 1000
# Connections a listing looks at, at most, to fill one page (filters may skip most of them).
_LIST_BUDGET: Final = 1000
_TOUCH_BATCH: Final = 500
# Silence on the pub/sub connection this long sends a PING; no answer by the next one: gone.
_IDLE_SECONDS: Final = 5.0
_FIRST_RETRY_SECONDS: Final = 0.05


class RedisRegistry:
    """The registry in Redis, shared by every node that uses the same URL and prefix.

    (``builtins.list`` in annotations: the ``list`` method shadows the name in this body.)

    Args:
        url: ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` (TLS) or
            ``unix:///path/to/socket[?db=N]``; redis-py query options apply.
        prefix: put before every key and channel, so that several APIs share one Redis.
        socket_timeout: seconds a command may take before Redis counts as unreachable.
        connect_timeout: seconds to open a connection before Redis counts as unreachable.
        reconnect_max_seconds: the longest pause between two attempts of the pub/sub
            listener to reconnect after an outage.
        max_connections: connections to Redis for commands; more callers wait for one (up
            to ``pool_wait_seconds``) rather than fail.
        pool_wait_seconds: the longest wait for a free connection.
        max_clock_skew_seconds: how far apart nodes' wall clocks may be; a request must
            reach its node at least this long before its requester may give up (see the module
            docs).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "wsgate:",
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        reconnect_max_seconds: float = 1.0,
        max_connections: int = 64,
        pool_wait_seconds: float = 10.0,
        max_clock_skew_seconds: float = 0.25,
    ) -> None:
        self.prefix = prefix
        self._max_skew = max(0.0, max_clock_skew_seconds)
        self.where = redact_url(url)
        self._socket_timeout = socket_timeout
        self._reconnect_max = reconnect_max_seconds
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "protocol": 2,
        }
        # No retries: a caller learns at once that Redis is gone, and decides what to do. A
        # blocking pool makes a burst of calls (handshakes, forwarded posts) wait for a free
        # connection instead of failing at redis-py's default cap of 100.
        # Waiting for a free connection is congestion, not an outage: it may take longer than a
        # command's own timeout.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_wait_seconds,
            retry=Retry(NoBackoff(), 0),
            **options,
        )
        self._client: Redis = Redis.from_pool(pool)
        # Heartbeats and node bookkeeping never queue behind a burst of connection updates
        # (thousands of clients closing at once): a node must not look dead for being busy.
        control = BlockingConnectionPool.from_url(
            url, max_connections=2, timeout=socket_timeout, retry=Retry(NoBackoff(), 0), **options
        )
        self._control: Redis = Redis.from_pool(control)
        # The pub/sub connection has a pool of its own, whose retry policy catches nothing:
        # redis-py would otherwise reconnect it from whichever task saw an error. Only the
        # listener reconnects it (and _subscribe, under the same lock).
        self._pubsub_client: Redis = Redis.from_url(url, retry=Retry(NoBackoff(), 0, ()), **options)
        script = self._client.register_script
        self._add, self._remove, self._touch = (
            script(lua.ADD),
            script(lua.REMOVE),
            script(lua.TOUCH),
        )
        self._join, self._leave = script(lua.JOIN), script(lua.LEAVE)
        self._members, self._list = script(lua.MEMBERS), script(lua.LIST)
        self._count_all, self._nodes = script(lua.COUNT_ALL), script(lua.NODES)
        self._heartbeat, self._claim = script(lua.HEARTBEAT), script(lua.CLAIM)
        self._forget, self._stale = script(lua.FORGET), script(lua.STALE)
        self._publish_to_owner = script(lua.PUBLISH_TO_OWNER)
        self._pubsub = self._pubsub_client.pubsub()
        self._handlers: dict[bytes, tuple[str, NodeHandler]] = {}  # bus channel -> node, handler
        self._subscribed: set[bytes] = set()  # SUBSCRIBE sent (redis-py repeats it on reconnect)
        self._ready: dict[bytes, asyncio.Event] = {}  # set while Redis confirms the channel
        self._subscribing = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._offline = asyncio.Event()  # set from losing the pub/sub connection to recovering
        self._reply_channel: bytes | None = None
        self._waiting: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._request_ids = itertools.count(1)
        self._answering: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- connections -----------------------------------------------------------------------------

    async def add(self, record: ConnectionRecord) -> None:
        """Register a connection with its groups, replacing any record with its id."""
        groups = sorted(record.groups)
        fields = [item for pair in codec.encode_record(record).items() for item in pair]
        with self._errors():
            await self._add(args=[self.prefix, record.connection_id, len(groups), *groups, *fields])

    async def remove(self, connection_id: str) -> ConnectionRecord | None:
        """Forget a connection and its memberships; the record to exactly one caller."""
        with self._errors():
            found = await self._remove(args=[self.prefix, connection_id])
        if not found:
            return None
        fields, groups = found
        return codec.decode_record(connection_id, codec.pairs(fields), groups)

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        """Look a connection up."""
        key = self._key("conn", connection_id)
        with self._errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hgetall(key)
                pipe.smembers(f"{key}:groups")
                fields, groups = await pipe.execute()
        return codec.decode_record(connection_id, fields, groups) if fields else None

    async def count(self, stage: str | None = None) -> int:
        """How many connections are registered (on one stage, or in all)."""
        with self._errors():
            if stage is None:
                return int(await self._count_all(args=[self.prefix]))
            return int(await self._client.zcard(self._key("stage", stage, "conns")))

    async def touch(self, last_active: Mapping[str, int]) -> None:
        """Record when connections were last active; gone ones are not written."""
        pairs = [item for pair in last_active.items() for item in pair]
        with self._errors():
            for start in range(0, len(pairs), 2 * _TOUCH_BATCH):
                await self._touch(args=[self.prefix, *pairs[start : start + 2 * _TOUCH_BATCH]])

    async def list(self, query: ConnectionQuery) -> ConnectionPage:
        """A page of a stage's connections, oldest first."""
        if query.limit < 1:
            raise ValueError(f"limit must be at least 1, not {query.limit}")
        after = decode_cursor(query.cursor) if query.cursor is not None else None
        before = query.connected_before_ms
        args = [
            self.prefix,
            query.stage,
            after[0] if after else "-inf",
            after[1] if after else "",
            f"({before}" if before is not None else "+inf",
            query.limit,
            max(_LIST_BUDGET, 2 * query.limit),
            int(query.group is not None),
            query.group or "",
            int(query.principal is not None),
            query.principal or "",
        ]
        with self._errors():
            next_score, next_id, *rows = await self._list(args=args)
        records = tuple(
            codec.decode_record(connection_id.decode(), codec.pairs(fields), groups)
            for connection_id, fields, groups in rows
            if fields
        )
        cursor = encode_cursor(int(float(next_score)), next_id.decode()) if next_id else None
        return ConnectionPage(records, cursor)

    # -- groups ----------------------------------------------------------------------------------

    async def join(
        self, stage: str, group: str, connection_ids: Sequence[str]
    ) -> builtins.list[str]:
        """Add the registered connections of a stage to a group; returns those ids."""
        ids = list(dict.fromkeys(connection_ids))
        if not ids:
            return []
        with self._errors():
            joined = await self._join(args=[self.prefix, stage, group, *ids])
        return [connection_id.decode() for connection_id in joined]

    async def leave(self, stage: str, group: str, connection_ids: Sequence[str]) -> None:
        """Remove connections from a group."""
        if connection_ids:
            with self._errors():
                await self._leave(args=[self.prefix, stage, group, *connection_ids])

    async def members(self, stage: str, group: str) -> dict[str, str]:
        """A group's connections and the node of each."""
        with self._errors():
            flat = await self._members(args=[self.prefix, stage, group])
        return {key.decode(): value.decode() for key, value in codec.pairs(flat).items()}

    async def owners(self, connection_ids: Sequence[str]) -> dict[str, str]:
        """The node of each registered connection among ``connection_ids``."""
        ids = list(dict.fromkeys(connection_ids))
        if not ids:
            return {}
        with self._errors():
            async with self._client.pipeline(transaction=False) as pipe:
                for connection_id in ids:
                    pipe.hget(self._key("conn", connection_id), "node")
                nodes = await pipe.execute()
        return {cid: node.decode() for cid, node in zip(ids, nodes, strict=True) if node}

    # -- nodes -----------------------------------------------------------------------------------

    async def heartbeat(self, node_id: str, ttl_seconds: float, incarnation: str = "") -> Heartbeat:
        """Mark a node alive; see :meth:`ConnectionRegistry.heartbeat`."""
        args: list[str | int] = [self.prefix, node_id, _ms(ttl_seconds), incarnation]
        with self._errors():
            dead, previous, left_ms = await self._heartbeat(args=args, client=self._control)
        replaced = previous.decode() if previous is not None else None
        if replaced is None or replaced == incarnation:
            return Heartbeat(bool(dead))
        return Heartbeat(bool(dead), replaced, max(0, int(left_ms)) / 1000)

    async def nodes(self) -> builtins.list[NodeStatus]:
        """Every node known, in id order."""
        with self._errors():
            rows = await self._nodes(args=[self.prefix], client=self._control)
        statuses = [
            NodeStatus(node.decode(), bool(alive), int(count)) for node, alive, count in rows
        ]
        return sorted(statuses, key=lambda status: status.node_id)

    async def claim_node(self, node_id: str, claimer: str, ttl_seconds: float) -> bool:
        """Take the cleanup of a node whose heartbeat expired."""
        args: list[str | int] = [self.prefix, node_id, claimer, _ms(ttl_seconds), _DEAD_MARK_MS]
        with self._errors():
            return bool(await self._claim(args=args, client=self._control))

    async def node_connections(self, node_id: str) -> builtins.list[str]:
        """The connections registered as held by ``node_id``."""
        with self._errors():
            ids = cast(
                "set[bytes]", await self._client.smembers(self._key("node", node_id, "conns"))
            )
        return sorted(connection_id.decode() for connection_id in ids)

    async def stale_connections(
        self, node_id: str, incarnation: str | None = None
    ) -> builtins.list[str]:
        """The connections of ``node_id`` held by another incarnation, read atomically."""
        keep = ["0", ""] if incarnation is None else ["1", incarnation]
        with self._errors():
            ids = await self._stale(args=[self.prefix, node_id, *keep])
        return sorted(connection_id.decode() for connection_id in ids)

    async def forget_node(self, node_id: str) -> None:
        """Drop a cleaned-up node; see :meth:`ConnectionRegistry.forget_node`."""
        with self._errors():
            await self._forget(args=[self.prefix, node_id], client=self._control)

    # -- node-to-node requests -------------------------------------------------------------------

    async def serve(self, node_id: str, handler: NodeHandler) -> None:
        """Answer requests published to ``node_id`` with ``handler``."""
        channel = self._key("bus", node_id).encode()
        self._handlers[channel] = (node_id, handler)
        await self._subscribe(channel, self._socket_timeout)

    async def request(self, node_id: str, payload: bytes, timeout: float) -> bytes:
        """Publish a request to a node and wait for its reply."""

        async def publish(message: bytes) -> tuple[str, int]:
            receivers: int = await self._client.publish(self._key("bus", node_id), message)
            return node_id, receivers

        found = await self._exchange(publish, payload, timeout)
        assert found is not None
        return found[1]

    async def request_owner(
        self, connection_id: str, payload: bytes, timeout: float
    ) -> tuple[str, bytes] | None:
        """Look the owner up and publish to it in one script, then wait for its reply."""

        async def publish(message: bytes) -> tuple[str, int] | None:
            found = await self._publish_to_owner(args=[self.prefix, connection_id, message])
            if not found:
                return None
            node, receivers = found
            return node.decode() if isinstance(node, bytes) else str(node), int(receivers)

        return await self._exchange(publish, payload, timeout)

    async def _exchange(
        self,
        publish: Callable[[bytes], Awaitable[tuple[str, int] | None]],
        payload: bytes,
        timeout: float,
    ) -> tuple[str, bytes] | None:
        """Send one request with ``publish`` and wait for the reply on this registry's channel."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        reply_channel = self._reply_channel or self._new_reply_channel()
        await self._subscribe(reply_channel, timeout)
        request_id = next(self._request_ids)
        future: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._waiting[request_id] = future
        # This requester may give up once its wait runs out, or once a publish that Redis does
        # not answer times out (it is sent from now on): the node must start before either,
        # by a clock that may be off by the allowance. Half the time is left at least, so that
        # a short timeout still lets a node answer.
        window = min(deadline - loop.time(), self._socket_timeout)
        act_by_ms = _now_ms() + _ms(window - min(self._max_skew, window / 2))
        header = codec.REQUEST.pack(b"D", request_id, act_by_ms, len(reply_channel))
        try:
            message = header + reply_channel + payload
            with self._errors():
                sent = await publish(message)
            if sent is None:  # no node holds the connection
                return None
            node_id, receivers = sent
            if not receivers:  # nobody listens: the node is gone
                raise NodeUnreachable(node_id, timeout)
            try:
                status, reply = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise NodeUnreachable(node_id, timeout) from None
        finally:
            del self._waiting[request_id]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, even when the publish failed first
        if status != codec.OK:
            raise RegistryError(f"node {node_id!r} failed to answer a request")
        return node_id, reply

    async def close(self) -> None:
        """Stop listening, fail pending requests, and close every connection."""
        if self._closed:
            return
        self._closed = True
        tasks = [task for task in (self._listener, *self._answering) if task is not None]
        await cancel_and_wait(tasks)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RegistryUnavailable(f"registry at {self.where} closed"))
        await self._close_pubsub()
        await self._pubsub_client.aclose()
        await self._control.aclose()
        await self._client.aclose()

    # -- pub/sub ---------------------------------------------------------------------------------

    def _new_reply_channel(self) -> bytes:
        node = next((node for node, _ in self._handlers.values()), "-")
        self._reply_channel = self._key("reply", node, secrets.token_hex(8)).encode()
        return self._reply_channel

    async def _subscribe(self, channel: bytes, wait: float) -> None:
        """Subscribe once to ``channel`` and wait until Redis confirms it."""
        if self._closed:
            raise RegistryUnavailable(f"registry at {self.where} closed")
        if channel in self._subscribed and self._ready[channel].is_set():
            return  # every request after the first: no lock, no task
        async with self._subscribing:
            if channel not in self._subscribed:
                await self._send_subscribe(channel)
        ready = self._ready[channel]
        if not ready.is_set() and not self._offline.is_set():
            # Wait for the confirmation, or for the listener to find the connection gone.
            waiters = [asyncio.create_task(ready.wait()), asyncio.create_task(self._offline.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if ready.is_set():
            return
        if self._offline.is_set():
            raise RegistryUnavailable(f"Redis at {self.where} cannot be reached")
        message = f"Redis at {self.where} did not confirm a subscription in {wait:g} s"
        raise RegistryUnavailable(message)

    async def _send_subscribe(self, channel: bytes) -> None:
        """SUBSCRIBE (the listener reads the confirmation); starts the listener the first time."""
        if self._offline.is_set():
            raise RegistryUnavailable(f"Redis at {self.where} cannot be reached")
        self._ready.setdefault(channel, asyncio.Event())
        with self._errors():
            await self._pubsub.subscribe(channel)
        self._subscribed.add(channel)
        if self._listener is None and not self._closed:
            self._listener = asyncio.create_task(self._listen(), name="wsgate-registry")

    async def _listen(self) -> None:
        """Read pub/sub messages until cancelled; outlive outages by reconnecting."""
        pinged = False
        while not self._closed:
            try:
                self._check_connected()  # rather than let redis-py reconnect without the lock
                message = await self._pubsub.get_message(timeout=_IDLE_SECONDS)
                if message is None:
                    if pinged:  # half-open: the PING of the last idle period got no answer
                        raise RedisTimeoutError("no answer to PING")
                    self._check_connected()
                    await self._pubsub.ping()
                    pinged = True
                    continue
            except Exception as error:
                if not isinstance(error, RedisError):
                    logger.exception("unexpected error on the Redis pub/sub connection")
                await self._recover(error)
                pinged = False
                continue
            pinged = False
            try:
                self._dispatch(message)
            except Exception:
                logger.exception("cannot handle a Redis pub/sub message")

    async def _recover(self, error: Exception) -> None:
        """Reconnect with backoff; redis-py subscribes to every channel again."""
        self._go_offline(error)
        delay = _FIRST_RETRY_SECONDS
        while not self._closed:
            await asyncio.sleep(delay)
            try:
                async with self._subscribing:
                    await self._disconnect_pubsub(wait=False)
                    await self._pubsub.connect()  # type: ignore[no-untyped-call]
            except Exception as retry_error:  # the listener must outlive anything here
                logger.debug(
                    "Redis pub/sub at %s: reconnecting failed: %s", self.where, retry_error
                )
                delay = min(delay * 2, self._reconnect_max)
                continue
            break
        self._offline.clear()
        logger.info("Redis pub/sub at %s reconnected", self.where)

    def _check_connected(self) -> None:
        connection = self._pubsub.connection
        if connection is None or not connection.is_connected:
            raise RedisConnectionError("the pub/sub connection is closed")

    def _go_offline(self, error: Exception) -> None:
        if not self._offline.is_set():  # once per outage
            logger.warning("Redis pub/sub at %s lost, reconnecting: %s", self.where, error)
        self._offline.set()
        for ready in self._ready.values():
            ready.clear()
        for future in self._waiting.values():  # their replies cannot arrive any more
            if not future.done():
                future.set_exception(RegistryUnavailable(f"Redis at {self.where} lost: {error}"))

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        kind, channel, data = message["type"], message["channel"], message["data"]
        if kind == "subscribe":
            ready = self._ready.get(channel)
            if ready is not None:
                ready.set()
        elif kind != "message":
            return
        elif channel == self._reply_channel:
            self._take_reply(data)
        elif channel in self._handlers:
            self._start_answer(channel, data)

    def _take_reply(self, data: bytes) -> None:
        try:
            kind, request_id, status = codec.REPLY.unpack_from(data)
        except struct.error:
            kind = b""
        if kind != b"R":
            logger.warning("malformed reply on %s dropped", self.where)
            return
        future = self._waiting.get(request_id)
        if future is not None and not future.done():
            future.set_result((status, data[codec.REPLY.size :]))

    def _start_answer(self, channel: bytes, data: bytes) -> None:
        try:
            kind, request_id, act_by_ms, size = codec.REQUEST.unpack_from(data)
        except struct.error:
            kind, act_by_ms, size = b"", 0, 0
        if kind != b"D" or len(data) < codec.REQUEST.size + size:
            logger.warning("malformed request on %s dropped", self.where)
            return
        reply_to = data[codec.REQUEST.size : codec.REQUEST.size + size]
        node_id, handler = self._handlers[channel]
        payload = data[codec.REQUEST.size + size :]
        task = asyncio.create_task(
            self._answer(node_id, handler, request_id, act_by_ms, reply_to, payload)
        )
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(
        self,
        node_id: str,
        handler: NodeHandler,
        request_id: int,
        act_by_ms: int,
        reply_to: bytes,
        payload: bytes,
    ) -> None:
        # Checked as the handler starts, with nothing awaited in between: once it runs, it has
        # begun while its requester still waits.
        late_ms = _now_ms() - act_by_ms
        if late_ms >= 0:
            logger.warning(
                "node %s dropped a request that arrived %d ms past its deadline: its requester "
                "may have answered already (or the clocks of the nodes disagree)",
                node_id,
                late_ms,
            )
            return
        try:
            reply, status = await handler(payload), codec.OK
        except Exception:
            logger.exception("node %s failed to answer a request", node_id)
            reply, status = b"", codec.FAILED
        try:
            await self._client.publish(reply_to, codec.REPLY.pack(b"R", request_id, status) + reply)
        except RedisError as error:  # the requester times out
            logger.debug("reply to %r lost: %s", reply_to, error)

    async def _disconnect_pubsub(self, *, wait: bool) -> None:
        connection = self._pubsub.connection
        if connection is not None:
            with contextlib.suppress(RedisError, OSError):
                await connection.disconnect(nowait=not wait)

    async def _close_pubsub(self) -> None:
        connection = self._pubsub.connection
        if connection is not None and connection.is_connected and not self._offline.is_set():
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe()
        await self._disconnect_pubsub(wait=True)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- helpers ---------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate redis-py errors into the registry's, chaining the cause."""
        if self._closed:
            raise RegistryUnavailable(f"registry at {self.where} closed")
        try:
            yield
        except _UNAVAILABLE as error:
            raise RegistryUnavailable(
                f"Redis at {self.where} cannot be reached: {error}"
            ) from error
        except RedisError as error:
            raise RegistryError(f"Redis at {self.where} failed: {error}") from error


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _now_ms() -> int:
    """Wall-clock time in epoch ms: deadlines cross machines, so no monotonic clock will do."""
    return time.time_ns() // 1_000_000
