"""The admin listener's trace endpoints, read by ``wsgate trace`` and ``wsgate logs``.

``GET /_wsgate/traces?connectionId=&route=&status=&since=&text=&limit=`` lists recent entries;
``GET /_wsgate/traces/{requestId}`` returns one request's trace; ``GET /_wsgate/logs?...`` streams
matching entries as they happen, one JSON object per line (after ``backlog`` recent ones).
"""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from wsgate.observability.tracing import TraceFilter, TraceStore, parse_filter

__all__ = ["TRACE_PATHS", "serve_traces"]

TRACE_PATHS: Final = ("/_wsgate/traces", "/_wsgate/logs")
_MAX_LIMIT: Final = 10_000


async def serve_traces(request: web.BaseRequest, store: TraceStore) -> web.StreamResponse:
    """Answer one trace request."""
    if request.method != "GET":
        return web.json_response({"message": "only GET is supported"}, status=405)
    try:
        where = parse_filter(request.query.items())
        limit = min(int(request.query.get("limit", "100")), _MAX_LIMIT)
        backlog = min(int(request.query.get("backlog", "0")), _MAX_LIMIT)
    except ValueError:
        message = "status, since, limit and backlog must be integers"
        return web.json_response({"message": message}, status=400)
    path = request.path.rstrip("/")
    if path == "/_wsgate/logs":
        return await _follow(request, store, where, backlog)
    if path == "/_wsgate/traces":
        return web.json_response({"items": store.query(where, limit)}, dumps=_dumps)
    request_id = path.removeprefix("/_wsgate/traces/")
    entry = store.find(request_id)
    if entry is None:
        message = f"no trace of request {request_id!r} (unknown, or no longer kept)"
        return web.json_response({"message": message}, status=404)
    return web.json_response(entry, dumps=_dumps)


async def _follow(
    request: web.BaseRequest, store: TraceStore, where: TraceFilter, backlog: int
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    queue = store.follow(where)
    try:
        for entry in store.query(where, backlog) if backlog else []:
            await response.write(_line(entry))
        while True:
            await response.write(_line(await queue.get()))
    except (ConnectionError, RuntimeError):
        pass  # the follower went away
    finally:
        store.unfollow(queue)
    return response


def _line(entry: object) -> bytes:
    return (_dumps(entry) + "\n").encode()


def _dumps(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
