"""Which upgrade requests are RFC 6455 handshakes (§4.2.1, §4.4), decided before ``$connect``."""

from __future__ import annotations

import json

import pytest
from aiohttp import HttpVersion, HttpVersion10, HttpVersion11
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from wsgate.server.handshake import header_text, refuse_upgrade

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key
VALID = (
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
)


def _request(
    *pairs: tuple[str, str],
    drop: tuple[str, ...] = (),
    method: str = "GET",
    version: HttpVersion = HttpVersion11,
):
    """A request with the valid headers, minus ``drop``, the names in ``pairs`` replaced."""
    replaced = {name for name, _ in pairs}
    headers = CIMultiDict(
        [(n, v) for n, v in VALID if n not in drop and n not in replaced] + list(pairs)
    )
    return make_mocked_request(method, "/dev", headers=headers, version=version)


@pytest.mark.parametrize(
    "request_",
    [
        _request(),
        _request(("Connection", "keep-alive, Upgrade")),
        _request(("Connection", "keep-alive"), ("Connection", "upgrade")),
        _request(("Connection", "keep-alive,\tUPGRADE")),
        _request(("Upgrade", " WebSocket ")),
    ],
    ids=["rfc-example", "connection-list", "connection-twice", "connection-tab-case", "case"],
)
def test_valid_handshakes_pass(request_):
    assert refuse_upgrade(request_) is None


@pytest.mark.parametrize(
    "request_",
    [
        _request(method="POST"),
        _request(method="PUT"),
        _request(version=HttpVersion10),
        _request(drop=("Upgrade",)),
        _request(("Upgrade", "websocket, h2c")),
        _request(drop=("Connection",)),
        _request(("Connection", "keep-alive")),
        _request(("Connection", "upgraded")),
        _request(drop=("Sec-WebSocket-Key",)),
        _request(("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Key", KEY)),
        _request(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")),  # padding missing
        _request(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*ZQ==")),
        _request(("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA")),  # 18 bytes
        _request(("Sec-WebSocket-Key", " dGhlIHNhbXBsZSBub25jZQ=")),  # 24 characters, a space
        _request(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j=Q==")),  # padding inside
        _request(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZé==")),  # not ASCII
        # Malformed and a wrong version: 400 first, the version is only told to a handshake.
        _request(("Sec-WebSocket-Version", "8"), method="POST"),
    ],
    ids=[
        "post",
        "put",
        "http-1.0",
        "upgrade-missing",
        "upgrade-two-protocols",
        "connection-missing",
        "connection-keep-alive",
        "connection-lookalike",
        "key-missing",
        "key-twice",
        "key-unpadded",
        "key-bad-character",
        "key-18-bytes",
        "key-space",
        "key-padding-inside",
        "key-not-ascii",
        "post-and-version-8",
    ],
)
def test_malformed_handshakes_get_400(request_):
    response = refuse_upgrade(request_)
    assert response is not None and response.status == 400
    assert json.loads(response.text or "") == {"message": "Bad Request: not a WebSocket handshake"}


@pytest.mark.parametrize(
    "request_",
    [
        _request(("Sec-WebSocket-Version", "8")),
        _request(("Sec-WebSocket-Version", "7")),
        _request(("Sec-WebSocket-Version", "13, 8")),
        _request(("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Version", "13")),
        _request(drop=("Sec-WebSocket-Version",)),
    ],
    ids=["8", "7", "list", "twice", "missing"],
)
def test_other_versions_get_426_naming_13(request_):
    response = refuse_upgrade(request_)
    assert response is not None and response.status == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert json.loads(response.text or "") == {"message": "Upgrade Required"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("curl/8.5", "curl/8.5"),
        ("été", "été"),
        # Bytes that are not UTF-8 (aiohttp's surrogateescape): found by fuzzing, they made the
        # $connect event unreadable to function workers, whose JSON parser refuses surrogates.
        ("a\udcffb", "a\ufffdb"),
        ("\udcc3\udca9", "é"),
    ],
)
def test_header_text(value, text):
    assert header_text(value) == text
