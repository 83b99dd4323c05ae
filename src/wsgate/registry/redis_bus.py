"""Requests between nodes, over Redis pub/sub: what the Redis registry uses to reach a node.

Node ``n`` listens on ``bus:{n}`` (after the registry's prefix); a requester listens on one
reply channel of its own, ``reply:{node}:{random}``. A request is ``b"D" + id (u64) + deadline
(u64) + len(reply channel) (u16) + reply channel + payload``; a reply is ``b"R" + id (u64) +
status (u8: 0 ok, 1 the handler failed) + payload`` (big-endian; :mod:`.codec` packs both).

The deadline makes a requester's error mean "not done". The requester may give up — its wait
for the reply runs out, or Redis does not answer the publish within the socket timeout, with the
command already written — and Redis may still pass the request on when it recovers. So the
deadline is the earliest moment the requester may give up, less an allowance for clocks that
disagree (``max_clock_skew_seconds``, at most half the time there is), in wall-clock epoch ms;
the node that receives the request drops it unless its own clock is still before the deadline.
Nodes' clocks must therefore agree within that allowance (NTP).

The pub/sub connection is this module's alone, and only its listener reconnects it after an
outage; redis-py subscribes to every channel again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ReadOnlyError,
    RedisError,
    TimeoutError as RedisTimeoutError,
)

from wsgate.errors import NodeUnreachable, RegistryError, RegistryUnavailable
from wsgate.registry import codec, lua
from wsgate.registry.base import NodeHandler
from wsgate.tasks import cancel_and_wait

__all__ = ["RedisBus", "redis_errors"]

logger = logging.getLogger(__name__)

# Errors that mean "Redis cannot be reached now" (BusyLoadingError is a ConnectionError).
_UNAVAILABLE: Final = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
# Silence on the pub/sub connection this long sends a PING; no answer by the next one: gone.
_IDLE_SECONDS: Final = 5.0
_FIRST_RETRY_SECONDS: Final = 0.05


@contextlib.contextmanager
def redis_errors(where: str, *, closed: bool) -> Iterator[None]:
    """Translate redis-py errors into the registry's, chaining the cause.

    Args:
        where: the Redis URL as messages show it (no password).
        closed: the caller was closed: refuse before Redis is asked anything.
    """
    if closed:
        raise RegistryUnavailable(f"registry at {where} closed")
    try:
        yield
    except _UNAVAILABLE as error:
        raise RegistryUnavailable(f"Redis at {where} cannot be reached: {error}") from error
    except RedisError as error:
        raise RegistryError(f"Redis at {where} failed: {error}") from error


class RedisBus:
    """Requests to other nodes, and this node's answers, over one pub/sub connection.

    Args:
        client: the registry's command connections; requests and replies are published there.
        subscriber: a client of its own for the pub/sub connection, whose retry policy catches
            nothing: redis-py would otherwise reconnect it from whichever task saw an error.
        prefix: put before every channel, as before the registry's keys.
        where: the Redis URL as messages show it (no password).
        socket_timeout: seconds a command may take before Redis counts as unreachable.
        reconnect_max_seconds: the longest pause between two attempts to reconnect.
        max_clock_skew_seconds: how far apart nodes' wall clocks may be (see the module docs).
    """

    def __init__(
        self,
        client: Redis,
        subscriber: Redis,
        *,
        prefix: str,
        where: str,
        socket_timeout: float,
        reconnect_max_seconds: float,
        max_clock_skew_seconds: float,
    ) -> None:
        self.prefix = prefix
        self.where = where
        self._client = client
        self._subscriber = subscriber
        self._socket_timeout = socket_timeout
        self._reconnect_max = reconnect_max_seconds
        self._max_skew = max(0.0, max_clock_skew_seconds)
        self._publish_to_owner = client.register_script(lua.PUBLISH_TO_OWNER)
        self._pubsub = subscriber.pubsub()
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
        act_by_ms = _now_ms() + codec.to_ms(window - min(self._max_skew, window / 2))
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
        """Stop listening, fail pending requests, and close the pub/sub connection."""
        if self._closed:
            return
        self._closed = True
        tasks = [task for task in (self._listener, *self._answering) if task is not None]
        await cancel_and_wait(tasks)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RegistryUnavailable(f"registry at {self.where} closed"))
        await self._close_pubsub()
        await self._subscriber.aclose()

    # -- the pub/sub connection -------------------------------------------------------------

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

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return redis_errors(self.where, closed=self._closed)


def _now_ms() -> int:
    """Wall-clock time in epoch ms: deadlines cross machines, so no monotonic clock will do."""
    return time.time_ns() // 1_000_000
