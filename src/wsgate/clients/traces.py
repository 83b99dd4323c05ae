"""``wsgate trace`` and ``wsgate logs``: what happened to a request, and what is happening.

Both read a running gateway's admin listener (``--admin-port``, ``server.adminPort``), which
keeps traces unless ``server.traceBufferSize`` is 0. Pointed anywhere else they say so, and
how to fix it, instead of printing whatever answered: the public listener answers every unknown
path with AWS's 403 ``{"message": "Forbidden"}``, and an admin listener without traces answers
404 ``Not Found`` for the trace paths. Only a 404 from a listener that does serve traces means
an unknown request id; the list endpoint, which answers 200 wherever traces are kept, tells the
two 404s apart, and ``/_wsgate/health``, served by admin listeners alone, names the listener.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import os
import sys
import urllib.parse
from http import HTTPStatus
from typing import Any, Final, TextIO

import aiohttp

from wsgate.clients import positive_int
from wsgate.security.local import load_local_secrets

__all__ = ["ExitCode", "add_parsers", "format_entry", "run_logs", "run_trace"]


class ExitCode(enum.IntEnum):
    """Exit statuses of ``wsgate trace`` and ``wsgate logs``."""

    OK = 0
    UNAVAILABLE = 1
    USAGE = 2
    NOT_FOUND = 3


_FIELDS = ("status", "routeKey", "integration", "latencyMs", "connectionId")

_EPILOG = """\
ADMIN is the gateway's admin listener, e.g. http://127.0.0.1:9001: start the gateway with
--admin-port PORT (or server.adminPort in its config); traces are kept unless
server.traceBufferSize is 0.

exit status:
  0  success (logs: --count entries arrived, or interrupted with Ctrl-C)
  1  the gateway cannot be reached, or serves no traces at ADMIN
  2  usage error
  3  no trace of that request id (trace only)
"""

_ENABLE: Final = (
    "Traces are served by the admin listener: start the gateway with --admin-port PORT "
    "(or server.adminPort in its config) and point this command at http://127.0.0.1:PORT"
)
_TRACES_OFF: Final = (
    "Set server.traceBufferSize above 0 in the gateway's config (0 turns traces off) and "
    "restart it; traces are served on the admin listener (--admin-port PORT or "
    "server.adminPort) at http://127.0.0.1:PORT"
)


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``trace`` and ``logs``."""
    trace = subparsers.add_parser(
        "trace",
        help="show one request's path through the gateway",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument("admin", help="the admin listener, e.g. http://127.0.0.1:9001")
    trace.add_argument("request_id", metavar="REQUEST_ID")
    trace.add_argument("--json", action="store_true", help="print the raw trace")
    _add_token_argument(trace)
    trace.set_defaults(func=_trace_command)

    logs = subparsers.add_parser(
        "logs",
        help="follow requests and connections as they happen",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    logs.add_argument("admin", help="the admin listener, e.g. http://127.0.0.1:9001")
    logs.add_argument("--connection", help="only this connection id")
    logs.add_argument("--route", help="only this route key")
    logs.add_argument("--status", type=int, help="only this status")
    logs.add_argument("--text", help="only entries containing this text")
    logs.add_argument(
        "--backlog", type=_non_negative_int, default=20, help="recent entries first (default 20)"
    )
    logs.add_argument("--count", type=positive_int, help="exit after this many entries")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_token_argument(logs)
    logs.set_defaults(func=_logs_command)


def _add_token_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        help="the admin listener's token (default: $WSGATE_ADMIN_TOKEN, else the local one in "
        "$WSGATE_HOME/admin-token, ~/.wsgate/admin-token)",
    )


def admin_headers(token: str | None = None) -> dict[str, str]:
    """The Authorization header for the admin listener: ``token``, the environment's, or the
    local one; none when there is none (a listener that needs no token)."""
    token = token or os.environ.get("WSGATE_ADMIN_TOKEN")
    if not token:
        local = load_local_secrets(create=False)
        token = local.admin_token if local is not None else None
    return {"Authorization": f"Bearer {token}"} if token else {}


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
    headers = admin_headers(args.token)
    return asyncio.run(run_trace(args.admin, args.request_id, as_json=args.json, headers=headers))


async def run_trace(
    admin: str,
    request_id: str,
    *,
    as_json: bool = False,
    out: TextIO | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """Print one request's trace; return the exit status (see :class:`ExitCode`)."""
    out = out or sys.stdout
    headers = headers if headers is not None else admin_headers()
    base = admin.rstrip("/")
    url = f"{base}/_wsgate/traces/{urllib.parse.quote(request_id, safe='')}"
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            status, body = await _get_json(session, url)
            if status == HTTPStatus.OK and isinstance(body, dict):
                _print_trace(body, as_json, out)
                return ExitCode.OK
            if status == HTTPStatus.NOT_FOUND and await _serves_traces(session, base):
                message = body.get("message") if isinstance(body, dict) else None
                print(f"error: {message or f'no trace of request {request_id!r}'}", file=sys.stderr)
                return ExitCode.NOT_FOUND
            print(f"error: {await _explain(session, admin, status, body)}", file=sys.stderr)
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        print(f"error: cannot reach {admin}: {error or type(error).__name__}", file=sys.stderr)
    return ExitCode.UNAVAILABLE


def _print_trace(trace: dict[str, Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(trace, indent=2), file=out)
        return
    for key, value in trace.items():
        print(f"{key:>22}: {value}", file=out)


def _logs_command(args: argparse.Namespace) -> int:
    query = {
        "connectionId": args.connection,
        "route": args.route,
        "status": args.status,
        "text": args.text,
        "backlog": args.backlog,
    }
    params = {key: str(value) for key, value in query.items() if value is not None}
    headers = admin_headers(args.token)
    try:
        return asyncio.run(
            run_logs(args.admin, params, count=args.count, as_json=args.json, headers=headers)
        )
    except KeyboardInterrupt:
        return ExitCode.OK


async def run_logs(
    admin: str,
    params: dict[str, str],
    *,
    count: int | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """Follow the gateway's entries until interrupted (or ``count`` arrived)."""
    out = out or sys.stdout
    headers = headers if headers is not None else admin_headers()
    base = admin.rstrip("/")
    seen = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            async with session.get(f"{base}/_wsgate/logs", params=params) as reply:
                if reply.status != HTTPStatus.OK or reply.content_type != "application/x-ndjson":
                    body = _parse_json(await reply.read())
                    explanation = await _explain(session, admin, reply.status, body)
                    print(f"error: {explanation}", file=sys.stderr)
                    return ExitCode.UNAVAILABLE
                async for raw in reply.content:
                    entry = json.loads(raw)
                    print(json.dumps(entry) if as_json else format_entry(entry), file=out)
                    out.flush()
                    seen += 1
                    if count is not None and seen >= count:
                        return ExitCode.OK
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        print(f"error: cannot reach {admin}: {error or type(error).__name__}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    return ExitCode.OK


async def _explain(session: aiohttp.ClientSession, admin: str, status: int, body: Any) -> str:
    """Say why ``admin`` answered ``status`` instead of traces, and how to get them."""
    answer = f"{admin} answered {_message(status, body)}"
    if status == HTTPStatus.UNAUTHORIZED:
        return f"{admin} wants the admin token: give --token TOKEN or set WSGATE_ADMIN_TOKEN"
    if status == HTTPStatus.MISDIRECTED_REQUEST:
        return f"{answer}: add the name you used to server.adminHosts, or use 127.0.0.1"
    if status == HTTPStatus.NOT_FOUND and await _is_admin_listener(session, admin.rstrip("/")):
        return f"{answer}: this admin listener keeps no traces. {_TRACES_OFF}"
    if status == HTTPStatus.FORBIDDEN:
        # AWS's answer to an unknown path, which the public listener mimics.
        return f"{answer}: that is the gateway's public listener, which serves no traces. {_ENABLE}"
    return f"{answer}, not traces: that is not a wsgate admin listener. {_ENABLE}"


async def _serves_traces(session: aiohttp.ClientSession, base: str) -> bool:
    status, body = await _get_json(session, f"{base}/_wsgate/traces", {"limit": "1"})
    return status == HTTPStatus.OK and isinstance(body, dict) and "items" in body


async def _is_admin_listener(session: aiohttp.ClientSession, base: str) -> bool:
    status, body = await _get_json(session, f"{base}/_wsgate/health")
    # 503 while the gateway drains; the body says which node it is either way.
    ok = status in (HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE)
    return ok and isinstance(body, dict) and "node" in body


async def _get_json(
    session: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with session.get(url, params=params) as reply:
        return reply.status, _parse_json(await reply.read())


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _message(status: int, body: Any) -> str:
    """``STATUS MESSAGE`` from an answer's JSON message, else from the reason phrase."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "(no message)"
    return f"{status} {message}"


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value
