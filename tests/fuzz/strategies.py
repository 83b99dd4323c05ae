"""Inputs from outside, as Hypothesis strategies shared by the fuzz tests."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "deep_json",
    "header_pairs",
    "json_documents",
    "json_objects",
    "json_values",
    "messages",
    "names",
    "texts",
]

# Text with the characters parsers trip on: quotes, escapes, dollars, brackets, controls,
# surrogates (json.loads makes them from "\ud800"), and non-BMP characters.
_TRICKY = "$\\'\"{}[]().*#@%/?=&;:,+- \t\r\n\x00\x7f\u00e9\u2028\ud800\udfff\U0001f600"
texts = st.text(st.characters(codec=None) | st.sampled_from(_TRICKY), max_size=40)
names = st.text(st.sampled_from("abcXYZ019_-.$ '\"[]*\\é"), min_size=0, max_size=8)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits: orjson refuses them
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(names | texts, children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(names | texts, json_values, max_size=5)


def _nested(depth: int, kind: str) -> str:
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "]" * depth


# Nesting past every parser's limit, and numbers past every integer and float range.
deep_json = st.builds(
    _nested, st.integers(min_value=0, max_value=5000), st.sampled_from(["object", "array"])
)
_huge_numbers = st.sampled_from(
    ["1e400", "-1e400", "1" * 5000, "-" + "9" * 30, "0." + "0" * 400 + "1", "1E-400", "NaN"]
).map(lambda number: f'{{"action": {number}, "n": {number}}}')


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


json_documents = st.one_of(
    json_objects.map(_dump), json_values.map(_dump), deep_json, _huge_numbers
)
messages: st.SearchStrategy[str | bytes] = st.one_of(
    json_documents,
    json_documents.map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_documents.map(lambda text: text.encode("utf-16-le", "surrogatepass")),
    texts,
    st.binary(max_size=64),
)
header_pairs = st.lists(st.tuples(texts, texts), max_size=6)


def is_finite_json(value: Any) -> bool:
    """True when ``value`` holds no float NaN or infinity anywhere."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_finite_json(item) for item in value)
    if isinstance(value, dict):
        return all(is_finite_json(item) for item in value.values())
    return True
