"""The bounded JSON Schema keywords: jsonschema's answers, in bounded time."""

from __future__ import annotations

import json
import time

import pytest
from jsonschema import Draft4Validator

from wsgate.core.schema_keywords import BoundedDraft4Validator, ValidationTooSlow, time_bound
from wsgate.core.validation import compile_request_validation, validate_request

PATTERNS = {"type": "object", "properties": {"s": {"pattern": "^a+b?$"}}}
PATTERN_PROPERTIES = {
    "patternProperties": {"^x-": {"type": "integer"}, "^y": {"type": "string"}},
    "additionalProperties": False,
}
PATTERN_AND_OBJECT = {
    "properties": {"a": {}},
    "patternProperties": {"^x": {}},
    "additionalProperties": {"type": "integer"},
}
PLAIN_ADDITIONAL = {"properties": {"a": {}}, "additionalProperties": False}
UNIQUE = {"uniqueItems": True}


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        (PATTERNS, {"s": "aaa"}),
        (PATTERNS, {"s": "aab"}),
        (PATTERNS, {"s": "ba"}),
        (PATTERNS, {"s": 3}),
        (PATTERNS, "not an object"),
        (PATTERN_PROPERTIES, {"x-a": 1, "yes": "y"}),
        (PATTERN_PROPERTIES, {"x-a": "1"}),
        (PATTERN_PROPERTIES, {"other": 1}),
        (PATTERN_PROPERTIES, {"other": 1, "more": 2}),
        (PATTERN_PROPERTIES, []),
        (PATTERN_AND_OBJECT, {"a": "s", "x1": "s", "z": 1}),
        (PATTERN_AND_OBJECT, {"z": "s"}),
        (PLAIN_ADDITIONAL, {"a": 1}),
        (PLAIN_ADDITIONAL, {"a": 1, "b": 2}),
        ({"additionalProperties": True}, {"b": 2}),
        (UNIQUE, [1, 2, 3]),
        (UNIQUE, [1, 1.0]),
        (UNIQUE, [1, True]),
        (UNIQUE, [0, False, None, "", [], {}]),
        (UNIQUE, [{"a": 1, "b": [2]}, {"b": [2], "a": 1}]),
        (UNIQUE, [[1, [2]], [1, [2.0]]]),
        (UNIQUE, [[1, 2], [2, 1]]),
        (UNIQUE, "not an array"),
        ({"uniqueItems": False}, [1, 1]),
    ],
)
def test_the_same_answers_as_jsonschema(schema, instance):
    ours = [error.message for error in BoundedDraft4Validator(schema).iter_errors(instance)]
    theirs = [error.message for error in Draft4Validator(schema).iter_errors(instance)]
    assert bool(ours) == bool(theirs)
    if schema is not UNIQUE and schema is not PLAIN_ADDITIONAL:
        assert ours == theirs


def test_messages_name_what_failed():
    errors = list(BoundedDraft4Validator(PLAIN_ADDITIONAL).iter_errors({"a": 1, "c": 2, "b": 3}))
    assert [error.message for error in errors] == [
        "Additional properties are not allowed ('b', 'c' unexpected)"
    ]
    long = [{"k": "v" * 50}] * 10
    (error,) = BoundedDraft4Validator(UNIQUE).iter_errors(long)
    assert error.message.endswith("...] has non-unique elements"[-24:])
    assert len(error.message) < 260


def test_unique_items_over_many_objects():
    # Pairwise comparison would be 2e8 deep comparisons; one key per item is linear.
    items = [{"id": n, "tags": [n, str(n)]} for n in range(20_000)]
    assert not list(BoundedDraft4Validator(UNIQUE).iter_errors(items))
    assert list(BoundedDraft4Validator(UNIQUE).iter_errors([*items, {"tags": [7, "7"], "id": 7}]))


# A pattern that backtracks without end on a client's text.
_BACKTRACKING = "(a|aa)+$"
_TEXT = "a" * 60 + "b"


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ({"properties": {"s": {"pattern": _BACKTRACKING}}}, {"s": _TEXT}),
        ({"patternProperties": {_BACKTRACKING: {}}}, {_TEXT: 1}),
        ({"patternProperties": {_BACKTRACKING: {}}, "additionalProperties": False}, {_TEXT: 1}),
    ],
)
def test_backtracking_patterns_stop_at_the_time_bound(schema, body):
    validation = compile_request_validation(
        "\\$default", {"$default": "M"}, {"M": json.dumps(schema)}
    )
    started = time.monotonic()
    problem = validate_request(validation, json.dumps(body), clock=time.monotonic, max_seconds=0.05)
    assert problem == "model M: validating took more than 0.05 s"
    assert time.monotonic() - started < 5  # unbounded, this runs for hours


def test_the_bound_is_lifted_after_a_validation():
    validator = BoundedDraft4Validator({"pattern": "^a+$"})
    with time_bound(time.monotonic, 0.0):
        pass
    assert not list(validator.iter_errors("aaa"))  # no bound left behind
    with pytest.raises(ValidationTooSlow), time_bound(lambda: 0.0, -1.0):
        list(BoundedDraft4Validator({"pattern": _BACKTRACKING}).iter_errors(_TEXT))
