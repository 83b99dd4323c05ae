"""What the data plane keeps per open connection, how one opens, and how ``GetConnection``
describes it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from wsgate.core.events import ConnectionFacts, format_iso_time
from wsgate.core.session import CloseCause, Session, State
from wsgate.core.throttle import TokenBucket
from wsgate.server.stage import StageRuntime
from wsgate.server.websocket import GatewayWebSocket

__all__ = [
    "Deadlines",
    "LiveConnection",
    "Traffic",
    "cancel_handlers",
    "describe_connection",
    "upgrade",
    "wait_ended",
]

_NO_GROUPS: Final[frozenset[str]] = frozenset()
# Gateway-side wait for the client's close reply before dropping the socket.
_CLOSE_TIMEOUT: Final = 5.0


@dataclass(eq=False, slots=True)
class LiveConnection:
    """An open socket and the state the core keeps for it.

    An idle connection costs memory and nothing else, so what only some connections need (the
    tasks a message's work moved to, the event the end is awaited with) is made on first use.
    """

    ws: GatewayWebSocket
    session: Session
    facts: ConnectionFacts
    stage: StageRuntime
    transport: asyncio.Transport
    # Tasks this connection started (a reading that moved on, a close); None until the first.
    tasks: set[asyncio.Task[Any]] | None = None
    # The task that serves the socket (cancelled at shutdown if it outlives the deadline).
    handler: asyncio.Task[Any] | None = None
    # The tick this connection waits in for its expiry check, 0 for none, and its place in
    # that tick's list (see Deadlines).
    tick: int = 0
    slot: int = 0
    # Set once the connection has ended; made only when someone waits for that.
    ended: asyncio.Event | None = None
    # What admission learnt: the valid API key's name, the principal, the message bucket.
    api_key: str | None = None
    principal: str | None = None
    bucket: TokenBucket | None = None
    # Groups joined at $connect (kept to register them again after a registry outage).
    groups: frozenset[str] = _NO_GROUPS
    # In the registry; abandoned: another node ran its $disconnect (this node was lost).
    registered: bool = False
    abandoned: bool = False
    # Messages whose integration is still working, and the event the reading waits on when
    # they reach the stage's maxMessagesInFlight (made only then).
    in_flight: int = 0
    room: asyncio.Event | None = None
    # Set while more than sendBufferBytes wait to be sent: the check for progress, and the
    # bytes that waited at the last check.
    watch: asyncio.TimerHandle | None = None
    behind: int = 0

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to a task of this connection until it is done."""
        tasks = self.tasks
        if tasks is None:
            self.tasks = tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def wait_ended(self) -> None:
        """Return once the connection has ended and its ``$disconnect`` is over."""
        if self.ended is None:
            self.ended = asyncio.Event()
        await self.ended.wait()

    def mark_ended(self) -> None:
        """The connection is over: wake whoever waits for that."""
        if self.ended is not None:
            self.ended.set()


async def upgrade(
    request: web.BaseRequest,
    stage: StageRuntime,
    facts: ConnectionFacts,
    subprotocol: str | None,
    now: float,
    now_ms: int,
) -> LiveConnection | GatewayWebSocket:
    """Answer the upgrade (``$connect`` accepted it): the open connection, served by the
    current task; or the socket alone when the client left meanwhile and it never opened."""
    limits = stage.config.limits
    ws = GatewayWebSocket(
        frame_limit=limits.frame_size_bytes,
        message_limit=limits.message_size_bytes,
        protocols=(subprotocol,) if subprotocol else (),
        autoping=True,
        compress=False,
        timeout=_CLOSE_TIMEOUT,
    )
    try:
        await ws.prepare(request)
    except ConnectionError:
        return ws
    transport = request.transport
    if transport is None:
        return ws
    # The transport pauses writers only past the send buffer limit; Outbound refuses to grow it
    # beyond that, so a send never waits on a client that does not read.
    transport.set_write_buffer_limits(high=limits.send_buffer_bytes)
    session = Session(
        idle_timeout=limits.idle_timeout_seconds,
        max_duration=limits.max_connection_seconds,
        strict=stage.config.aws_strict,
        now=now,
        now_ms=now_ms,
    )
    return LiveConnection(ws, session, facts, stage, transport, handler=asyncio.current_task())


async def wait_ended(conns: Collection[LiveConnection], deadline: float) -> None:
    """Return once each connection has ended and its ``$disconnect`` is over, or at
    ``deadline`` (monotonic) at the latest."""
    waits = [asyncio.ensure_future(conn.wait_ended()) for conn in conns]
    if waits:
        timeout = max(0.0, deadline - time.monotonic())
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for waiter in pending:
            waiter.cancel()


async def cancel_handlers(conns: Collection[LiveConnection]) -> None:
    """Cancel the tasks still serving these connections, and give them a second to stop."""
    handlers = (conn.handler for conn in conns)
    leftovers = [task for task in handlers if task is not None and not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=1.0)


class Deadlines:
    """When each connection's idle or lifetime limit runs out, checked a tick at a time.

    One timer per tick that has connections, not one per connection: a connection waits in
    the list of the tick its deadline falls in, which costs a list slot instead of a timer
    handle (a handle, its arguments and its context take about 0.6 KiB). A connection knows
    its place in the list, so closing one takes it out at once: the last one takes its place.
    When a tick comes, each of its connections is asked for the cause that has run out
    (``Session.expiry``); one whose traffic moved its deadline waits again in a later tick. A
    limit thus acts up to one tick late.

    Args:
        expire: called with a connection and the limit it has run out of.
        tick: seconds per tick.
    """

    __slots__ = ("_expire", "_resolution", "_ticks", "_timers")

    def __init__(
        self, expire: Callable[[LiveConnection, CloseCause], object], tick: float = 0.25
    ) -> None:
        self._expire = expire
        self._resolution = tick
        self._ticks: dict[int, list[LiveConnection]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def add(self, conn: LiveConnection) -> None:
        """Check ``conn`` once its session's deadline has passed."""
        tick = math.ceil(conn.session.deadline() / self._resolution)
        waiting = self._ticks.get(tick)
        if waiting is None:
            self._ticks[tick] = waiting = []
            loop = asyncio.get_running_loop()
            self._timers[tick] = loop.call_at(tick * self._resolution, self._due, tick)
        conn.tick, conn.slot = tick, len(waiting)
        waiting.append(conn)

    def discard(self, conn: LiveConnection) -> None:
        """Stop checking ``conn`` (it is closing)."""
        tick, conn.tick = conn.tick, 0
        waiting = self._ticks.get(tick)
        if waiting is None:
            return
        last = waiting.pop()
        if last is not conn:
            waiting[conn.slot] = last
            last.slot = conn.slot
        if not waiting:
            del self._ticks[tick]
            self._timers.pop(tick).cancel()

    def _due(self, tick: int) -> None:
        self._timers.pop(tick, None)
        waiting = self._ticks.pop(tick, [])
        for conn in waiting:
            conn.tick = 0  # in no list now: a discard while this runs finds nothing to do
        now = time.monotonic()
        for conn in waiting:
            if conn.session.state is not State.OPEN:
                continue  # closing already
            cause = conn.session.expiry(now)
            if cause is None:
                self.add(conn)  # traffic moved the deadline
            else:
                self._expire(conn, cause)

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._ticks.values())


@dataclass(slots=True)
class Traffic:
    """Messages and payload lengths through this node's sockets, both ways (for metrics).

    Plain integers bumped on the hot path: cheaper than any metrics call, read at scrape time.
    Lengths are of the payload as held: characters for text, bytes for binary.
    """

    messages_in: int = 0
    messages_out: int = 0
    length_in: int = 0
    length_out: int = 0


def describe_connection(conn: LiveConnection) -> dict[str, object]:
    """A connection as ``GetConnection`` describes it: connectedAt, identity, lastActiveAt."""
    return {
        "connectedAt": format_iso_time(conn.facts.connected_at),
        "identity": {"sourceIp": conn.facts.source_ip, "userAgent": conn.facts.user_agent},
        "lastActiveAt": format_iso_time(conn.session.last_active_at_ms),
    }
