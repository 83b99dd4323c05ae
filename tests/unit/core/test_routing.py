"""Selection expressions and route selection (§2 of the AWS reference)."""

from __future__ import annotations

import json

import pytest

from wsgate.core.routing import (
    CONNECT,
    DEFAULT,
    DISCONNECT,
    RESERVED_ROUTE_KEYS,
    RouteMatch,
    SelectionOutcome,
    compile_expression,
    select_route,
)
from wsgate.errors import RoutingError

# The message AWS's route-selection documentation evaluates its examples against.
_AWS_EXAMPLE = '{"service":"chat","action":"join","data":{"room":"room1234"}}'


def test_reserved_route_keys():
    assert RESERVED_ROUTE_KEYS == {"$connect", "$disconnect", "$default"}
    assert (CONNECT, DISCONNECT, DEFAULT) == ("$connect", "$disconnect", "$default")


_NOT_JSON = SelectionOutcome.NOT_JSON


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        # The AWS developer guide's worked examples.
        ("$request.body.action", "join"),
        ("${request.body.service}/${request.body.action}", "chat/join"),
        ("${request.body.action}-${request.body.invalidPath}", "join-"),
        ("action", "action"),
        ("\\$default", "$default"),
        ("$request.body.data.room", "room1234"),
        # Other forms of the same grammar.
        ("${request.body.action}", "join"),
        ("${ request.body.action }", "join"),
        ("${request.body.action}-beta", "join-beta"),
        ("v1:$request.body.action", "v1:join"),
        ("${request.body.data.room}", "room1234"),
        ("${request.body['service']}", "chat"),
        ("${request.body.data['room']}", "room1234"),
        ('${request.body["action"]}', "join"),
        ("$request.body.invalidPath", ""),
        ("$request.body.data.room.deeper", ""),
        ("\\$\\$", "$$"),
        ("a\\$b", "a$b"),
        ("", ""),
    ],
)
def test_evaluate_aws_examples(expression, value):
    assert compile_expression(expression).evaluate(json.loads(_AWS_EXAMPLE)) == value


@pytest.mark.parametrize(
    ("expression", "is_static"),
    [
        ("action", True),
        ("\\$default", True),
        ("", True),
        ("$request.body.action", False),
        ("x-${request.body.a}", False),
    ],
)
def test_is_static(expression, is_static):
    compiled = compile_expression(expression)
    assert compiled.is_static is is_static
    assert compiled.text == expression


@pytest.mark.parametrize(
    ("expression", "literals", "variables"),
    [
        ("\\$default", ("$default",), 0),
        ("a\\$b", ("a$b",), 0),
        ("", (), 0),
        ("$request.body.action", (), 1),
        ("x-${request.body.a}-y", ("x-", "-y"), 1),
        ("${request.body.a}${request.body.b}", (), 2),
    ],
)
def test_literals_are_merged(expression, literals, variables):
    parts = compile_expression(expression).parts
    assert tuple(part for part in parts if isinstance(part, str)) == literals
    assert sum(not isinstance(part, str) for part in parts) == variables


def test_trailing_dot_of_a_bare_variable_is_not_part_of_the_path():
    assert compile_expression("$request.body.action.").evaluate({"action": "join"}) == "join"


def test_index_directly_after_the_source():
    assert compile_expression("${request.body[0]}").evaluate(["first"]) == "first"


def test_other_sources_compile_when_allowed():
    compiled = compile_expression(
        "${integration.response.statuscode}", sources=("integration.response",)
    )
    assert not compiled.is_static


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("$request.header.x-api-key", "unsupported variable $request.header.x-api-key"),
        ("${context.connectionId}", "unsupported variable $context.connectionId"),
        ("$request.querystring.token", "unsupported variable"),
        ("${stageVariables.fn}", "unsupported variable"),
        ("${request.bodyx}", "unsupported variable"),
        ("${}", "unsupported variable $;"),
        ("$request.body", "needs a path into request.body"),
        ("${request.body}", "needs a path into request.body"),
        ("$request.body.", "needs a path into request.body"),
        # A bare variable stops before "*": the path is empty.
        ("$request.body.*", "needs a path into request.body"),
        ("${request.body.data.*}", "wildcards and filters are not supported"),
        ("${request.body['*']}", "wildcards and filters are not supported"),
        ("${request.body.items[*]}", "unsupported JSONPath syntax"),
        ("${request.body..action}", "unsupported JSONPath syntax"),
        ("${request.body.items[?(@.x)]}", "unsupported JSONPath syntax"),
    ],
)
def test_compile_errors(expression, fragment):
    with pytest.raises(RoutingError) as caught:
        compile_expression(expression)
    assert caught.value.expression == expression
    assert fragment in caught.value.reason
    assert (
        str(caught.value) == f"invalid selection expression {expression!r}: {caught.value.reason}"
    )


def test_unsupported_variable_lists_the_allowed_sources():
    with pytest.raises(RoutingError, match=r"expected \$a\.\*, \$b\.\*"):
        compile_expression("$c.x", sources=("a", "b"))


_ROUTES = frozenset(
    {
        "$connect",
        "$disconnect",
        "$default",
        "join",
        "chat/join",
        "join-",
        "room1234",
        "action",
        "1",
        "1.5",
        "true",
        "false",
        "[1, 2]",
        '{"a":1}',
    }
)
_NO_DEFAULT = _ROUTES - {"$default"}

_ACTION = "$request.body.action"
_NO_MATCH = SelectionOutcome.NO_MATCH


@pytest.mark.parametrize(
    ("expression", "message", "route_key", "outcome", "value"),
    [
        # AWS's documented examples.
        (_ACTION, _AWS_EXAMPLE, "join", SelectionOutcome.MATCHED, "join"),
        (
            "${request.body.service}/${request.body.action}",
            _AWS_EXAMPLE,
            "chat/join",
            SelectionOutcome.MATCHED,
            "chat/join",
        ),
        (
            "${request.body.action}-${request.body.invalidPath}",
            _AWS_EXAMPLE,
            "join-",
            SelectionOutcome.MATCHED,
            "join-",
        ),
        ("$request.body.data.room", _AWS_EXAMPLE, "room1234", SelectionOutcome.MATCHED, "room1234"),
        ("action", _AWS_EXAMPLE, "action", SelectionOutcome.MATCHED, "action"),
        ("\\$default", _AWS_EXAMPLE, "$default", SelectionOutcome.MATCHED, "$default"),
        # A static expression never needs the body.
        ("action", "not json", "action", SelectionOutcome.MATCHED, "action"),
        ("action", b"\xff\xfe", "action", SelectionOutcome.MATCHED, "action"),
        # Messages that cannot be evaluated go to $default.
        (_ACTION, "hello", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, "", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, b"", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, "{not json", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, '{"action": "join"', "$default", SelectionOutcome.NOT_JSON, None),
        # Nesting past the parsers' depth (orjson's and the stdlib's) is not JSON either.
        (_ACTION, '{"action": ' + "[" * 5000 + "]" * 5000 + "}", "$default", _NOT_JSON, None),
        (_ACTION, '{"a": ' * 3000 + "1" + "}" * 3000, "$default", _NOT_JSON, None),
        (_ACTION, "[1, 2]", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, '[{"action": "join"}]', "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, "42", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, '"join"', "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, "null", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, "   ", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, " [1]", "$default", SelectionOutcome.NOT_JSON, None),
        (_ACTION, b'{"action":"\xff"}', "$default", SelectionOutcome.NOT_JSON, None),
        # Only UTF-8 is JSON: the stdlib, which reads what orjson refuses, would take these.
        (_ACTION, '{"action":"join"}'.encode("utf-16-le"), "$default", _NOT_JSON, None),
        (_ACTION, '{"action":"join"}'.encode("utf-32-le"), "$default", _NOT_JSON, None),
        (_ACTION, b'{"action": 1e400}', "$default", SelectionOutcome.NO_MATCH, "Infinity"),
        # Integers past 64 bits keep every digit (orjson would read them as floats).
        (_ACTION, '{"action": 99999999999999999999999}', "$default", _NO_MATCH, "9" * 23),
        (
            _ACTION,
            b'{"action": [-18446744073709551616]}',
            "$default",
            _NO_MATCH,
            "[-" + str(2**64) + "]",
        ),
        (_ACTION, '{"action": 1e+23}', "$default", SelectionOutcome.NO_MATCH, "1e+23"),
        (_ACTION, '{"action": "e+"}', "$default", SelectionOutcome.NO_MATCH, "e+"),
        # Deep enough for the stdlib to give up, not orjson: orjson's reading stands.
        (
            _ACTION,
            '{"action": "e+", "x": ' + "[" * 1010 + "]" * 1010 + "}",
            "$default",
            _NO_MATCH,
            "e+",
        ),
        # Whitespace before the object and bytes messages are fine.
        (_ACTION, ' \n{"action": "join"}', "join", SelectionOutcome.MATCHED, "join"),
        (_ACTION, b'{"action":"join"}', "join", SelectionOutcome.MATCHED, "join"),
        (_ACTION, b'  {"action":"join"}', "join", SelectionOutcome.MATCHED, "join"),
        # Missing key: the value is "" and falls to $default.
        (_ACTION, '{"other": "join"}', "$default", SelectionOutcome.NO_MATCH, ""),
        (_ACTION, "{}", "$default", SelectionOutcome.NO_MATCH, ""),
        (_ACTION, '{"action": null}', "$default", SelectionOutcome.NO_MATCH, ""),
        # Keys and values match case-sensitively.
        (_ACTION, '{"action": "JOIN"}', "$default", SelectionOutcome.NO_MATCH, "JOIN"),
        (_ACTION, '{"Action": "join"}', "$default", SelectionOutcome.NO_MATCH, ""),
        (_ACTION, '{"action": "unknown"}', "$default", SelectionOutcome.NO_MATCH, "unknown"),
        # A message can select $default by name, never $connect or $disconnect.
        (_ACTION, '{"action": "$default"}', "$default", SelectionOutcome.MATCHED, "$default"),
        (_ACTION, '{"action": "$connect"}', "$default", SelectionOutcome.NO_MATCH, "$connect"),
        (
            _ACTION,
            '{"action": "$disconnect"}',
            "$default",
            SelectionOutcome.NO_MATCH,
            "$disconnect",
        ),
        ("\\$connect", "{}", "$default", SelectionOutcome.NO_MATCH, "$connect"),
        ("\\$disconnect", "x", "$default", SelectionOutcome.NO_MATCH, "$disconnect"),
        # Non-string values are stringified before matching.
        (_ACTION, '{"action": 1}', "1", SelectionOutcome.MATCHED, "1"),
        (_ACTION, '{"action": 1.5}', "1.5", SelectionOutcome.MATCHED, "1.5"),
        (_ACTION, '{"action": true}', "true", SelectionOutcome.MATCHED, "true"),
        (_ACTION, '{"action": false}', "false", SelectionOutcome.MATCHED, "false"),
        (_ACTION, '{"action": [1, 2]}', "[1, 2]", SelectionOutcome.MATCHED, "[1, 2]"),
        (_ACTION, '{"action": {"a": 1}}', '{"a":1}', SelectionOutcome.MATCHED, '{"a":1}'),
    ],
)
def test_select_route(expression, message, route_key, outcome, value):
    match = select_route(compile_expression(expression), _ROUTES, message)
    assert match == RouteMatch(route_key, outcome, value)


@pytest.mark.parametrize(
    ("expression", "message", "route_key", "value"),
    [
        (_ACTION, '{"action": "join"}', "join", "join"),
        (_ACTION, '{"action": "unknown"}', None, "unknown"),
        (_ACTION, '{"other": 1}', None, ""),
        (_ACTION, "not json", None, None),
        (_ACTION, "[1]", None, None),
        (_ACTION, '{"action": "$connect"}', None, "$connect"),
        (_ACTION, '{"action": "$disconnect"}', None, "$disconnect"),
        (_ACTION, '{"action": "$default"}', None, "$default"),
        ("\\$default", "x", None, "$default"),
    ],
)
def test_select_route_without_default(expression, message, route_key, value):
    match = select_route(compile_expression(expression), _NO_DEFAULT, message)
    outcome = SelectionOutcome.MATCHED if route_key else SelectionOutcome.NO_ROUTE
    assert match == RouteMatch(route_key, outcome, value)


@pytest.mark.parametrize(
    "routes",
    [
        {"join": object(), "$default": None},
        ["join", "$default"],
        ("$default", "join"),
        {"join", "$default"},
    ],
)
def test_routes_may_be_a_mapping_or_a_collection(routes):
    expression = compile_expression(_ACTION)
    assert select_route(expression, routes, '{"action":"join"}').route_key == "join"
    assert select_route(expression, routes, '{"action":"x"}').route_key == "$default"


def test_no_routes_at_all():
    match = select_route(compile_expression(_ACTION), {}, '{"action":"join"}')
    assert match == RouteMatch(None, SelectionOutcome.NO_ROUTE, "join")


@pytest.mark.parametrize("depth", [100, 500, 1000, 1023])
def test_deeply_nested_selected_values_route_without_recursion(depth):
    # {"action": [[[...]]]}: parsed, stringified without recursion, matching no route.
    message = '{"action": ' + "[" * depth + "]" * depth + "}"
    match = select_route(compile_expression("$request.body.action"), {"$default": 1}, message)
    assert (match.route_key, match.outcome) == ("$default", SelectionOutcome.NO_MATCH)
    assert match.selection_value is not None and match.selection_value.startswith("[[")
