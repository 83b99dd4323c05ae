"""Request validation with models: selection, draft 4 schemas, bounds, with plain values."""

from __future__ import annotations

import json
import re

import pytest

from wsgate.core.validation import (
    MAX_SCHEMA_CHARS,
    ModelError,
    compile_request_validation,
    compile_schema,
    validate_request,
)
from wsgate.errors import RoutingError

MESSAGE = json.dumps(
    {
        "type": "object",
        "required": ["action", "data"],
        "properties": {"action": {"type": "string"}, "data": {"type": "string", "maxLength": 8}},
    }
)
JOIN = json.dumps(
    {
        "type": "object",
        "required": ["room"],
        "properties": {"room": {"$ref": "#/definitions/room"}},
        "definitions": {"room": {"type": "integer", "minimum": 1}},
    }
)
ANYTHING = "{}"
SCHEMAS = {"Message": MESSAGE, "Join": JOIN, "Anything": ANYTHING}


def _validation(expression="$request.body.action", models=None):
    models = {"sendmessage": "Message", "join": "Join"} if models is None else models
    return compile_request_validation(expression, models, SCHEMAS)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"action": "sendmessage", "data": "hi"}', None),
        ('{"action": "join", "room": 3}', None),
        ('{"action": "sendmessage"}', "model Message: at '/': 'data' is a required property"),
        (
            '{"action": "sendmessage", "data": "far too long"}',
            "model Message: at '/data': 'far too long' is too long",
        ),
        (
            '{"action": "join", "room": 0}',
            "model Join: at '/room': 0 is less than the minimum of 1",
        ),
        ('{"action": "join", "room": 1.0}', "model Join: at '/room': 1.0 is not of type 'integer'"),
        ('{"action": "other"}', "no model for selection value 'other' and no $default model"),
        ('{"action": ["a"]}', "no model for selection value '[a]' and no $default model"),
        (
            "not json",
            "no model for selection value (none: the body is not a JSON object) and no "
            "$default model",
        ),
        (
            "[1, 2]",
            "no model for selection value (none: the body is not a JSON object) and no "
            "$default model",
        ),
    ],
)
def test_the_selected_model_decides(body, problem):
    assert validate_request(_validation(), body) == problem


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"action": "other"}', None),
        ("[1, 2]", None),
        ("not json", "model Anything: the body is not JSON"),
        (b"\x00\x01", "model Anything: the body is not JSON"),
        ('{"action": "sendmessage"}', "model Message: at '/': 'data' is a required property"),
    ],
)
def test_the_default_model_takes_what_no_key_selects(body, problem):
    models = {"sendmessage": "Message", "$default": "Anything"}
    assert validate_request(_validation(models=models), body) == problem


@pytest.mark.parametrize(
    ("expression", "body", "problem"),
    [
        ("sendmessage", '{"action": "x", "data": "hi"}', None),
        (
            "sendmessage",
            '{"action": "x", "data": 1}',
            "model Message: at '/data': 1 is not of type 'string'",
        ),
        ("\\$default", '{"x": 1}', None),
        ("${request.body.kind}", '{"kind": "sendmessage", "action": "x", "data": "d"}', None),
    ],
)
def test_static_and_braced_expressions(expression, body, problem):
    models = {"sendmessage": "Message", "$default": "Anything"}
    assert validate_request(_validation(expression, models), body) == problem


def test_a_long_value_is_cut_in_the_reason():
    problem = validate_request(_validation(), json.dumps({"action": "x" * 1000}))
    assert problem is not None and len(problem) < 300 and "..." in problem


def test_deep_nesting_fails_without_crashing():
    nested = json.dumps({"type": "object", "properties": {"a": {"$ref": "#"}}})
    validation = compile_request_validation("\\$default", {"$default": "Deep"}, {"Deep": nested})
    body = '{"a": ' * 900 + "{}" + "}" * 900
    problem = validate_request(validation, body)
    assert problem in (None, "model Deep: the body is nested too deeply to validate")
    too_deep = "[" * 100_000 + "]" * 100_000
    assert validate_request(validation, too_deep) == "model Deep: the body is not JSON"


def test_an_id_that_moves_references_away_fails_the_body():
    schema = json.dumps(
        {"id": "http://example.com/root.json", "properties": {"a": {"$ref": "other.json#"}}}
    )
    with pytest.raises(ModelError, match="only references inside the schema"):
        compile_schema(schema)
    moved = json.dumps(
        {
            "definitions": {"x": {"type": "string"}},
            "properties": {
                "a": {
                    "id": "http://example.com/a",
                    "properties": {"b": {"$ref": "#/definitions/x"}},
                }
            },
        }
    )
    validation = compile_request_validation("\\$default", {"$default": "Moved"}, {"Moved": moved})
    problem = validate_request(validation, '{"a": {"b": 1}}')
    assert problem is not None and problem.startswith("model Moved: the schema's $ref cannot")


def test_formats_are_annotations_only():
    schema = json.dumps({"properties": {"mail": {"type": "string", "format": "email"}}})
    validation = compile_request_validation("\\$default", {"$default": "Mail"}, {"Mail": schema})
    assert validate_request(validation, '{"mail": "not an address"}') is None


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("{", "the schema is not JSON"),
        ("[]", "the schema must be a JSON object"),
        ('{"type": "thing"}', "not a valid draft 4 schema at '/type'"),
        ('{"properties": {"a": {"minimum": "x"}}}', "not a valid draft 4 schema at '/properties/a"),
        ('{"$ref": "https://example.com/s.json"}', "only references inside the schema"),
        ('{"$ref": "#/definitions/none"}', "points at nothing"),
        ('{"items": [{}], "x": {"$ref": "#/items/1"}}', "points at nothing"),
        ('{"$ref": "#/items/a"}', "points at nothing"),
        (" " * MAX_SCHEMA_CHARS + "{}", f"AWS allows {MAX_SCHEMA_CHARS}"),
    ],
)
def test_unusable_schemas(schema, message):
    with pytest.raises(ModelError, match=re.escape(message)):
        compile_schema(schema)


@pytest.mark.parametrize(
    "schema",
    [
        '{"$ref": "#"}',
        '{"items": [{"type": "string"}], "additionalItems": {"$ref": "#/items/0"}}',
        '{"definitions": {"a/b": {}, "c~d": {}}, "anyOf": [{"$ref": "#/definitions/a~1b"},'
        ' {"$ref": "#/definitions/c~0d"}]}',
        '{"enum": [{"$ref": 1}]}',
    ],
)
def test_references_inside_the_schema(schema):
    assert compile_schema(schema) is compile_schema(schema)  # compiled once per text


def test_a_route_naming_no_model():
    with pytest.raises(ModelError, match=r"requestModels\.x: no model named 'Missing'"):
        compile_request_validation("$request.body.action", {"x": "Missing"}, SCHEMAS)


def test_a_bad_expression():
    with pytest.raises(RoutingError):
        compile_request_validation("$request.header.x", {}, SCHEMAS)
