"""Multi-send bodies (``POST /{stage}/@connections``): what is read and what is refused."""

from __future__ import annotations

import json

import pytest

from wsgate.errors import ManagementError
from wsgate.server.fanout import _targets


@pytest.mark.parametrize(
    ("body", "ids", "data"),
    [
        (b'{"connectionIds": ["a=", "b="], "data": "hi"}', ["a=", "b="], "hi"),
        (b'{"connectionIds": ["a="], "dataBase64": "AAE="}', ["a="], b"\x00\x01"),
        ('{"connectionIds": ["é"], "data": "é"}'.encode(), ["é"], "é"),
    ],
)
def test_multi_send_bodies(body, ids, data):
    assert _targets(body) == (ids, data)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not JSON"),
        (b"\xff", "the body is not JSON"),
        # Found by fuzzing: these were 500s. UTF-16 was read, as the stdlib reads bytes.
        (b"[" * 100_000, "the body is not JSON"),
        ('{"connectionIds": ["a="], "data": "x"}'.encode("utf-16"), "the body is not JSON"),
        (b'{"connectionIds": ["a="], "dataBase64": "\\u00e9"}', "dataBase64 is not base64"),
        (b'{"connectionIds": ["a="], "dataBase64": "a"}', "dataBase64 is not base64"),
        (b'{"connectionIds": [], "data": "x"}', "connectionIds must be a list of ids"),
        (b'{"connectionIds": ["a=", 1], "data": "x"}', "connectionIds must be a list of ids"),
        (b'["a="]', "connectionIds must be a list of ids"),
        (b'{"connectionIds": ["a="]}', "give data (text) or dataBase64"),
        (json.dumps({"connectionIds": ["a="] * 10_001, "data": ""}).encode(), "at most 10000"),
    ],
)
def test_bad_multi_send_bodies_are_400(body, message):
    with pytest.raises(ManagementError) as caught:
        _targets(body)
    assert (caught.value.status, caught.value.error_type) == (400, "BadRequestException")
    assert caught.value.message is not None and caught.value.message.startswith(message)


def test_a_message_over_128_kb_is_413():
    body = json.dumps({"connectionIds": ["a="], "data": "x" * (128 * 1024 + 1)}).encode()
    with pytest.raises(ManagementError) as caught:
        _targets(body)
    assert (caught.value.status, caught.value.error_type) == (413, "PayloadTooLargeException")
