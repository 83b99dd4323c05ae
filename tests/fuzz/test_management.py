"""Management paths, ids and fan-out bodies and parameters (wsgate.core.addressing, core.ids,
server.fanout)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote

from hypothesis import example, given, strategies as st

from tests.fuzz.strategies import json_values, texts
from wsgate.core.addressing import match_management_path
from wsgate.core.ids import format_id, is_valid_id
from wsgate.core.responses import is_group_name
from wsgate.errors import ManagementError
from wsgate.registry.base import encode_cursor
from wsgate.server import fanout

_PATH_PIECES = st.sampled_from(
    ["/", "@", "%40", "%", "%2F", "%zz", "connections", "groups", "broadcast", "?", "dev", "=", "."]
)
raw_paths = st.one_of(texts, st.lists(_PATH_PIECES | texts, max_size=10).map("".join))
_SEGMENT = st.text(st.sampled_from("abcXYZ019_-.~"), min_size=1, max_size=8)
_prefixes = st.lists(_SEGMENT, max_size=3).map(lambda parts: "".join(f"/{p}" for p in parts))


@given(raw_paths)
@example("/dev/@connections/%E9%ZZ")
def test_any_raw_path_is_addressed_or_refused(raw_path):
    path = match_management_path(raw_path)
    if path is not None:
        assert "?" not in path.prefix
        assert "/" not in path.stage


@given(_prefixes, _SEGMENT, texts.filter(bool), st.sampled_from(["@", "%40"]), st.booleans())
def test_paths_botocore_builds_address_what_they_name(prefix, stage, name, at, slash):
    tail = "/" if slash else ""
    quoted = quote(name, safe="", errors="surrogatepass")
    connection = match_management_path(f"{prefix}/{stage}/{at}connections/{quoted}{tail}?x=1")
    assert connection is not None
    assert (connection.kind, connection.stage) == ("connection", stage)
    if name.encode("utf-8", "surrogatepass").decode("utf-8", "replace") == name:
        assert connection.connection_id == name
    member = match_management_path(f"{prefix}/{stage}/{at}groups/g:1/{quoted}{tail}")
    assert member is not None and member.group == "g:1"
    assert (member.kind, member.connection_id) == ("member", connection.connection_id)


_ID = re.compile(r"[A-Za-z0-9_-]{15}=")


@given(st.text(st.sampled_from("AZaz09-_=+/é\n") | st.characters(), max_size=17))
@example("ABCDEFGHIJKLMN\u0660=")
@example("ABCDEFGHIJKLMNO=\n")
def test_is_valid_id_is_exactly_the_id_shape(text):
    assert is_valid_id(text) == (_ID.fullmatch(text) is not None)


@given(st.binary(min_size=11, max_size=11))
def test_every_formatted_id_is_valid(random):
    assert is_valid_id(format_id(random))


def _body(ids: object, data: object, key: str) -> bytes:
    return json.dumps({"connectionIds": ids, key: data}).encode()


_bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(
        _body,
        st.lists(texts, max_size=4) | json_values,
        texts | json_values | st.binary(max_size=16).map(lambda b: base64.b64encode(b).decode()),
        st.sampled_from(["data", "dataBase64", "other"]),
    ),
    st.integers(0, 100_000).map(lambda depth: b"[" * depth + b"]" * depth),
)


@given(_bodies)
# Nesting past the parser's depth and non-ASCII base64 were 500s, not 400s.
@example(b'{"connectionIds": ' + b"[" * 100_000)
@example(_body(["x"], "\u00e9", "dataBase64"))
@example('{"connectionIds":["x"],"data":"é"}'.encode("utf-16"))
def test_multi_send_bodies_are_read_or_refused_with_400_or_413(body):
    try:
        ids, data = fanout._targets(body)
    except ManagementError as error:
        assert error.status in (400, 413)
        return
    assert ids and len(ids) <= 10_000 and all(isinstance(i, str) for i in ids)
    assert len(data.encode() if isinstance(data, str) else data) <= fanout.MAX_POST_BYTES


@given(st.binary(max_size=64) | texts.map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_as_frame_keeps_every_byte(data):
    frame = fanout.as_frame(data)
    assert (frame.encode() if isinstance(frame, str) else frame) == data


# Connection ids are the gateway's own, so valid text, never lone surrogates.
_utf8 = st.text(st.characters(codec="utf-8"), max_size=20)
_NUMBERS = st.sampled_from(["0", "1", "1000", "1001", "-1", "1.5", "1e3", "inf", "nan", " 5", "٣"])


@given(_NUMBERS | texts)
def test_limit_is_a_whole_number_from_1_to_1000(text):
    try:
        limit = fanout._limit(text)
    except ManagementError as error:
        assert error.status == 400
        return
    assert 1 <= limit <= 1000 and str(limit) == text.lstrip("0")


@given(_NUMBERS | texts | st.floats(0, 2e9).map(str))
def test_min_age_is_a_plain_decimal_within_bounds(text):
    try:
        seconds = fanout._min_age(text)
    except ManagementError as error:
        assert error.status == 400
        return
    assert 0 <= seconds <= 10**9


@given(texts | st.builds(encode_cursor, st.integers(-(2**60), 2**60), _utf8))
@example(encode_cursor(2**53, "x"))
@example(encode_cursor(2**53 + 1, "x"))
def test_cursors_are_those_listings_hand_out(cursor):
    try:
        fanout._check_cursor(cursor)
    except ManagementError as error:
        assert error.status == 400


@given(st.integers(0, 2**53), _utf8.filter(bool))
def test_every_cursor_a_listing_hands_out_is_accepted(connected_at_ms, connection_id):
    fanout._check_cursor(encode_cursor(connected_at_ms, connection_id))


@given(texts)
def test_group_names_are_ascii_and_short(name):
    assert is_group_name(name) == (re.fullmatch(r"[A-Za-z0-9_\-.:@/]{1,128}", name) is not None)
