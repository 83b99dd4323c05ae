"""``wsgate post|get|delete``: a client of the ``@connections`` management API.

The calls are made by botocore's own ``apigatewaymanagementapi`` client (see
:mod:`wsgate.clients.aws`), so the URL, the quoting of the connection id, the SigV4 signature
and the reading of errors are exactly what a Lambda function's boto3 does, against wsgate and
against Amazon API Gateway alike::

    PostToConnection   POST   {endpoint}/@connections/{id}   raw body  -> 200
    GetConnection      GET    {endpoint}/@connections/{id}             -> 200 JSON
    DeleteConnection   DELETE {endpoint}/@connections/{id}             -> 204

botocore is synchronous, and so is :func:`run_management`: one command makes one request.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal, TextIO

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)

from wsgate.clients import positive_float
from wsgate.clients.aws import AwsOptions, Signing, add_arguments, management_client

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

__all__ = [
    "Action",
    "ExitCode",
    "ManagementRequest",
    "add_parsers",
    "describe_error",
    "management_command",
    "parse_endpoint",
    "run_management",
]

Action = Literal["post", "get", "delete"]


class ExitCode(enum.IntEnum):
    """Exit statuses of ``wsgate post|get|delete``."""

    OK = 0
    UNREACHABLE = 1
    USAGE = 2
    GONE = 3
    HTTP_ERROR = 4
    # 128 + SIGINT, what shells report for a process killed by Ctrl-C.
    INTERRUPTED = 130


_EPILOG = """\
ENDPOINT is the stage URL that boto3 takes as endpoint_url, e.g. http://127.0.0.1:8080/dev.
A CONNECTION_ID that starts with "-" (AWS may hand out such ids) goes after "--", as in
wsgate post ENDPOINT -- -aBcDeFgHiJkLmN= hello.

Requests are made by botocore's apigatewaymanagementapi client and signed with SigV4 like
boto3's: with --access-key-id and --secret-access-key, else the credentials botocore finds
(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --profile or AWS_PROFILE in ~/.aws/credentials
and ~/.aws/config, a role). With none, or with --no-sign-request, they go unsigned, which a
gateway whose server.managementAuthorization is NONE accepts. The region signed for is
--region, else the configured one, else the REGION of an *.execute-api.REGION.amazonaws.com
ENDPOINT, else us-east-1. Nothing is retried: a POST must not reach its client twice.

exit status:
  0  success
  1  the endpoint cannot be reached (refused, DNS, TLS, timeout)
  2  usage error (including an unreadable --file or an unknown --profile)
  3  GoneException (410): the connection is no longer there
  4  any other HTTP error; "error: STATUS CODE: MESSAGE" goes to stderr
"""


@dataclass(frozen=True, slots=True)
class ManagementRequest:
    """One ``post``, ``get`` or ``delete`` call, as parsed from the command line."""

    action: Action
    endpoint: str
    connection_id: str
    data: bytes = b""
    timeout: float = 10.0
    aws: AwsOptions = field(default_factory=AwsOptions)


def run_management(
    request: ManagementRequest, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Perform ``request``, print its result, and return the exit status.

    Streams default to the ``sys`` ones at call time, so a caller may substitute either.
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        client, signing = management_client(request.endpoint, request.aws, timeout=request.timeout)
    except BotoCoreError as error:  # an unknown profile, half a key pair in the environment
        print(f"error: {error}", file=stderr)
        return ExitCode.USAGE
    try:
        return _call(client, request, stdout, stderr)
    except ClientError as error:
        return _refused(error, signing, stderr)
    except (ConnectTimeoutError, ReadTimeoutError):
        print(f"error: {request.endpoint} did not answer within {request.timeout:g} s", file=stderr)
        return ExitCode.UNREACHABLE
    except (BotoConnectionError, HTTPClientError) as error:
        print(f"error: cannot reach {request.endpoint}: {error}", file=stderr)
        return ExitCode.UNREACHABLE
    except BotoCoreError as error:  # an answer botocore cannot read, such as HTML for GET
        print(f"error: {error}", file=stderr)
        return ExitCode.HTTP_ERROR
    finally:
        client.close()


def _call(
    client: ApiGatewayManagementApiClient, request: ManagementRequest, out: TextIO, err: TextIO
) -> ExitCode:
    if request.action == "post":
        client.post_to_connection(ConnectionId=request.connection_id, Data=request.data)
    elif request.action == "delete":
        client.delete_connection(ConnectionId=request.connection_id)
    else:
        answer = dict(client.get_connection(ConnectionId=request.connection_id))
        answer.pop("ResponseMetadata", None)
        if not answer:
            # botocore reads a 200 whose body is not a JSON object as no fields at all.
            print(
                f"error: {request.endpoint} answered GetConnection without a connection", file=err
            )
            return ExitCode.HTTP_ERROR
        print(json.dumps(answer, indent=2, ensure_ascii=False, default=_iso_time), file=out)
    return ExitCode.OK


def _refused(error: ClientError, signing: Signing, stderr: TextIO) -> int:
    status, code, text = describe_error(error)
    print(f"error: {text}", file=stderr)
    hint = signing.refusal_hint(status, code)
    if hint is not None:
        print(f"hint: {hint}", file=stderr)
    gone = status == HTTPStatus.GONE or code == "GoneException"
    return ExitCode.GONE if gone else ExitCode.HTTP_ERROR


def describe_error(error: ClientError) -> tuple[int, str, str]:
    """The HTTP status, the error code and ``STATUS CODE: MESSAGE`` of a refused call.

    Without an error type in the answer botocore uses the status as the code and the reason
    phrase as the message; then the phrase stands in for the code.
    """
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    details = error.response.get("Error", {})
    code, message = details.get("Code") or "", details.get("Message") or ""
    if code in ("", str(status)):
        code, message = message or _reason_phrase(status), ""
    return status, code, f"{status} {code}: {message}" if message else f"{status} {code}"


def management_command(args: argparse.Namespace) -> int:
    """Run ``wsgate post|get|delete`` on the process's standard streams."""
    aws = AwsOptions.from_args(args)
    problem = aws.usage_problem()
    if problem is not None:
        print(f"wsgate {args.management_action}: error: {problem}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        data = _read_data(args) if args.management_action == "post" else b""
    except OSError as exc:
        print(f"error: cannot read {exc.filename or 'input'}: {exc.strerror}", file=sys.stderr)
        return ExitCode.USAGE
    request = ManagementRequest(
        args.management_action, args.endpoint, args.connection_id, data, args.timeout, aws
    )
    try:
        return run_management(request)
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
        help="wait SECONDS to connect, and as long for the answer (default: 10)",
    )
    add_arguments(common)
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


def _iso_time(value: object) -> str:
    """JSON for the datetimes botocore parses: ISO 8601 in UTC, as API Gateway writes them."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _connection_id(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("the connection id cannot be empty")
    return text
