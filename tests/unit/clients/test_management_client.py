"""Pure parts of ``wsgate post|get|delete``: arguments, exit codes and error messages."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from botocore.exceptions import ClientError

from wsgate.clients import management
from wsgate.clients.aws import AwsOptions
from wsgate.clients.management import describe_error, parse_endpoint


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wsgate")
    management.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


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
    assert AwsOptions.from_args(args) == AwsOptions()


@pytest.mark.parametrize("action", ["get", "delete"])
def test_get_and_delete_arguments(action: str) -> None:
    args = parse([action, "https://h/dev", "abc", "--timeout", "2"])
    assert (args.management_action, args.connection_id, args.timeout) == (action, "abc", 2.0)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--profile", "ops", "--region", "eu-west-1"], AwsOptions("ops", "eu-west-1")),
        (
            ["--access-key-id", "AKID", "--secret-access-key", "s", "--session-token", "t"],
            AwsOptions(access_key_id="AKID", secret_access_key="s", session_token="t"),
        ),
        (["--no-sign-request"], AwsOptions(sign=False)),
    ],
)
def test_credential_flags(flags: list[str], expected: AwsOptions) -> None:
    assert AwsOptions.from_args(parse(["get", "http://h/dev", "id", *flags])) == expected


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
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--access-key-id", "AKID"], "--access-key-id and --secret-access-key go together"),
        (["--secret-access-key", "s"], "--access-key-id and --secret-access-key go together"),
        (["--session-token", "t"], "--session-token needs --access-key-id"),
        (
            ["--no-sign-request", "--access-key-id", "AKID", "--secret-access-key", "s"],
            "--no-sign-request and --access-key-id exclude each other",
        ),
    ],
)
def test_incomplete_keys_are_usage_errors(
    flags: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(["delete", "http://h/dev", "id", *flags])
    assert management.management_command(args) == 2
    assert capsys.readouterr().err.startswith(f"wsgate delete: error: {problem}")


@pytest.mark.parametrize("text", ["http://127.0.0.1:8080/dev", "https://h.example"])
def test_parse_endpoint(text: str) -> None:
    assert parse_endpoint(text) == text


def _client_error(status: int, error: dict[str, Any]) -> ClientError:
    response: Any = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PostToConnection")


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            410,
            {"Code": "GoneException", "Message": None},
            (410, "GoneException", "410 GoneException"),
        ),
        (
            413,
            {"Code": "PayloadTooLargeException", "Message": "Message too long"},
            (413, "PayloadTooLargeException", "413 PayloadTooLargeException: Message too long"),
        ),
        # No error type in the answer: botocore makes the status the code.
        (502, {"Code": "502", "Message": "Bad Gateway"}, (502, "Bad Gateway", "502 Bad Gateway")),
        (429, {"Code": "429", "Message": ""}, (429, "Too Many Requests", "429 Too Many Requests")),
        (599, {"Code": "599", "Message": ""}, (599, "HTTP 599", "599 HTTP 599")),
    ],
)
def test_describe_error(status: int, error: dict[str, Any], expected: tuple[int, str, str]) -> None:
    assert describe_error(_client_error(status, error)) == expected


@pytest.mark.parametrize("action", ["post", "get", "delete"])
def test_help_documents_every_exit_code(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse([action, "--help"])
    help_text = capsys.readouterr().out
    for code in management.ExitCode:
        if code is not management.ExitCode.INTERRUPTED:
            assert f"\n  {int(code)}  " in help_text
    for flag in ("--profile", "--region", "--access-key-id", "--no-sign-request"):
        assert flag in help_text
