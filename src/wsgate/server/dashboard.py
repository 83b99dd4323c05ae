"""The admin listener's live dashboard: its page, and the JSON the page polls.

- ``GET /`` redirects to ``GET /_wsgate/dashboard``, the page;
- ``GET /_wsgate/dashboard/{file}`` serves its scripts and styles from ``wsgate/server/static``;
- ``GET /_wsgate/connections?stage=&limit=`` lists this node's open connections;
- ``GET /_wsgate/stats?seconds=&step=`` gives each route's rate and latency
  (:class:`~wsgate.observability.routestats.RouteStats`).

The message flow and its traces come from ``server/traces.py``; the actions use the
``@connections`` API, so the page adds no new way of changing anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from aiohttp import web

from wsgate.observability.routestats import RouteStats
from wsgate.server.connection import LiveConnection, describe_connection
from wsgate.server.dataplane import DataPlane
from wsgate.server.stamps import now_ms

__all__ = ["DASHBOARD_PATH", "Dashboard", "is_dashboard_path", "load_static_files"]

DASHBOARD_PATH: Final = "/_wsgate/dashboard"
_CONNECTIONS_PATH: Final = "/_wsgate/connections"
_STATS_PATH: Final = "/_wsgate/stats"
_MAX_LIMIT: Final = 10_000
_CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    # Module scripts are refused under any other type.
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page loads nothing from elsewhere; saying so also stops injected markup from running.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Files change only with the package: revalidate each load, answered by a cheap 304.
_STATIC_CACHE: Final = "no-cache"
_NO_STORE: Final = {"Cache-Control": "no-store"}


def is_dashboard_path(path: str) -> bool:
    """True for the paths :class:`Dashboard` answers."""
    return path in ("/", _CONNECTIONS_PATH, _STATS_PATH) or path.startswith(DASHBOARD_PATH)


@dataclass(frozen=True, slots=True)
class _StaticFile:
    body: bytes
    content_type: str
    etag: str


def load_static_files() -> dict[str, _StaticFile]:
    """The page's files by name, read from the package (so they are found in a wheel too)."""
    folder = resources.files("wsgate.server").joinpath("static")
    found: dict[str, _StaticFile] = {}
    if not folder.is_dir():  # installed without its package data: the page says so (404)
        return found
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            found[entry.name] = _StaticFile(body, _CONTENT_TYPES[suffix], etag)
    return found


class Dashboard:
    """Answers the dashboard's requests for one data plane."""

    def __init__(self, dataplane: DataPlane, stats: RouteStats) -> None:
        self._dataplane = dataplane
        self._stats = stats
        # Only names found here are ever served: a request cannot reach any other file.
        self._files = load_static_files()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one dashboard request."""
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"message": "only GET is supported"}, status=405)
        path = request.path
        if path == "/" or path == DASHBOARD_PATH + "/":
            # The page's relative URLs resolve against /_wsgate/dashboard, never a folder.
            return web.Response(status=302, headers={"Location": DASHBOARD_PATH})
        try:
            if path == _CONNECTIONS_PATH:
                return self._connections(request.query)
            if path == _STATS_PATH:
                return self._snapshot(request.query)
        except ValueError:
            message = "limit, seconds and step must be integers"
            return web.json_response({"message": message}, status=400)
        name = _static_name(path)
        if name in self._files:
            return self._file(request, name)
        message = (
            "the dashboard's files are not installed (wsgate/server/static)"
            if not self._files
            else f"no such file: {path}"
        )
        return web.json_response({"message": message}, status=404)

    def _file(self, request: web.BaseRequest, name: str) -> web.Response:
        file = self._files[name]
        headers = {**_PAGE_HEADERS, "Cache-Control": _STATIC_CACHE, "ETag": file.etag}
        if file.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = file.content_type
        return web.Response(body=file.body, headers=headers)

    def _connections(self, query: Mapping[str, str]) -> web.Response:
        stage = query.get("stage") or None
        limit = max(0, min(int(query.get("limit", "100")), _MAX_LIMIT))
        now = now_ms()
        live = [
            conn
            for conn in self._dataplane.live.values()
            if stage is None or conn.stage.name == stage
        ]
        live.sort(key=lambda conn: conn.facts.connected_at, reverse=True)  # newest first
        body = {
            "items": [_describe(conn, now) for conn in live[:limit]],
            "total": len(live),
            "stages": sorted(self._dataplane.stages),
        }
        return web.json_response(body, headers=_NO_STORE)

    def _snapshot(self, query: Mapping[str, str]) -> web.Response:
        seconds = int(query["seconds"]) if "seconds" in query else None
        step = int(query.get("step", "1"))
        return web.json_response(self._stats.snapshot(seconds, step), headers=_NO_STORE)


def _static_name(path: str) -> str:
    """The file a path asks for ("" when it names none)."""
    if path == DASHBOARD_PATH:
        return "index.html"
    folder = DASHBOARD_PATH + "/"
    return path.removeprefix(folder) if path.startswith(folder) else ""


def _describe(conn: LiveConnection, now: int) -> dict[str, object]:
    return {
        "connectionId": conn.facts.connection_id,
        "stage": conn.stage.name,
        "state": conn.session.state.value,
        **describe_connection(conn),
        "ageSeconds": round((now - conn.facts.connected_at) / 1000, 3),
        "idleSeconds": round(max(0, now - conn.session.last_active_at_ms) / 1000, 3),
        "principal": _principal(conn),
    }


def _principal(conn: LiveConnection) -> str | None:
    """The authorizer's principal, when the connection carries one.

    Read defensively: ``LiveConnection.principal`` comes with admission (authorizers, SigV4) and
    may be absent from the build at hand; an authorizer context's ``principalId`` also counts.
    """
    principal = getattr(conn, "principal", None)
    if principal is None:
        authorizer = getattr(conn.facts, "authorizer", None)
        if isinstance(authorizer, Mapping):
            principal = authorizer.get("principalId")
    return None if principal is None else str(principal)
