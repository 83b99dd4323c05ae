"""``wsgate post|get|delete``: a client of the ``@connections`` management API.

It speaks the wire protocol of boto3's ``apigatewaymanagementapi`` client, so it works against
wsgate and against Amazon API Gateway alike (the latter needs SigV4, which is not done here)::

    POST   {endpoint}/@connections/{id}   raw body     -> 200
    GET    {endpoint}/@connections/{id}                -> 200 {"connectedAt", "identity", ...}
    DELETE {endpoint}/@connections/{id}                -> 204

Failures carry AWS's error shape name in the ``x-amzn-ErrorType`` header (``GoneException``,
``ForbiddenException``, ...) and usually a JSON body with a ``message``.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import os
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal, TextIO

import aiohttp
import yarl

from wsgate.clients import USER_AGENT, positive_float
from wsgate.errors import ManagementError
from wsgate.types import JSONObject

__all__ = [
    "Action",
    "ExitCode",
    "ManagementClient",
    "ManagementRequest",
    "add_parsers",
    "connection_url",
    "error_from_response",
    "management_command",
    "parse_endpoint",
    "run_management",
]

Action = Literal["post", "get", "delete"]


class ExitCode(enum.IntEnum):
    """Exit statuses of ``wsgate post|get|delete``."""

    OK = 0
    USAGE = 1
    UNREACHABLE = 2
    GONE = 3
    HTTP_ERROR = 4
    # 128 + SIGINT, what shells report for a process killed by Ctrl-C.
    INTERRUPTED = 130


# botocore's SAFE_CHARS: a path label is quoted with only the RFC 3986 unreserved marks kept.
_LABEL_SAFE = "-._~"

# How much of a non-JSON error body is worth printing.
_MAX_TEXT_MESSAGE = 200

_EPILOG = """\
ENDPOINT is the stage URL that boto3 takes as endpoint_url, e.g. http://127.0.0.1:8080/dev.

exit status:
  0  success
  1  usage error (including an unreadable --file)
  2  the endpoint cannot be reached (refused, DNS, TLS, timeout)
  3  GoneException (410): the connection is no longer there
  4  any other HTTP error; "error: STATUS TYPE: MESSAGE" goes to stderr
"""


def connection_url(endpoint: str, connection_id: str) -> yarl.URL:
    """Return the URL of one connection, built byte for byte as botocore builds it.

    The id is percent-encoded as a non-greedy path label (so ``=`` becomes ``%3D``) and
    ``@connections`` stays literal. The result is marked encoded so that nothing re-quotes it.
    """
    parts = urllib.parse.urlsplit(endpoint)
    label = urllib.parse.quote(connection_id.encode(), safe=_LABEL_SAFE)
    # botocore's _urljoin: drop one trailing slash of the endpoint's path, keep the query.
    path = parts.path.removesuffix("/") + f"/@connections/{label}"
    return yarl.URL(urllib.parse.urlunsplit(parts._replace(path=path)), encoded=True)


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, reason: str | None = None
) -> ManagementError:
    """Translate an error response into a :class:`ManagementError` as botocore reads it.

    The error type comes from ``x-amzn-ErrorType`` (``Name:detail`` forms cut at the colon),
    else from the JSON body's ``code``/``__type``, else from the HTTP reason phrase; the
    message from the body's ``message``/``Message``, else its text.
    """
    document = _json_object(body)
    error_type = next(
        (value for key, value in headers.items() if key.lower() == "x-amzn-errortype"), None
    )
    for key in ("code", "Code", "__type"):
        if error_type is None and isinstance(document.get(key), str):
            error_type = document[key]
    if error_type:
        error_type = error_type.split(":", 1)[0].rsplit("#", 1)[-1]
    else:
        error_type = reason or _reason_phrase(status)
    message = document.get("message", document.get("Message"))
    if not isinstance(message, str):
        # A proxy's HTML error page is no message; its first line says enough.
        text = body.decode(errors="replace").strip().partition("\n")[0][:_MAX_TEXT_MESSAGE]
        message = None if document else text or None
    return ManagementError(status, error_type, message)


class ManagementClient:
    """Calls one endpoint's ``@connections`` API through an aiohttp session.

    Methods raise :class:`ManagementError` for an HTTP error, and let ``aiohttp.ClientError``
    and ``TimeoutError`` through when the endpoint cannot be reached.
    """

    def __init__(self, session: aiohttp.ClientSession, endpoint: str) -> None:
        self._session = session
        self._endpoint = endpoint

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` to the client of ``connection_id``."""
        await self._request("POST", connection_id, data)

    async def get_connection(self, connection_id: str) -> JSONObject:
        """Return what the gateway knows about ``connection_id``.

        Raises:
            ManagementError: also when a 2xx answer is not a JSON object.
        """
        body = await self._request("GET", connection_id)
        document = _json_object(body)
        if not document:
            raise ManagementError(HTTPStatus.OK, "InvalidResponse", "expected a JSON object")
        return document

    async def delete_connection(self, connection_id: str) -> None:
        """Close the connection ``connection_id``."""
        await self._request("DELETE", connection_id)

    async def _request(self, method: str, connection_id: str, data: bytes | None = None) -> bytes:
        url = connection_url(self._endpoint, connection_id)
        async with self._session.request(method, url, data=data) as response:
            body = await response.read()
            if not 200 <= response.status < 300:
                raise error_from_response(response.status, response.headers, body, response.reason)
            return body


@dataclass(frozen=True, slots=True)
class ManagementRequest:
    """One ``post``, ``get`` or ``delete`` call, as parsed from the command line."""

    action: Action
    endpoint: str
    connection_id: str
    data: bytes = b""
    timeout: float = 10.0


async def run_management(
    request: ManagementRequest, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Perform ``request``, print its result, and return the exit status.

    Streams default to the ``sys`` ones at call time, so a caller may substitute either.
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    timeout = aiohttp.ClientTimeout(total=request.timeout)
    try:
        async with aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT}, timeout=timeout
        ) as session:
            client = ManagementClient(session, request.endpoint)
            if request.action == "post":
                await client.post_to_connection(request.connection_id, request.data)
            elif request.action == "get":
                document = await client.get_connection(request.connection_id)
                print(json.dumps(document, indent=2, ensure_ascii=False), file=stdout)
            else:
                await client.delete_connection(request.connection_id)
    except ManagementError as exc:
        print(f"error: {exc}", file=stderr)
        gone = exc.status == HTTPStatus.GONE or exc.error_type == "GoneException"
        return ExitCode.GONE if gone else ExitCode.HTTP_ERROR
    except TimeoutError:
        print(f"error: {request.endpoint} did not answer within {request.timeout:g} s", file=stderr)
        return ExitCode.UNREACHABLE
    except aiohttp.ClientError as exc:
        print(f"error: cannot reach {request.endpoint}: {exc or type(exc).__name__}", file=stderr)
        return ExitCode.UNREACHABLE
    return ExitCode.OK


def management_command(args: argparse.Namespace) -> int:
    """Run ``wsgate post|get|delete`` on the process's standard streams."""
    try:
        data = _read_data(args) if args.management_action == "post" else b""
    except OSError as exc:
        print(f"error: cannot read {exc.filename or 'input'}: {exc.strerror}", file=sys.stderr)
        return ExitCode.USAGE
    request = ManagementRequest(
        args.management_action, args.endpoint, args.connection_id, data, args.timeout
    )
    try:
        return asyncio.run(run_management(request))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``post``, ``get`` and ``delete`` on the ``wsgate`` command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("endpoint", type=parse_endpoint, metavar="ENDPOINT", help="stage URL")
    common.add_argument("connection_id", type=_connection_id, metavar="CONNECTION_ID")
    common.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="give up after SECONDS (default: 10)",
    )
    for action, summary in (
        ("post", "send data to a connection (PostToConnection)"),
        ("get", "print a connection's details as JSON (GetConnection)"),
        ("delete", "disconnect a connection (DeleteConnection)"),
    ):
        parser = subparsers.add_parser(
            action,
            parents=[common],
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(func=management_command, management_action=action)
        if action == "post":
            _add_data_arguments(parser)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "data", nargs="?", metavar="DATA", help="the payload, or '-' to read it from stdin"
    )
    source.add_argument("--file", metavar="FILE", help="read the payload from FILE ('-' for stdin)")


def parse_endpoint(text: str) -> str:
    """Validate a stage URL such as ``http://127.0.0.1:8080/dev``.

    Raises:
        argparse.ArgumentTypeError: not an http(s) URL with a host.
    """
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _read_data(args: argparse.Namespace) -> bytes:
    """Return the payload bytes exactly as given: a file, stdin, or the argument itself."""
    source = args.file if args.file is not None else ("-" if args.data == "-" else None)
    if source == "-":
        return sys.stdin.buffer.read()
    if source is not None:
        with open(source, "rb") as file:
            return file.read()
    # fsencode undoes the surrogateescape decoding of argv, returning the bytes as typed.
    return os.fsencode(args.data)


def _json_object(body: bytes) -> JSONObject:
    """Parse ``body`` as a JSON object; anything else gives an empty dict."""
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _connection_id(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("the connection id cannot be empty")
    return text
