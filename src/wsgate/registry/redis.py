"""The Redis registry: what every node of a gateway shares.

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

Requests between nodes travel over pub/sub: :class:`~wsgate.registry.redis_bus.RedisBus`.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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
from wsgate.registry.redis_bus import RedisBus, redis_errors

__all__ = ["RedisRegistry"]


# How long a claimed node's next heartbeat still learns that it was declared dead.
_DEAD_MARK_MS: Final = 24 * 3600 * 1000
# Connections a listing looks at, at most, to fill one page (filters may skip most of them).
_LIST_BUDGET: Final = 1000
_TOUCH_BATCH: Final = 500


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
            reach its node at least this long before its requester may give up (see
            :mod:`wsgate.registry.redis_bus`).
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
        self.where = redact_url(url)
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
        self._bus = RedisBus(
            self._client,
            Redis.from_url(url, retry=Retry(NoBackoff(), 0, ()), **options),
            prefix=prefix,
            where=self.where,
            socket_timeout=socket_timeout,
            reconnect_max_seconds=reconnect_max_seconds,
            max_clock_skew_seconds=max_clock_skew_seconds,
        )
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
        args: list[str | int] = [self.prefix, node_id, codec.to_ms(ttl_seconds), incarnation]
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
        ttl = codec.to_ms(ttl_seconds)
        args: list[str | int] = [self.prefix, node_id, claimer, ttl, _DEAD_MARK_MS]
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

    # -- node-to-node requests (RedisBus) -----------------------------------------------------

    async def serve(self, node_id: str, handler: NodeHandler) -> None:
        """Answer requests published to ``node_id`` with ``handler``."""
        await self._bus.serve(node_id, handler)

    async def request(self, node_id: str, payload: bytes, timeout: float) -> bytes:
        """Publish a request to a node and wait for its reply."""
        return await self._bus.request(node_id, payload, timeout)

    async def request_owner(
        self, connection_id: str, payload: bytes, timeout: float
    ) -> tuple[str, bytes] | None:
        """Look the owner up and publish to it in one script, then wait for its reply."""
        return await self._bus.request_owner(connection_id, payload, timeout)

    async def close(self) -> None:
        """Stop listening, fail pending requests, and close every connection."""
        if self._closed:
            return
        self._closed = True
        await self._bus.close()
        await self._control.aclose()
        await self._client.aclose()

    # -- helpers ---------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return redis_errors(self.where, closed=self._closed)
