"""``wsgate trace`` and ``wsgate logs``: what happened to a request, and what is happening.

Both read a running gateway's admin listener (``server.adminPort``). Exit codes: 0 ok,
1 usage, 2 cannot reach the gateway, 3 no such trace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

import aiohttp

__all__ = ["add_parsers", "format_entry"]

EXIT_OK, EXIT_UNREACHABLE, EXIT_NOT_FOUND = 0, 2, 3
_FIELDS = ("status", "routeKey", "integration", "latencyMs", "connectionId")


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``trace`` and ``logs``."""
    trace = subparsers.add_parser("trace", help="show one request's path through the gateway")
    trace.add_argument("admin", help="the admin listener, e.g. http://127.0.0.1:9001")
    trace.add_argument("request_id", metavar="REQUEST_ID")
    trace.add_argument("--json", action="store_true", help="print the raw trace")
    trace.set_defaults(func=_trace_command)

    logs = subparsers.add_parser("logs", help="follow requests and connections as they happen")
    logs.add_argument("admin", help="the admin listener, e.g. http://127.0.0.1:9001")
    logs.add_argument("--connection", help="only this connection id")
    logs.add_argument("--route", help="only this route key")
    logs.add_argument("--status", type=int, help="only this status")
    logs.add_argument("--text", help="only entries containing this text")
    logs.add_argument("--backlog", type=int, default=20, help="recent entries first (default 20)")
    logs.add_argument("--count", type=int, help="exit after this many entries")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.set_defaults(func=_logs_command)


def format_entry(entry: dict[str, Any]) -> str:
    """One readable line for a trace entry."""
    if entry.get("type") == "connection":
        code = entry.get("disconnectStatusCode")
        tail = f" {code} {entry.get('disconnectReason') or ''}".rstrip() if code else ""
        return f"{entry.get('time')} {entry.get('message')} {entry.get('connectionId')}{tail}"
    # A @connections call has no event type; its route key names it ("@connections POST").
    kind = entry.get("eventType") or entry.get("routeKey")
    parts = [f"{entry.get('time')} {kind} {entry.get('requestId')}"]
    parts += [f"{name}={entry[name]}" for name in _FIELDS if entry.get(name) is not None]
    line = " ".join(parts)
    return f"{line}\n    why: {entry.get('why')}" if entry.get("why") else line


def _trace_command(args: argparse.Namespace) -> int:
    return asyncio.run(run_trace(args.admin, args.request_id, as_json=args.json))


async def run_trace(
    admin: str, request_id: str, *, as_json: bool = False, out: TextIO | None = None
) -> int:
    """Print one request's trace; see the module docstring for exit codes."""
    out = out or sys.stdout
    url = f"{admin.rstrip('/')}/_wsgate/traces/{request_id}"
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as reply:
            body = await reply.json(content_type=None)
    except (aiohttp.ClientError, OSError) as error:
        print(f"error: cannot reach {admin}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if reply.status == 404:
        print(f"error: {body.get('message')}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if as_json:
        print(json.dumps(body, indent=2), file=out)
    else:
        for key, value in body.items():
            print(f"{key:>22}: {value}", file=out)
    return EXIT_OK


def _logs_command(args: argparse.Namespace) -> int:
    query = {
        "connectionId": args.connection,
        "route": args.route,
        "status": args.status,
        "text": args.text,
        "backlog": args.backlog,
    }
    params = {key: str(value) for key, value in query.items() if value is not None}
    try:
        return asyncio.run(run_logs(args.admin, params, count=args.count, as_json=args.json))
    except KeyboardInterrupt:
        return EXIT_OK


async def run_logs(
    admin: str,
    params: dict[str, str],
    *,
    count: int | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    """Follow the gateway's entries until interrupted (or ``count`` arrived)."""
    out = out or sys.stdout
    url = f"{admin.rstrip('/')}/_wsgate/logs"
    seen = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, params=params) as reply:
                if reply.status != 200:
                    print(f"error: {reply.status} {await reply.text()}", file=sys.stderr)
                    return EXIT_UNREACHABLE
                async for raw in reply.content:
                    entry = json.loads(raw)
                    print(json.dumps(entry) if as_json else format_entry(entry), file=out)
                    out.flush()
                    seen += 1
                    if count is not None and seen >= count:
                        return EXIT_OK
    except (aiohttp.ClientError, OSError) as error:
        print(f"error: cannot reach {admin}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return EXIT_OK
