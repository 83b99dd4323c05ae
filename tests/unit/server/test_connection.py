"""What the data plane keeps per connection: the expiry ticks, and what is made on first use."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from wsgate.core.session import CloseCause, Session
from wsgate.server.connection import Deadlines, LiveConnection

_NONE: Any = cast(Any, None)
TICK = 0.02


def _conn(*, idle: float = 60.0, lifetime: float = 600.0) -> LiveConnection:
    """A connection whose session is real; the socket parts are never touched here."""
    session = Session(
        idle_timeout=idle, max_duration=lifetime, strict=False, now=time.monotonic(), now_ms=0
    )
    session.open()
    return LiveConnection(_NONE, session, _NONE, _NONE, _NONE)


class _Expired:
    def __init__(self) -> None:
        self.calls: list[tuple[LiveConnection, CloseCause]] = []
        self.changed = asyncio.Event()

    def __call__(self, conn: LiveConnection, cause: CloseCause) -> None:
        self.calls.append((conn, cause))
        conn.session.close(cause)
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.calls) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)


async def test_idle_and_lifetime_limits_expire_with_their_cause() -> None:
    expired = _Expired()
    deadlines = Deadlines(expired, tick=TICK)
    idle, brief, lasting = _conn(idle=0.05), _conn(lifetime=0.1, idle=5), _conn()
    for conn in (idle, brief, lasting):
        deadlines.add(conn)
    assert len(deadlines) == 3
    await expired.wait_for(2)
    assert expired.calls == [(idle, CloseCause.IDLE), (brief, CloseCause.MAX_DURATION)]
    assert len(deadlines) == 1 and lasting.tick != 0


async def test_traffic_moves_the_idle_deadline() -> None:
    expired = _Expired()
    deadlines = Deadlines(expired, tick=TICK)
    conn = _conn(idle=0.3)
    started = time.monotonic()
    deadlines.add(conn)
    for _ in range(8):  # traffic every 0.05 s keeps it open past its first deadline
        await asyncio.sleep(0.05)
        conn.session.touch(time.monotonic())
    assert expired.calls == []
    await expired.wait_for(1)
    assert expired.calls == [(conn, CloseCause.IDLE)]
    assert time.monotonic() - started >= 0.4 + 0.3


async def test_discard_takes_any_connection_out_of_its_tick() -> None:
    expired = _Expired()
    deadlines = Deadlines(expired, tick=10.0)  # one tick holds them all
    conns = [_conn() for _ in range(5)]
    for conn in conns:
        deadlines.add(conn)
    assert {conn.tick for conn in conns} == {conns[0].tick}
    for gone in (conns[1], conns[4], conns[0]):  # middle, last, first: the last fills the gap
        deadlines.discard(gone)
        assert gone.tick == 0
    assert len(deadlines) == 2
    deadlines.discard(conns[1])  # twice: nothing left to do
    for conn in (conns[2], conns[3]):
        deadlines.discard(conn)
    assert len(deadlines) == 0
    assert not deadlines._timers  # the tick's timer went with its last connection


async def test_closing_connections_are_skipped_and_discards_while_due_are_safe() -> None:
    done: list[LiveConnection] = []
    conns = [_conn(idle=0.01) for _ in range(3)]

    def expire(conn: LiveConnection, cause: CloseCause) -> None:
        # Closing one may end others at once: their discard finds them in no list.
        done.append(conn)
        for other in conns:
            deadlines.discard(other)
        conns[2].session.close(CloseCause.DELETED)

    deadlines = Deadlines(expire, tick=TICK)
    for conn in conns:
        deadlines.add(conn)
    while not done:
        await asyncio.sleep(TICK)
    await asyncio.sleep(3 * TICK)
    assert done[0] is conns[0] and conns[2] not in done
    assert len(deadlines) == 0


async def test_what_a_connection_makes_only_when_needed() -> None:
    conn = _conn()
    assert conn.tasks is None and conn.ended is None and conn.groups == frozenset()
    conn.mark_ended()  # nobody waits: nothing to make
    assert conn.ended is None

    async def work() -> None:
        await asyncio.sleep(0)

    task = asyncio.ensure_future(work())
    conn.keep(task)
    assert conn.tasks == {task}
    await task
    await asyncio.sleep(0)
    assert conn.tasks == set()  # let go once done

    waiter = asyncio.ensure_future(conn.wait_ended())
    await asyncio.sleep(0)
    assert not waiter.done() and conn.ended is not None
    conn.mark_ended()
    await asyncio.wait_for(waiter, 5)
