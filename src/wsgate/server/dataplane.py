"""The WebSocket data plane: handshakes, ``$connect``, messages, timers, ``$disconnect``.

Each socket event goes to the pure core (routing, events, responses, session) and the decisions
come back here to be carried out: call an integration, send a frame, close. Close codes for
failures are chosen in ``core.session``; this module only maps engine errors onto its causes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.outcomes import Socket
from wsgate.core.routing import CONNECT
from wsgate.core.session import CloseCause, Closing, FrameKind, State
from wsgate.eager import Pending, run_first_step
from wsgate.errors import ConnectionNotFound
from wsgate.observability.hooks import Observer
from wsgate.observability.logs import log_event
from wsgate.registry.base import ConnectionRecord, ConnectionRegistry
from wsgate.server.admission import Admitted, Gatekeeper, Seat
from wsgate.server.connection import (
    Deadlines,
    LiveConnection,
    Traffic,
    cancel_handlers,
    describe_connection,
    upgrade,
    wait_ended,
)
from wsgate.server.handshake import (
    authorizer_groups,
    connection_facts,
    read_handshake,
    refuse_upgrade,
)
from wsgate.server.invocation import (
    refuse_handshake,
    run_connect,
    run_disconnect,
    run_lost_disconnect,
)
from wsgate.server.messages import MessageRouter
from wsgate.server.outbound import Outbound
from wsgate.server.registration import Registration
from wsgate.server.reporting import Reporter
from wsgate.server.stage import StageRuntime
from wsgate.server.stamps import now_ms

if TYPE_CHECKING:  # OpenTelemetry is an optional extra, imported only when configured
    from wsgate.observability.otel import RequestTracer

__all__ = ["DataPlane"]

logger = logging.getLogger(__name__)

# Engine close codes that mean "the client broke the protocol" rather than "too big".
_ENGINE_CAUSES: Final = {
    WSCloseCode.MESSAGE_TOO_BIG: CloseCause.MESSAGE_TOO_BIG,
    WSCloseCode.INVALID_TEXT: CloseCause.INVALID_TEXT,
    WSCloseCode.PROTOCOL_ERROR: CloseCause.PROTOCOL_ERROR,
}


class DataPlane:
    """Serves WebSocket clients for every stage of one API.

    Args:
        observers: access logs, metrics, traces; with none, no record is ever built.
        traffic: the message counters this node's metrics read.
        gate: authorization, API keys and throttles; None when the API has none of them.
        groups_key: the authorizer context key whose value lists groups to join
            (``groupsFromAuthorizer``).
    """

    def __init__(
        self,
        *,
        api_id: str,
        stages: dict[str, StageRuntime],
        registry: ConnectionRegistry,
        node_id: str,
        domain_name: str | None,
        observers: Sequence[Observer] = (),
        traffic: Traffic | None = None,
        tracer: RequestTracer | None = None,
        gate: Gatekeeper | None = None,
        groups_key: str | None = None,
        max_in_flight: int = 10_000,
    ) -> None:
        self.api_id = api_id
        self.groups_key = groups_key
        self.node_id = node_id
        self.domain_name = domain_name
        self.live: dict[str, LiveConnection] = {}
        # Seats taken per stage: admitted handshakes and open connections (maxConnections).
        self._seats: Counter[str] = Counter()
        self.traffic = traffic or Traffic()
        # Idle and lifetime limits of the open connections (one timer per tick, not each).
        self._deadlines = Deadlines(self.close)
        self._accepting = True
        self.observers = tuple(observers)
        self._report = Reporter(self.observers, tracer)
        # Every frame to a client goes through it; the hot path holds the bound method.
        self.outbound = Outbound(self.traffic, self.close)
        self._send = self.outbound.send
        self.router = MessageRouter(
            stages=stages,
            gate=gate,
            report=self._report,
            send=self._send,
            max_in_flight=max_in_flight,
        )
        # Connections whose socket is gone but whose $disconnect is still running.
        self._ending: set[LiveConnection] = set()
        self.registration = Registration(registry, node_id)

    @property
    def stages(self) -> dict[str, StageRuntime]:
        """The stages as deployed now (a redeploy replaces them; open connections keep theirs
        until their next message)."""
        return self.router.stages

    @stages.setter
    def stages(self, stages: dict[str, StageRuntime]) -> None:
        self.router.stages = stages

    @property
    def gate(self) -> Gatekeeper | None:
        """Authorization, API keys and throttles; None when the API has none of them."""
        return self.router.gate

    @gate.setter
    def gate(self, gate: Gatekeeper | None) -> None:
        self.router.gate = gate

    @property
    def in_flight(self) -> int:
        """Messages still with their integration, on every connection of this node."""
        return self.router.in_flight

    # -- handshake -------------------------------------------------------------------------

    async def handle_upgrade(
        self, request: web.BaseRequest, stage: StageRuntime
    ) -> web.StreamResponse:
        """Answer one upgrade request: run ``$connect``, then serve the socket until it closes."""
        # Taken at admission and held until the end; only the gate counts seats.
        seat = Seat(self._seats, stage.name) if self.gate is not None else None
        try:
            opened = await self._open(request, stage, seat)
            if not isinstance(opened, LiveConnection):
                return opened
            # This task reads first; if a message's work has to wait, the reading moves to a
            # new task (see _receive_loop). The handler returns only once the connection has
            # ended. What the opening needed is gone by now, and the reading is _read's, done
            # in this frame: every idle connection waits in this chain, and each frame in it
            # costs each connection memory.
            try:
                closing = await self._receive_loop(opened)
            except Exception:  # the one catch-all: log, close with 1011
                closing = await self._fail(opened)
            if closing is not None:
                await self._finish(opened, closing)
            elif opened.session.state is not State.CLOSED:
                await opened.wait_ended()
            return opened.ws
        finally:
            if seat is not None:
                seat.release()

    async def _open(
        self, request: web.BaseRequest, stage: StageRuntime, seat: Seat | None
    ) -> LiveConnection | web.StreamResponse:
        """Check the handshake, run ``$connect`` and upgrade: the open, registered connection,
        or the answer that refused it."""
        if not self._accepting:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        refusal = refuse_upgrade(request)  # before $connect: a bad handshake calls nothing
        if refusal is not None:
            return refusal
        now, wall_ms = time.monotonic(), now_ms()
        facts = connection_facts(request, stage, wall_ms, self.api_id, self.domain_name)
        # Only a $connect integration and the gate read the request's headers and query.
        handshake = (
            read_handshake(request) if self.gate is not None or CONNECT in stage.routes else None
        )
        admitted: Admitted | None = None
        if self.gate is not None:
            assert handshake is not None and seat is not None
            gate = await self._admit(request, facts, handshake, seat)
            if isinstance(gate, web.Response):
                return gate
            admitted, facts = gate, gate.facts
        outcome = await run_connect(self._report, stage, facts, handshake, admitted)
        if outcome.socket is not Socket.OPENS:
            return web.Response(status=outcome.status)
        conn = await upgrade(request, stage, facts, outcome.subprotocol, now, wall_ms)
        if not isinstance(conn, LiveConnection):
            return conn  # the client left during $connect: it never opened
        if admitted is not None and self.gate is not None:
            conn.api_key, conn.principal = admitted.api_key, admitted.principal
            conn.bucket = self.gate.connection_bucket(stage.name)
        if outcome.groups or self.groups_key is not None:
            conn.groups = frozenset(outcome.groups) | authorizer_groups(self.groups_key, facts)
        await self._start(conn)
        return conn

    async def _admit(
        self,
        request: web.BaseRequest,
        facts: ConnectionFacts,
        handshake: Handshake,
        seat: Seat,
    ) -> Admitted | web.Response:
        """The gate's checks before ``$connect``; a refusal is answered and reported here."""
        assert self.gate is not None
        started = time.monotonic()
        outcome = await self.gate.admit(request, facts, handshake, seat)
        if isinstance(outcome, Admitted):
            return outcome
        return refuse_handshake(self._report, facts, outcome, started)

    # -- the open socket -------------------------------------------------------------------

    async def _start(self, conn: LiveConnection) -> None:
        """The connection is open: addressable, registered, timed, logged."""
        connection_id = conn.facts.connection_id
        conn.session.open()
        self.live[connection_id] = conn
        await self.registration.register(conn)
        self._deadlines.add(conn)
        if logger.isEnabledFor(logging.INFO):
            log_event(
                logger,
                logging.INFO,
                "connection open",
                connectionId=connection_id,
                stage=conn.stage.name,
                sourceIp=conn.facts.source_ip,
            )
        if self.observers:
            self._report.connection(conn, None)

    async def _read(self, conn: LiveConnection) -> None:
        """Read until the connection ends or another task takes over the reading."""
        try:
            closing = await self._receive_loop(conn)
        except Exception:  # the one catch-all: log, close with 1011
            closing = await self._fail(conn)
        if closing is not None:
            await self._finish(conn, closing)

    async def _fail(self, conn: LiveConnection) -> Closing:
        """The reading failed (a bug): log it with its traceback and close with 1011."""
        logger.exception("connection %s failed", conn.facts.connection_id)
        closing = conn.session.close(CloseCause.INTERNAL)
        await self._close_socket(conn, closing)
        return closing

    async def _receive_loop(self, conn: LiveConnection) -> Closing | None:
        """Handle messages as they arrive; None when the reading moved to another task.

        A message's work runs right here, in this task, and most of it finishes without ever
        waiting: no task per message. When one has to wait (a worker process, a slow handler),
        this task stays with it, so it runs in one task from start to end as asyncio expects,
        and a new task goes on reading. Messages never wait for each other.
        """
        ws = conn.ws
        session = conn.session
        traffic = self.traffic
        router = self.router
        route = router.route
        while True:
            if conn.in_flight and conn.in_flight >= conn.stage.config.limits.max_messages_in_flight:
                await self._room(conn)  # backpressure: the client's sends wait in TCP
            message = await ws.receive()
            kind = message.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                traffic.messages_in += 1
                traffic.length_in += len(message.data)
            if kind is WSMsgType.TEXT:
                session.touch(time.monotonic())
                work = route(conn, message.data, message.data)
            elif kind is WSMsgType.BINARY:
                refused = session.on_message(FrameKind.BINARY, time.monotonic())
                if refused is not None:
                    await self._close_socket(conn, refused)
                    return refused
                work = route(conn, b"", message.data)
            else:
                return await self._on_end(conn, message)
            if work is None:
                continue
            try:
                finished, pending = run_first_step(work)
            except Exception:  # the router handles what it expects; anything else is a bug
                logger.exception("message handling failed on %s", conn.facts.connection_id)
                continue
            if finished:
                continue
            assert isinstance(pending, Pending)
            conn.in_flight += 1
            router.in_flight += 1
            if pending.detached:  # a worker or a handler thread answers it: this task reads on
                pending.continue_detached(functools.partial(self._detached_landed, conn))
                continue
            conn.keep(asyncio.ensure_future(self._read(conn)))
            try:
                await pending.resume()
            except Exception:
                logger.exception("message handling failed on %s", conn.facts.connection_id)
            finally:
                self._landed(conn)
            return None

    async def _room(self, conn: LiveConnection) -> None:
        """Wait until the connection has fewer messages in flight than its stage allows."""
        limit = conn.stage.config.limits.max_messages_in_flight
        while conn.in_flight >= limit and conn.session.closing is None:
            conn.room = room = conn.room or asyncio.Event()
            room.clear()
            await room.wait()

    def _landed(self, conn: LiveConnection) -> None:
        """A message's work is over: its place in flight is free again."""
        conn.in_flight -= 1
        self.router.in_flight -= 1
        if conn.room is not None:
            conn.room.set()

    def _detached_landed(self, conn: LiveConnection, error: BaseException | None) -> None:
        """The end of a message's work that finished without a task (``continue_detached``)."""
        if isinstance(error, Exception):
            logger.error(
                "message handling failed on %s",
                conn.facts.connection_id,
                exc_info=(type(error), error, error.__traceback__),
            )
        self._landed(conn)

    async def _on_end(self, conn: LiveConnection, message: WSMessage) -> Closing:
        session = conn.session
        if session.closing is not None:  # we closed first (DELETE, timers, shutdown, limits)
            return session.closing
        if message.type is WSMsgType.CLOSE:
            # aiohttp reports a close frame without a body as code 0. The socket does not
            # answer by itself (no autoclose): the answer carries the code close_for decides
            # (the client's own, or 1002), without draining, as autoclose did: the client
            # may already be gone.
            code = message.data or None
            closing = session.close(CloseCause.CLIENT, code, message.extra or "")
            reason = closing.close_reason.encode()
            await conn.ws.close(code=closing.close_code, message=reason, drain=False)
            return closing
        if message.type is WSMsgType.ERROR and isinstance(message.data, WebSocketError):
            cause = _ENGINE_CAUSES.get(WSCloseCode(message.data.code), CloseCause.PROTOCOL_ERROR)
            return session.close(cause)
        # The stream ended without a close frame (CLOSED, or an error of the transport).
        return session.close(CloseCause.ABNORMAL)

    # -- timers and closing ----------------------------------------------------------------

    def close(self, conn: LiveConnection, cause: CloseCause) -> asyncio.Task[None] | None:
        """Close a connection for a server-side cause; returns the closing task."""
        if conn.session.closing is not None:
            return None
        closing = conn.session.close(cause)
        if conn.room is not None:
            conn.room.set()  # a reading held back by messages in flight must see the close
        if cause is CloseCause.SLOW_READER:
            # It would not read a close frame either: drop the TCP connection at once.
            conn.transport.abort()
            return None
        task = asyncio.ensure_future(self._close_socket(conn, closing))
        conn.keep(task)
        return task

    async def _close_socket(self, conn: LiveConnection, closing: Closing) -> None:
        try:
            await conn.ws.close(code=closing.close_code, message=closing.close_reason.encode())
        except (ConnectionError, RuntimeError):
            pass

    async def _finish(self, conn: LiveConnection, closing: Closing) -> None:
        """Forget the connection and run ``$disconnect`` exactly once."""
        connection_id = conn.facts.connection_id
        self._deadlines.discard(conn)
        if conn.watch is not None:
            conn.watch.cancel()
        if not conn.ws.closed:
            await self._close_socket(conn, closing)
        self._ending.add(conn)
        self.live.pop(connection_id, None)
        # False when another node already ran this connection's $disconnect (see abandon_all).
        ours = await self.registration.unregister(conn)
        if logger.isEnabledFor(logging.INFO):
            log_event(
                logger,
                logging.INFO,
                "connection closed",
                connectionId=connection_id,
                stage=conn.stage.name,
                cause=closing.cause.value,
                disconnectStatusCode=closing.disconnect_status_code,
                disconnectReason=closing.disconnect_reason,
                durationMs=now_ms() - conn.facts.connected_at,
            )
        if self.observers:
            self._report.connection(conn, closing)
        if ours:
            await run_disconnect(self._report, conn.facts, conn.stage, closing)
        conn.session.finish()
        conn.mark_ended()
        self._ending.discard(conn)

    @property
    def accepting(self) -> bool:
        """False once shutdown began: new handshakes get 503."""
        return self._accepting

    # -- other nodes ---------------------------------------------------------------------------

    def abandon_all(self) -> None:
        """Close every socket without ``$disconnect``: another node has run it already."""
        for conn in list(self.live.values()):
            conn.abandoned = True
            self.close(conn, CloseCause.SHUTDOWN)

    async def disconnect_lost(self, record: ConnectionRecord) -> None:
        """Run ``$disconnect`` for a connection whose node died (it is already unregistered)."""
        stage = self.stages.get(record.stage)
        if stage is None:
            return
        await run_lost_disconnect(self._report, record, stage, self.api_id, self.domain_name)

    def stage_connections(self, stage: str) -> list[str]:
        """The ids of this node's open connections on a stage."""
        return [cid for cid, conn in self.live.items() if conn.stage.name == stage]

    def last_active(self) -> dict[str, int]:
        """When each open connection was last active (epoch ms)."""
        return {cid: conn.session.last_active_at_ms for cid, conn in self.live.items()}

    def describe(self, stage: str, connection_id: str) -> dict[str, object]:
        """``GetConnection``'s answer for a connection on this node.

        Raises:
            ConnectionNotFound: not open here.
        """
        return describe_connection(self.find(stage, connection_id))

    # -- used by the management API ----------------------------------------------------------

    def find(self, stage: str, connection_id: str) -> LiveConnection:
        """The open connection with this id on this stage.

        Raises:
            ConnectionNotFound: unknown, closing, or still inside ``$connect``.
        """
        conn = self.live.get(connection_id)
        if conn is None or conn.stage.name != stage or not conn.session.addressable:
            raise ConnectionNotFound(connection_id)
        return conn

    async def post(self, stage: str, connection_id: str, data: str | bytes) -> None:
        """Send one message; returns once the frame is in the socket's transport.

        Raises:
            ConnectionNotFound: the connection is gone (or goes while sending).
            ManagementError: 429 ``LimitExceededException``, the client is so far behind on its
                reading that the gateway holds twice ``sendBufferBytes`` for it already.
        """
        self.outbound.post(self.find(stage, connection_id), data)

    def delete(self, stage: str, connection_id: str) -> None:
        """Close a connection with 1000 as ``DeleteConnection`` does.

        Raises:
            ConnectionNotFound: the connection is gone.
        """
        conn = self.find(stage, connection_id)
        self.close(conn, CloseCause.DELETED)

    # -- shutdown ------------------------------------------------------------------------------

    async def shutdown(self, deadline: float) -> None:
        """Close every connection with 1001; wait until ``deadline`` for their ``$disconnect``."""
        self._accepting = False
        for conn in list(self.live.values()):
            self.close(conn, CloseCause.SHUTDOWN)
        # Connections already ending count too: their $disconnect must finish before the
        # integrations stop.
        await wait_ended([*self.live.values(), *self._ending], deadline)
        # Handlers whose $disconnect outlived the deadline, and those of connections that
        # opened since (their $connect was under way when shutdown began).
        await cancel_handlers([*self.live.values(), *self._ending])
