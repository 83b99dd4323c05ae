"""Pure parts of ``wsgate connect``: argument parsing and frame rendering."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from wsgate.clients import non_negative_float, positive_float, positive_int, ws
from wsgate.clients.ws import ConnectOptions, format_frame, parse_header, parse_ws_url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsgate")
    ws.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X-Api-Key: abc", ("X-Api-Key", "abc")),
        ("Authorization:Bearer a:b", ("Authorization", "Bearer a:b")),
        ("  X-Empty :  ", ("X-Empty", "")),
    ],
)
def test_parse_header(text: str, expected: tuple[str, str]) -> None:
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no colon", ": value", "Two Words: x", ""])
def test_parse_header_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected 'Name: value'"):
        parse_header(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ws://127.0.0.1:8080/dev", "ws://127.0.0.1:8080/dev"),
        ("wss://abc.execute-api.eu-west-1.amazonaws.com/prod", None),
        ("localhost:8080/dev?x=1", "ws://localhost:8080/dev?x=1"),
        ("http://h/", None),
    ],
)
def test_parse_ws_url(text: str, expected: str | None) -> None:
    assert parse_ws_url(text) == (expected or text)


@pytest.mark.parametrize("text", ["ftp://h/", "ws://", "ws://:80/"])
def test_parse_ws_url_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_ws_url(text)


@pytest.mark.parametrize(
    ("data", "mode", "expected"),
    [
        ("hello", "text", "< hello"),
        ("hello", "raw", "hello"),
        ("héllo", "json", '{"type": "text", "data": "héllo"}'),
        (b"\x00\xff", "text", "< [binary 2 bytes] AP8="),
        (b"\x00\xff", "raw", "AP8="),
        (b"\x00\xff", "json", '{"type": "binary", "data": "AP8="}'),
        (b"", "text", "< [binary 0 bytes]"),
        ("two\nlines", "json", '{"type": "text", "data": "two\\nlines"}'),
    ],
)
def test_format_frame(data: str | bytes, mode: ws.OutputMode, expected: str) -> None:
    assert format_frame(data, mode) == expected


def test_options_from_full_command_line() -> None:
    args = parse(
        [
            "connect",
            "localhost:9000/dev",
            "-H",
            "A: 1",
            "--header",
            "A: 2",
            "--subprotocol",
            "p1",
            "--subprotocol",
            "p2",
            "--origin",
            "https://o.example",
            "-x",
            "m1",
            "--execute",
            "m2",
            "--wait",
            "0",
            "--count",
            "3",
            "--timeout",
            "1.5",
            "--json",
        ]
    )
    assert ConnectOptions.from_args(args) == ConnectOptions(
        url="ws://localhost:9000/dev",
        headers=(("A", "1"), ("A", "2")),
        subprotocols=("p1", "p2"),
        origin="https://o.example",
        execute=("m1", "m2"),
        wait=0.0,
        count=3,
        timeout=1.5,
        output="json",
    )
    assert args.func is ws.connect_command


def test_options_defaults() -> None:
    options = ConnectOptions.from_args(parse(["connect", "ws://h/"]))
    assert options == ConnectOptions(url="ws://h/")
    assert (options.wait, options.timeout, options.output) == (2.0, 10.0, "text")


@pytest.mark.parametrize(
    "argv",
    [
        ["connect"],
        ["connect", "ws://h/", "-H", "bad"],
        ["connect", "ws://h/", "--count", "0"],
        ["connect", "ws://h/", "--wait", "-1"],
        ["connect", "ws://h/", "--timeout", "0"],
        ["connect", "ws://h/", "--json", "--raw"],
        ["connect", "ftp://h/"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("convert", "text", "expected"),
    [
        (positive_int, "3", 3),
        (positive_float, "0.25", 0.25),
        (non_negative_float, "0", 0.0),
        (non_negative_float, "inf", float("inf")),
    ],
)
def test_number_types(convert: Callable[[str], float], text: str, expected: float) -> None:
    assert convert(text) == expected


@pytest.mark.parametrize(
    ("convert", "text"),
    [
        (positive_int, "0"),
        (positive_int, "1.5"),
        (positive_int, "x"),
        (positive_float, "0"),
        (positive_float, "nan"),
        (non_negative_float, "-0.1"),
        (non_negative_float, "soon"),
    ],
)
def test_number_types_reject(convert: Callable[[str], float], text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        convert(text)


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["connect", "--help"])
    help_text = capsys.readouterr().out
    for code in ws.ExitCode:
        assert f"\n  {int(code):<4} " in help_text
