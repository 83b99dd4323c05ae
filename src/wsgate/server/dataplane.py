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
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Final

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.outcomes import Outcome, Phase, Result, Socket, decide, replied
from wsgate.core.routing import CONNECT, RouteMatch, select_route
from wsgate.core.session import CloseCause, Closing, FrameKind, Session, State, close_for
from wsgate.core.validation import validate_request
from wsgate.eager import Pending, run_first_step
from wsgate.errors import ConnectionNotFound, IntegrationError, ManagementError
from wsgate.integrations.base import Call, message_call
from wsgate.observability.hooks import Observer
from wsgate.observability.logs import log_event
from wsgate.registry.base import ConnectionRecord, ConnectionRegistry
from wsgate.server.admission import Admitted, Gatekeeper, Refusal, Seat
from wsgate.server.connection import Deadlines, LiveConnection, Traffic, describe_connection
from wsgate.server.handshake import (
    authorizer_groups,
    connection_facts,
    read_handshake,
    refuse_upgrade,
)
from wsgate.server.invocation import failed, refuse_handshake, run_connect, run_disconnect
from wsgate.server.registration import Registration
from wsgate.server.reporting import Reporter, frame_step
from wsgate.server.stage import RouteTarget, StageRuntime
from wsgate.server.stamps import new_id, now_ms
from wsgate.server.websocket import GatewayWebSocket

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
# A message whose route key matches no route, without a $default route.
_NO_ROUTE: Final = Refusal(Result.FORBIDDEN, "no route matched and there is no $default route")
# How often a client behind on its reading is checked for progress.
_READER_CHECK_SECONDS: Final = 1.0
_MESSAGE: Final = Phase.MESSAGE  # read once: an enum member lookup costs a little per message
# Gateway-side wait for the client's close reply before dropping the socket.
_CLOSE_TIMEOUT: Final = 5.0


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
        self.gate = gate
        self.groups_key = groups_key
        self.stages = stages
        self.node_id = node_id
        self.domain_name = domain_name
        self.live: dict[str, LiveConnection] = {}
        # Messages still with their integration, on every connection, and the node's cap.
        self.in_flight = 0
        self._max_in_flight = max_in_flight
        self._busy = Refusal(
            Result.THROTTLED,
            f"this node has {max_in_flight} messages in flight (maxMessagesInFlight)",
        )
        # Seats taken per stage: admitted handshakes and open connections (maxConnections).
        self._seats: Counter[str] = Counter()
        self.traffic = traffic or Traffic()
        # Idle and lifetime limits of the open connections (one timer per tick, not each).
        self._deadlines = Deadlines(self.close)
        self._accepting = True
        self.observers = tuple(observers)
        self._report = Reporter(self.observers, tracer)
        # Connections whose socket is gone but whose $disconnect is still running.
        self._ending: set[LiveConnection] = set()
        self.registration = Registration(registry, node_id)

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
            return _json_response(503, {"message": "Service Unavailable"})
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
        limits = stage.config.limits
        ws = GatewayWebSocket(
            frame_limit=limits.frame_size_bytes,
            message_limit=limits.message_size_bytes,
            protocols=(outcome.subprotocol,) if outcome.subprotocol else (),
            autoping=True,
            compress=False,
            timeout=_CLOSE_TIMEOUT,
        )
        try:
            await ws.prepare(request)
        except ConnectionError:  # the client left during $connect: it never opened
            return ws
        transport = request.transport
        if transport is None:
            return ws
        # The transport pauses writers only past the send buffer limit; _send refuses to grow it
        # beyond that, so a send never waits on a client that does not read.
        transport.set_write_buffer_limits(high=limits.send_buffer_bytes)
        session = Session(
            idle_timeout=limits.idle_timeout_seconds,
            max_duration=limits.max_connection_seconds,
            strict=stage.config.aws_strict,
            now=now,
            now_ms=wall_ms,
        )
        conn = LiveConnection(ws, session, facts, stage, transport, handler=asyncio.current_task())
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
                work = self._route(conn, message.data, message.data)
            elif kind is WSMsgType.BINARY:
                refused = session.on_message(FrameKind.BINARY, time.monotonic())
                if refused is not None:
                    await self._close_socket(conn, refused)
                    return refused
                work = self._route(conn, b"", message.data)
            else:
                return await self._on_end(conn, message)
            if work is None:
                continue
            try:
                finished, pending = run_first_step(work)
            except Exception:  # _dispatch handles what it expects; anything else is a bug
                logger.exception("message handling failed on %s", conn.facts.connection_id)
                continue
            if finished:
                continue
            assert isinstance(pending, Pending)
            conn.in_flight += 1
            self.in_flight += 1
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
        self.in_flight -= 1
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

    def _route(
        self, conn: LiveConnection, selectable: str | bytes, body: str | bytes
    ) -> Coroutine[Any, Any, object] | None:
        """Route one message; returns the work to do for it, if any.

        ``selectable`` is what the selection expression reads: the text of a text frame, and
        nothing for a binary frame. AWS would route a binary frame's base64 text the same way,
        so binary frames go to $default (or get Forbidden without one).
        """
        # The stage as deployed now: a redeployed API routes open connections' next message
        # by its new routes (a stage removed since keeps serving the ones it had).
        stage = self.stages.get(conn.stage.name, conn.stage)
        match = select_route(stage.expression, stage.routes, selectable)
        if match.route_key is None:
            return self._refuse(conn, match, _NO_ROUTE)
        if self.in_flight >= self._max_in_flight:
            return self._refuse(conn, match, self._busy)
        gate = self.gate
        if gate is not None and gate.checks_messages:
            refusal = gate.check_message(
                stage.name, match.route_key, conn.api_key, conn.principal, conn.bucket
            )
            if refusal is not None:
                return self._refuse(conn, match, refusal)
        target = stage.routes[match.route_key]
        if target is None:
            return None
        if target.validation is not None:  # §4.5: a refused body never reaches the backend
            problem = validate_request(target.validation, body, clock=time.monotonic)
            if problem is not None:
                return self._refuse(conn, match, Refusal(Result.BAD_REQUEST_BODY, problem))
        return self._dispatch(conn, target, body, match)

    async def _refuse(self, conn: LiveConnection, match: RouteMatch, refusal: Refusal) -> None:
        """Answer a message that goes nowhere (no route, a throttle, no API key, a body its
        model refuses), as AWS does."""
        started = time.monotonic()
        facts = conn.facts
        call = Call(facts, match.route_key or "", new_id(), now_ms(), 0, message_id=new_id())
        outcome = decide(
            Phase.MESSAGE,
            refusal.result,
            problem=refusal.reason,
            connection_id=facts.connection_id,
            request_id=call.request_id,
            message_id=call.message_id or "",
        )
        assert outcome.frame is not None  # every refusal answers with an error frame
        sent = self._send(conn, outcome.frame)
        self._report.request(
            call, outcome, integration=None, started=started, match=match, sent=sent
        )
        log_event(
            logger,
            logging.INFO,
            f"message refused: {refusal.reason}",
            requestId=call.request_id,
            connectionId=facts.connection_id,
            routeKey=match.route_key,
            selection=match.selection_value,
            outcome=match.outcome.value,
            status=outcome.status,
        )

    async def _dispatch(
        self, conn: LiveConnection, target: RouteTarget, body: str | bytes, match: RouteMatch
    ) -> None:
        facts = conn.facts
        request_id = new_id()
        # The hot path skips even the call when nobody collects spans.
        report = self._report
        span = None if report.tracer is None else report.begin(facts, target.route_key, request_id)
        call = message_call(
            facts,
            target.route_key,
            request_id,
            now_ms(),
            target.timeout_ms,
            target.two_way,
            body,
            new_id(),
            [] if self.observers else None,
            span.headers if span is not None else (),
        )
        started = time.monotonic()
        outcome: Outcome | None = None
        try:
            frame = await target.integration.message(call)
        except IntegrationError as error:
            outcome = failed(_MESSAGE, call, error)
            frame = outcome.frame
        delivered = frame is not None and self._send(conn, frame)
        if call.trace is not None:
            call.trace.append(frame_step(frame, delivered, target.two_way))
        if outcome is None:
            if report.silent:
                return  # nothing would be logged, recorded or traced
            outcome = replied(frame)
        report.request(
            call,
            outcome,
            integration=target.integration_name,
            started=started,
            match=match,
            sent=delivered and outcome.error_kind is None,
            span=span,
        )

    def _send(self, conn: LiveConnection, data: str | bytes) -> bool:
        """Hand one message to the socket; False when the connection is gone, or so far behind
        that its unsent data would pass twice ``sendBufferBytes``.

        A client is judged by its progress, not by one write: a reply larger than the buffer,
        or a burst, is sent; once more than ``sendBufferBytes`` wait, a watch starts, and only
        a client that reads nothing for ``slowReaderSeconds`` is dropped as a slow reader.
        """
        session = conn.session
        if session.state is not State.OPEN:
            return False
        ws = conn.ws
        size = len(data)
        buffered = ws.buffered_bytes()
        limit = conn.stage.config.limits.send_buffer_bytes
        if buffered + size > limit:
            if buffered > limit and buffered + size > 2 * limit:
                return False  # memory stays bounded: the caller reports it undelivered
            if conn.watch is None:
                self._watch_reader(conn, buffered + size, time.monotonic())
        if not ws.send_now(data):
            return False
        session.touch(time.monotonic())
        traffic = self.traffic
        traffic.messages_out += 1
        traffic.length_out += size
        return True

    def _watch_reader(self, conn: LiveConnection, buffered: int, since: float) -> None:
        """Check again later whether a client behind on its reading makes progress."""
        conn.behind = buffered
        loop = asyncio.get_running_loop()
        conn.watch = loop.call_later(_READER_CHECK_SECONDS, self._check_reader, conn, since)

    def _check_reader(self, conn: LiveConnection, since: float) -> None:
        conn.watch = None
        if conn.session.state is not State.OPEN:
            return
        limits = conn.stage.config.limits
        buffered = conn.ws.buffered_bytes()
        if buffered <= limits.send_buffer_bytes:
            return  # caught up
        now = time.monotonic()
        if buffered < conn.behind:
            self._watch_reader(conn, buffered, now)  # it reads: time starts again
        elif now - since >= limits.slow_reader_seconds:
            self.close(conn, CloseCause.SLOW_READER)
        else:
            self._watch_reader(conn, buffered, since)

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
        facts = ConnectionFacts(
            connection_id=record.connection_id,
            connected_at=record.connected_at_ms,
            source_ip=record.source_ip,
            user_agent=record.user_agent,
            api_id=self.api_id,
            stage=stage.name,
            domain_name=self.domain_name or "",
            stage_variables=dict(stage.config.stage_variables),
            authorizer=record.authorizer,
        )
        closing = close_for(CloseCause.NODE_LOST)
        log_event(
            logger,
            logging.INFO,
            "connection lost with its node",
            connectionId=record.connection_id,
            node=record.node_id,
            stage=record.stage,
        )
        await run_disconnect(self._report, facts, stage, closing)

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
        conn = self.find(stage, connection_id)
        if not self._send(conn, data):
            if conn.session.state is State.OPEN:  # open, but too far behind on its reading
                waiting = conn.ws.buffered_bytes()
                message = f"the client has {waiting} bytes it has not read yet; try again later"
                raise ManagementError(429, "LimitExceededException", message)
            raise ConnectionNotFound(connection_id)
        conn.ws.flush()  # 200 means the frame is in the socket's transport, not in a batch

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
        ending = [*self.live.values(), *self._ending]
        waits = [asyncio.ensure_future(conn.wait_ended()) for conn in ending]
        if waits:
            timeout = max(0.0, deadline - time.monotonic())
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for waiter in pending:
                waiter.cancel()
        # Handlers whose $disconnect outlived the deadline, and those of connections that
        # opened since (their $connect was under way when shutdown began).
        handlers = (conn.handler for conn in (*self.live.values(), *self._ending))
        leftovers = [task for task in handlers if task is not None and not task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=1.0)


def _json_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)
