"""Content handling between text and binary frames (§3.8)."""

from __future__ import annotations

import pytest

from wsgate.core.content import (
    CONTENT_HANDLING_STRATEGIES,
    ContentError,
    client_message,
    parse_content_handling,
    request_body,
    template_text,
)

_NOT_UTF8 = b"\x89PNG\r\n\x1a\n\x00\xff"
_NOT_UTF8_BASE64 = "iVBORw0KGgoA/w=="


@pytest.mark.parametrize(
    ("message", "strategy", "body"),
    [
        # Unset: text as UTF-8, binary as is.
        ("hello", None, b"hello"),
        ("", None, b""),
        ("café ✓", None, "café ✓".encode()),
        ('{"action":"x"}', None, b'{"action":"x"}'),
        ("aGVsbG8=", None, b"aGVsbG8="),  # base64-looking text is still just text
        (b"\x00\x01", None, b"\x00\x01"),
        (_NOT_UTF8, None, _NOT_UTF8),
        (b"", None, b""),
        # CONVERT_TO_BINARY: text is base64 and is decoded; binary passes as is.
        ("aGVsbG8=", "CONVERT_TO_BINARY", b"hello"),
        (_NOT_UTF8_BASE64, "CONVERT_TO_BINARY", _NOT_UTF8),
        ("", "CONVERT_TO_BINARY", b""),
        ("aGVsbG8", "CONVERT_TO_BINARY", b"hello"),  # padding optional, as in Java
        ("aGVsbA", "CONVERT_TO_BINARY", b"hell"),
        ("aGVs bG8=\n", "CONVERT_TO_BINARY", b"hello"),  # ASCII whitespace ignored
        ("aGVs\r\nbG8=", "CONVERT_TO_BINARY", b"hello"),
        ("+/+/", "CONVERT_TO_BINARY", b"\xfb\xff\xbf"),
        (b"aGVsbG8=", "CONVERT_TO_BINARY", b"aGVsbG8="),
        (_NOT_UTF8, "CONVERT_TO_BINARY", _NOT_UTF8),
        # CONVERT_TO_TEXT: binary is base64-encoded; text passes as UTF-8.
        (b"hello", "CONVERT_TO_TEXT", b"aGVsbG8="),
        (_NOT_UTF8, "CONVERT_TO_TEXT", _NOT_UTF8_BASE64.encode()),
        (b"", "CONVERT_TO_TEXT", b""),
        ("hello", "CONVERT_TO_TEXT", b"hello"),
        ("café", "CONVERT_TO_TEXT", "café".encode()),
    ],
)
def test_request_body(message, strategy, body):
    assert request_body(message, strategy) == body


@pytest.mark.parametrize(
    "message",
    [
        "hello!",  # not in the alphabet
        "aGVsbG8=aGVsbG8=",  # padding inside
        "aGVsbG8===",  # too much padding
        "a",  # a lone digit carries no whole byte
        "aGVsb",
        "aGVsbG8_",  # the URL-safe alphabet is not base64
        "aGVs-bG8",
        "aGVsbG8é",  # not ASCII
        "=",
        "{}",
    ],
)
def test_request_body_invalid_base64(message):
    with pytest.raises(ContentError, match=r"^the message is not valid base64: ") as caught:
        request_body(message, "CONVERT_TO_BINARY")
    assert isinstance(caught.value, ValueError)
    assert caught.value.reason == str(caught.value)


@pytest.mark.parametrize(
    ("body", "strategy", "message"),
    [
        # Unset: UTF-8 as text, anything else as binary.
        (b"hello", None, "hello"),
        (b"", None, ""),
        ("café ✓".encode(), None, "café ✓"),
        (b'{"ok":true}', None, '{"ok":true}'),
        (_NOT_UTF8, None, _NOT_UTF8),
        (b"\xc3", None, b"\xc3"),  # truncated UTF-8
        (b"\xed\xa0\x80", None, b"\xed\xa0\x80"),  # an encoded surrogate is not UTF-8
        # CONVERT_TO_TEXT: UTF-8 as that text, anything else base64-encoded into text.
        (b"hello", "CONVERT_TO_TEXT", "hello"),
        (b"", "CONVERT_TO_TEXT", ""),
        ("café".encode(), "CONVERT_TO_TEXT", "café"),
        (_NOT_UTF8, "CONVERT_TO_TEXT", _NOT_UTF8_BASE64),
        (b"\xc3", "CONVERT_TO_TEXT", "ww=="),
        # CONVERT_TO_BINARY: the body is base64, decoded into a binary frame.
        (b"aGVsbG8=", "CONVERT_TO_BINARY", b"hello"),
        (_NOT_UTF8_BASE64.encode(), "CONVERT_TO_BINARY", _NOT_UTF8),
        (b"aGVsbG8=\n", "CONVERT_TO_BINARY", b"hello"),  # a trailing newline from the backend
        (b"aGVsbG8", "CONVERT_TO_BINARY", b"hello"),
        (b"", "CONVERT_TO_BINARY", b""),
    ],
)
def test_client_message(body, strategy, message):
    result = client_message(body, strategy)
    assert result == message
    assert type(result) is type(message)


@pytest.mark.parametrize(
    "body",
    [b"hello!", b"aGVsbG8===", b"a", _NOT_UTF8, b"aGVsbG8\xff", b'{"ok":true}', b"aGVs_bG8"],
)
def test_client_message_invalid_base64(body):
    with pytest.raises(ContentError, match=r"^the integration response is not valid base64: "):
        client_message(body, "CONVERT_TO_BINARY")


@pytest.mark.parametrize(
    ("payload", "inbound", "outbound"),
    [
        # A binary frame, base64 for the backend, back to binary for the client.
        (_NOT_UTF8, "CONVERT_TO_TEXT", "CONVERT_TO_BINARY"),
        # Base64 text from the client, binary to the backend, base64 text back to the client.
        (_NOT_UTF8_BASE64, "CONVERT_TO_BINARY", "CONVERT_TO_TEXT"),
        ("plain text", None, None),
        (_NOT_UTF8, None, None),
    ],
)
def test_round_trips(payload, inbound, outbound):
    assert client_message(request_body(payload, inbound), outbound) == payload


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ("hello", "hello"),
        ("", ""),
        ("aGVsbG8=", "aGVsbG8="),
        (b"hello", "aGVsbG8="),  # binary is always base64, even when it is UTF-8
        (_NOT_UTF8, _NOT_UTF8_BASE64),
        (b"", ""),
    ],
)
def test_template_text(message, text):
    assert template_text(message) == text


@pytest.mark.parametrize("value", [None, "CONVERT_TO_TEXT", "CONVERT_TO_BINARY"])
def test_parse_content_handling(value):
    assert parse_content_handling(value) == value


@pytest.mark.parametrize("value", ["", "convert_to_text", "CONVERT_TO_JSON", "NONE"])
def test_parse_content_handling_rejects(value):
    with pytest.raises(ValueError, match=f"unknown content handling '{value}'"):
        parse_content_handling(value)


def test_strategies():
    assert CONTENT_HANDLING_STRATEGIES == ("CONVERT_TO_TEXT", "CONVERT_TO_BINARY")
