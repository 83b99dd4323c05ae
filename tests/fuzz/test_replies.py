"""What backends answer: $connect decisions, route responses, content handling and MOCK statuses
(wsgate.core.responses, core.content, integrations.mock)."""

from __future__ import annotations

import base64

from hypothesis import example, given, strategies as st

from tests.fuzz.strategies import json_values, texts
from wsgate.core.content import (
    CONTENT_HANDLING_STRATEGIES,
    ContentError,
    client_message,
    request_body,
    template_text,
)
from wsgate.core.responses import UnusableAnswer, decide_connect, is_group_name, route_response
from wsgate.integrations.mock import mocked_status

_statuses = st.one_of(
    st.integers(-1000, 1000),
    st.integers(),
    st.sampled_from(["200", " 204 ", "404", "٢٠٠", "2e2", "200.0", True, 200.0, "", None]),
    json_values,
)
connect_answers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "statusCode": _statuses,
            "headers": st.dictionaries(
                st.sampled_from(["Sec-WebSocket-Protocol", "sec-websocket-protocol", "x"]) | texts,
                json_values,
            )
            | json_values,
            "groups": st.lists(texts | st.sampled_from(["room:1", "a/b", "x" * 129])) | json_values,
            "body": json_values,
        },
    ),
)


@given(connect_answers)
@example({"statusCode": "٢٠٠"})  # non-ASCII digits are not a status
def test_connect_answers_decide_or_raise_unusable_answer(payload):
    try:
        decision = decide_connect(payload)
    except UnusableAnswer:
        return
    if decision.accepted:
        assert all(is_group_name(group) for group in decision.groups)
    else:
        assert 200 <= decision.status <= 599 and not 200 <= decision.status <= 299


_base64_bodies = st.binary(max_size=32).map(lambda data: base64.b64encode(data).decode())
route_answers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "body": texts | _base64_bodies | json_values,
            "isBase64Encoded": st.sampled_from([True, False, "true", 1, None]),
            "statusCode": _statuses,
        },
    ),
)


@given(route_answers)
# A str body that is no Unicode text (a lone surrogate, which json.loads makes of "\ud800" and
# an in-process function may return) failed later, when the data plane encoded the frame.
@example({"body": "\ud800"})
@example({"body": "w\u00e9=", "isBase64Encoded": True})
def test_route_answers_give_a_frame_nothing_or_unusable_answer(payload):
    try:
        message = route_response(payload)
    except UnusableAnswer:
        return
    if isinstance(message, str):
        message.encode("utf-8")  # a text frame is UTF-8
        assert message == payload["body"]
    elif isinstance(message, bytes):
        assert base64.b64encode(message).decode() == payload["body"]


@given(st.binary(max_size=48))
def test_base64_bodies_round_trip_into_binary_frames(data):
    encoded = base64.b64encode(data).decode()
    assert route_response({"body": encoded, "isBase64Encoded": True}) == data
    assert request_body(encoded, "CONVERT_TO_BINARY") == data
    assert client_message(encoded.encode(), "CONVERT_TO_BINARY") == data
    # Unpadded and wrapped, as Java's decoder and MIME encoders write it.
    assert client_message(encoded.rstrip("=").encode() + b"\r\n", "CONVERT_TO_BINARY") == data


_strategies = st.sampled_from([None, *CONTENT_HANDLING_STRATEGIES])
_text_messages = st.text(st.characters(codec="utf-8"), max_size=32)  # frames are valid UTF-8


@given(_text_messages | st.binary(max_size=32), _strategies)
def test_client_messages_convert_or_raise_content_error(message, strategy):
    try:
        body = request_body(message, strategy)
    except ContentError:
        assert strategy == "CONVERT_TO_BINARY" and isinstance(message, str)
        return
    if strategy is None:
        assert body == (message.encode() if isinstance(message, str) else message)
    template_text(message).encode("ascii" if isinstance(message, bytes) else "utf-8")


@given(st.binary(max_size=32) | _text_messages.map(str.encode), _strategies)
def test_backend_bodies_convert_or_raise_content_error(body, strategy):
    try:
        message = client_message(body, strategy)
    except ContentError:
        assert strategy == "CONVERT_TO_BINARY"
        return
    if isinstance(message, str):
        assert message.encode() == body or base64.b64decode(message) == body
    elif strategy is None:
        assert message == body


_rendered = st.one_of(
    texts,
    json_values.map(lambda value: repr(value)),
    _statuses.map(lambda status: f'{{"statusCode": {status!r}}}'.replace("'", '"')),
    st.integers(0, 3000).map(lambda depth: "[" * depth + "]" * depth),
)


@given(_rendered)
@example('{"statusCode": "٣٠٠"}')
@example("[" * 3000 + "]" * 3000)
def test_mock_templates_name_a_status_or_get_200(rendered):
    assert 100 <= mocked_status(rendered) <= 599
