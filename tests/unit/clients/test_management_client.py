"""Pure parts of ``wsgate post|get|delete``: URLs, error parsing and arguments."""

from __future__ import annotations

import argparse
import functools
from typing import Any

import pytest
from multidict import CIMultiDict

from wsgate.clients import management
from wsgate.clients.management import connection_url, error_from_response, parse_endpoint
from wsgate.errors import ManagementError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wsgate")
    management.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


IDS = ["L0SM9cOFvHcCIhw=", "a/b c", "ü~-._", "+!$&'()*,;:@%"]


@pytest.mark.parametrize(
    ("endpoint", "connection_id", "expected"),
    [
        ("http://127.0.0.1:8080/dev", "L0SM9cOFvHcCIhw=", "/dev/@connections/L0SM9cOFvHcCIhw%3D"),
        ("http://127.0.0.1:8080/dev/", "abc", "/dev/@connections/abc"),
        ("http://127.0.0.1:8080", "abc", "/@connections/abc"),
        ("http://h/a/b", "a/b c", "/a/b/@connections/a%2Fb%20c"),
        ("http://h/dev", "ü~-._", "/dev/@connections/%C3%BC~-._"),
    ],
)
def test_connection_url(endpoint: str, connection_id: str, expected: str) -> None:
    url = connection_url(endpoint, connection_id)
    assert url.raw_path == expected


def test_connection_url_keeps_query() -> None:
    assert str(connection_url("https://h/dev?x=1", "a=")) == "https://h/dev/@connections/a%3D?x=1"


class Captured(Exception):
    """Raised instead of sending, carrying the URL botocore built."""


def _capture(request: Any, **kwargs: Any) -> None:
    raise Captured(request.url)


@functools.cache
def botocore_client(endpoint: str) -> Any:
    botocore_session = pytest.importorskip("botocore.session")
    client = botocore_session.get_session().create_client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    client.meta.events.register("before-send", _capture)
    return client


@pytest.mark.parametrize("connection_id", IDS)
@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8080/dev", "https://h.example/p/"])
def test_connection_url_matches_botocore(endpoint: str, connection_id: str) -> None:
    with pytest.raises(Captured) as captured:
        botocore_client(endpoint).get_connection(ConnectionId=connection_id)
    assert str(connection_url(endpoint, connection_id)) == captured.value.args[0]


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason", "expected"),
    [
        (410, {"x-amzn-ErrorType": "GoneException"}, b"", "Gone", (410, "GoneException", None)),
        (
            413,
            {"X-Amzn-Errortype": "PayloadTooLargeException:http://internal.amazon.com/x"},
            b'{"message": "Message too long"}',
            None,
            (413, "PayloadTooLargeException", "Message too long"),
        ),
        (
            403,
            {},
            b'{"__type": "com.amazon#ForbiddenException", "Message": "no"}',
            None,
            (403, "ForbiddenException", "no"),
        ),
        (400, {}, b'{"code": "BadRequestException"}', None, (400, "BadRequestException", None)),
        (
            410,
            {"x-amzn-ErrorType": "GoneException"},
            b'{"message": null}',
            None,
            (410, "GoneException", None),
        ),
        (429, {}, b"", None, (429, "Too Many Requests", None)),
        (502, {}, b"<html>\nBad gateway\n</html>", "Bad Gateway", (502, "Bad Gateway", "<html>")),
        (599, {}, b"oops", None, (599, "HTTP 599", "oops")),
    ],
)
def test_error_from_response(
    status: int,
    headers: dict[str, str],
    body: bytes,
    reason: str | None,
    expected: tuple[int, str, str | None],
) -> None:
    error = error_from_response(status, CIMultiDict(headers), body, reason)
    assert isinstance(error, ManagementError)
    assert (error.status, error.error_type, error.message) == expected


def test_error_message_is_bounded() -> None:
    error = error_from_response(500, {}, b"x" * 10_000)
    assert error.message == "x" * 200


def test_error_str_is_what_the_cli_prints() -> None:
    assert str(error_from_response(410, {"x-amzn-ErrorType": "GoneException"}, b"")) == (
        "410 GoneException"
    )


@pytest.mark.parametrize(
    ("argv", "data", "file"),
    [
        (["post", "http://h/dev", "id=", "hello"], "hello", None),
        (["post", "http://h/dev", "id=", "-"], "-", None),
        (["post", "http://h/dev", "id=", "--file", "p.bin"], None, "p.bin"),
        (["post", "http://h/dev", "id=", ""], "", None),
    ],
)
def test_post_arguments(argv: list[str], data: str | None, file: str | None) -> None:
    args = parse(argv)
    assert (args.management_action, args.endpoint, args.connection_id) == (
        "post",
        "http://h/dev",
        "id=",
    )
    assert (args.data, args.file, args.timeout) == (data, file, 10.0)
    assert args.func is management.management_command


@pytest.mark.parametrize("action", ["get", "delete"])
def test_get_and_delete_arguments(action: str) -> None:
    args = parse([action, "https://h/dev", "abc", "--timeout", "2"])
    assert (args.management_action, args.connection_id, args.timeout) == (action, "abc", 2.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["post", "http://h/dev", "id"],
        ["post", "http://h/dev", "id", "data", "--file", "f"],
        ["get", "ftp://h/dev", "id"],
        ["get", "http:///dev", "id"],
        ["get", "http://h/dev", ""],
        ["delete", "http://h/dev"],
        ["get", "http://h/dev", "id", "--timeout", "-1"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code != 0
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["http://127.0.0.1:8080/dev", "https://h.example"])
def test_parse_endpoint(text: str) -> None:
    assert parse_endpoint(text) == text


@pytest.mark.parametrize("action", ["post", "get", "delete"])
def test_help_documents_every_exit_code(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse([action, "--help"])
    help_text = capsys.readouterr().out
    for code in management.ExitCode:
        if code is not management.ExitCode.INTERRUPTED:
            assert f"\n  {int(code)}  " in help_text
