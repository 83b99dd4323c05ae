"""Recent requests and connection events, kept in memory to answer "what happened to it?".

Each request leaves one trace: its route and why that route was chosen (or why none was), the
integration, status, latency, the error with its cause, and whether a reply went back. The
store is bounded (oldest entries leave first), optionally sampled, queryable by request id,
connection, route, status, time and text, and followable live (``wsgate logs``).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, Final

from wsgate.core.events import format_iso_time
from wsgate.observability.hooks import ConnectionEvent, ManagementCall, RequestRecord

__all__ = ["TraceFilter", "TraceStore", "explain", "explain_management", "parse_filter"]

_QUEUE_SIZE: Final = 1000

TraceEntry = dict[str, Any]


def explain(record: RequestRecord) -> str:
    """Say in words why a request ended the way it did."""
    value = record.selection
    shown = f"{value!r}" if value is not None else "nothing"
    route = {
        "matched": f"the selection expression gave {shown}, the key of route {record.route_key!r}",
        "not_json": "the message is not a JSON object, so it went to $default",
        "no_match": f"the selection expression gave {shown}; no route has that key, so it went "
        "to $default",
        "no_route": f"the selection expression gave {shown}; no route has that key and there is "
        "no $default route, so the client got Forbidden and no integration was called",
    }.get(record.outcome or "", f"{record.event_type} on {record.route_key}")
    if record.error and record.outcome != "no_route":
        return f"{route}; then it failed: {record.error}"
    if record.event_type == "MESSAGE" and record.outcome != "no_route":
        reply = "a reply was sent" if record.reply_sent else "no reply was sent"
        return f"{route}; integration {record.integration!r} answered {record.status}, {reply}"
    return route


def explain_management(call: ManagementCall) -> str:
    """Say in words what a ``@connections`` call did."""
    target = f"connection {call.connection_id!r}" if call.connection_id else "no connection"
    done = {
        "POST": "the message was handed to the socket",
        "GET": "its details were returned",
        "DELETE": "it is being closed with 1000",
    }
    if call.error_type is None:
        return f"{call.method} to {target}: {done.get(call.method, 'done')}"
    reasons = {
        "GoneException": "the connection is gone (closed, or never existed on this stage)",
        "PayloadTooLargeException": "the message is over 128 KB",
    }
    reason = reasons.get(call.error_type, call.error or call.error_type)
    return f"{call.method} to {target} refused with {call.status} {call.error_type}: {reason}"


class TraceFilter:
    """Which entries a query or a follower wants."""

    __slots__ = ("connection_id", "route", "since_ms", "status", "text")

    def __init__(
        self,
        *,
        connection_id: str | None = None,
        route: str | None = None,
        status: int | None = None,
        since_ms: int | None = None,
        text: str | None = None,
    ) -> None:
        self.connection_id = connection_id
        self.route = route
        self.status = status
        self.since_ms = since_ms
        self.text = text.lower() if text else None

    def matches(self, entry: TraceEntry) -> bool:
        """True when the entry passes every given condition."""
        if self.connection_id is not None and entry.get("connectionId") != self.connection_id:
            return False
        if self.route is not None and entry.get("routeKey") != self.route:
            return False
        if self.status is not None and entry.get("status") != self.status:
            return False
        if self.since_ms is not None and entry.get("timeEpoch", 0) < self.since_ms:
            return False
        return self.text is None or self.text in repr(entry).lower()


class TraceStore:
    """A bounded, queryable, followable record of recent requests (an Observer)."""

    def __init__(
        self,
        capacity: int = 10_000,
        *,
        sample_rate: float = 1.0,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self._entries: deque[TraceEntry] = deque(maxlen=capacity)
        self._by_request: dict[str, TraceEntry] = {}
        self._sample_rate = sample_rate
        self._chance = chance
        self._followers: list[tuple[TraceFilter, asyncio.Queue[TraceEntry]]] = []

    def on_request(self, record: RequestRecord) -> None:
        """Keep a trace of one request (errors always; others as sampled)."""
        if record.error is None and self._sample_rate < 1.0 and self._chance() >= self._sample_rate:
            return
        entry = {"type": "request", **_camel(asdict(record)), "why": explain(record)}
        entry["details"] = [dict(step) for step in record.details]
        entry["timeEpoch"] = record.request_time_ms
        entry["time"] = format_iso_time(record.request_time_ms)
        self._keep(entry)
        self._by_request[record.request_id] = entry

    def on_connection(self, event: ConnectionEvent) -> None:
        """Keep a connection's open or close."""
        entry = {
            "type": "connection",
            "message": "connection open" if event.opened else "connection closed",
            **_camel(asdict(event)),
            "timeEpoch": event.at_ms,
            "time": format_iso_time(event.at_ms),
        }
        self._keep(entry)

    def on_management(self, call: ManagementCall) -> None:
        """Keep a ``@connections`` call (always: there are few, and they explain deliveries)."""
        entry = {
            "type": "management",
            **_camel(asdict(call)),
            "routeKey": f"@connections {call.method}",
            "why": explain_management(call),
            "timeEpoch": call.time_ms,
            "time": format_iso_time(call.time_ms),
        }
        self._keep(entry)
        self._by_request[call.request_id] = entry

    def find(self, request_id: str) -> TraceEntry | None:
        """The trace of one request, if it is still kept."""
        return self._by_request.get(request_id)

    def query(self, where: TraceFilter, limit: int = 100) -> list[TraceEntry]:
        """The newest ``limit`` entries that match, oldest first."""
        found = [entry for entry in reversed(self._entries) if where.matches(entry)]
        return list(reversed(found[:limit]))

    def follow(self, where: TraceFilter) -> asyncio.Queue[TraceEntry]:
        """A queue that receives every later matching entry; ``unfollow`` it when done."""
        queue: asyncio.Queue[TraceEntry] = asyncio.Queue(_QUEUE_SIZE)
        self._followers.append((where, queue))
        return queue

    def unfollow(self, queue: asyncio.Queue[TraceEntry]) -> None:
        """Stop feeding a follower's queue."""
        self._followers = [(w, q) for w, q in self._followers if q is not queue]

    def _keep(self, entry: TraceEntry) -> None:
        if len(self._entries) == self._entries.maxlen:
            oldest = self._entries[0]
            self._by_request.pop(oldest.get("requestId", ""), None)
        self._entries.append(entry)
        for where, queue in self._followers:
            if where.matches(entry):
                if queue.full():  # a slow follower loses its oldest lines, never the gateway
                    queue.get_nowait()
                queue.put_nowait(entry)


def _camel(fields: dict[str, Any]) -> dict[str, Any]:
    return {_to_camel(name): value for name, value in fields.items()}


def _to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def parse_filter(values: Iterable[tuple[str, str]]) -> TraceFilter:
    """A filter from query parameters (connectionId, route, status, since, text).

    Raises:
        ValueError: ``status`` or ``since`` is not an integer.
    """
    given = dict(values)
    return TraceFilter(
        connection_id=given.get("connectionId"),
        route=given.get("route"),
        status=int(given["status"]) if "status" in given else None,
        since_ms=int(given["since"]) if "since" in given else None,
        text=given.get("text"),
    )
