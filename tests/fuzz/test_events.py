"""Lambda proxy events from any handshake (wsgate.core.events): JSON that powertools reads."""

from __future__ import annotations

import json

import orjson
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from hypothesis import given, strategies as st

from wsgate.core.events import (
    ConnectionFacts,
    Handshake,
    build_connect_event,
    build_disconnect_event,
    build_message_event,
)
from wsgate.types import JSONObject

# What the server hands over: raw header bytes read as Latin-1 (read_handshake), the query as
# decoded text, a User-Agent made valid text (handshake.header_text).
_latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=12)
_text = st.text(st.characters(codec="utf-8"), max_size=12)
_names = _latin1 | st.sampled_from(
    ["Host", "Connection", "upgrade", "X-Forwarded-For", "x-amzn-trace-id"]
)
facts = st.builds(
    ConnectionFacts,
    connection_id=_text,
    connected_at=st.integers(0, 2**41),
    source_ip=st.ip_addresses().map(str),
    user_agent=st.none() | _text,
    api_id=_text,
    stage=_text,
    domain_name=_text,
    stage_variables=st.dictionaries(_text, _text, max_size=3),
    authorizer=st.none() | st.dictionaries(_text, st.none() | _text, max_size=3),
    caller=st.none()
    | st.dictionaries(st.sampled_from(["accessKey", "userArn", "caller", "user"]), _text),
)
handshakes = st.builds(
    Handshake,
    headers=st.lists(st.tuples(_names, _latin1), max_size=6),
    query=st.lists(st.tuples(_text, _text), max_size=4),
    trace_id=_text,
    forwarded_port=st.sampled_from(["443", "80", "8080"]),
    forwarded_proto=st.sampled_from(["https", "http"]),
)
_now = st.integers(0, 2**41)


def _json(event: JSONObject) -> JSONObject:
    """The event as a function receives it: strict JSON, the same from orjson and the stdlib."""
    text = json.dumps(event, allow_nan=False, ensure_ascii=False)
    assert orjson.loads(orjson.dumps(event)) == json.loads(text.encode("utf-8"))
    parsed: JSONObject = json.loads(text)
    return parsed


@given(facts, handshakes, _text, _now)
def test_connect_events_are_json_powertools_reads(facts, handshake, request_id, now_ms):
    event = _json(build_connect_event(facts, handshake, request_id, now_ms))
    model = APIGatewayWebSocketConnectEventModel.model_validate(event)
    assert model.request_context.connection_id == facts.connection_id
    assert set(event["headers"]) == set(event["multiValueHeaders"])
    for name, values in event["multiValueHeaders"].items():
        assert event["headers"][name] == values[-1]


@given(facts, _text, _text | st.binary(max_size=16).map(bytes.hex), st.booleans(), _text, _now)
def test_message_events_are_json_powertools_reads(
    facts, route_key, body, base64, message_id, now_ms
):
    event = _json(
        build_message_event(
            facts,
            route_key,
            body,
            is_base64_encoded=base64,
            request_id=message_id,
            message_id=message_id,
            now_ms=now_ms,
        )
    )
    model = APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert model.body == body


@given(facts, st.integers(1000, 4999), _text, _now)
def test_disconnect_events_are_json_powertools_reads(facts, code, reason, now_ms):
    event = _json(build_disconnect_event(facts, "id", now_ms, code, reason))
    APIGatewayWebSocketDisconnectEventModel.model_validate(event)
