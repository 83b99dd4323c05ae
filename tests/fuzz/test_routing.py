"""Route selection over any expression text and any message (wsgate.core.routing)."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import example, given, strategies as st

from tests.fuzz.strategies import json_objects, messages, names, texts
from wsgate.core.jsonpath import evaluate_path, stringify
from wsgate.core.routing import (
    CONNECT,
    DEFAULT,
    DISCONNECT,
    Expression,
    RouteMatch,
    SelectionOutcome,
    compile_expression,
    select_route,
)
from wsgate.errors import RoutingError

_FRAGMENTS = st.sampled_from(
    [
        "$request.body",
        "${request.body",
        "$request.body.",
        "request.body",
        "$context.x",
        ".",
        "..",
        "action",
        "['a b']",
        '["x"]',
        "[0]",
        "[-1]",
        "[*]",
        "[?(@.a)]",
        "*",
        "{",
        "}",
        "\\$",
        "$",
        "\\",
        " ",
        "-",
        "'",
        "]",
    ]
)
expressions = st.one_of(texts, st.lists(_FRAGMENTS | names, max_size=8).map("".join))
_ROUTES = st.sets(st.sampled_from([CONNECT, DISCONNECT, DEFAULT, "", "a", "1", "true"]) | names)


def _compiled(text: str) -> Expression | None:
    try:
        expression = compile_expression(text)
    except RoutingError:
        return None
    assert expression.text == text
    return expression


@given(expressions)
@example("${request.body}")
@example("$request.body.a[0]['b c']\\$x")
def test_compile_expression_raises_only_routing_error(text):
    expression = _compiled(text)
    if expression is not None and expression.is_static:
        # No variable: the value is the text with every \$ turned into $.
        assert expression.evaluate(None) == text.replace("\\$", "$")


@given(expressions, json_objects)
def test_the_single_key_shortcut_evaluates_as_the_general_walk(text, body):
    expression = _compiled(text)
    if expression is None:
        return
    general = dataclasses.replace(expression, single_key=None)
    assert expression.evaluate(body) == general.evaluate(body)


def _reference(expression: Expression, routes: set[str], message: str | bytes) -> RouteMatch:
    """§2.2 written plainly: parse strict UTF-8 JSON with the stdlib, then look the value up."""
    value: str | None = None
    outcome = SelectionOutcome.NO_MATCH
    if expression.is_static:
        value = expression.evaluate(None)
    else:
        try:
            text = message.decode("utf-8") if isinstance(message, bytes) else message
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            value = "".join(
                part if isinstance(part, str) else stringify(evaluate_path(body, part.path))
                for part in expression.parts
            )
        else:
            outcome = SelectionOutcome.NOT_JSON
    if value in routes and value not in (CONNECT, DISCONNECT):
        return RouteMatch(value, SelectionOutcome.MATCHED, value)
    if DEFAULT in routes:
        return RouteMatch(DEFAULT, outcome, value)
    return RouteMatch(None, SelectionOutcome.NO_ROUTE, value)


@given(
    st.sampled_from(["$request.body.action", "${request.body.a.b}-$request.body['n'][0]", "x"])
    | expressions,
    _ROUTES,
    messages,
)
# A UTF-16 text in a binary message is not JSON to AWS; the stdlib alone would read it.
@example("$request.body.action", {"go"}, '{"action":"go"}'.encode("utf-16-le"))
@example("$request.body.action", {"go"}, '{"action":"go"}'.encode("utf-32-le"))
def test_select_route_matches_a_plain_reading_of_the_spec(text, routes, message):
    expression = _compiled(text)
    if expression is None:
        return
    try:
        expected = _reference(expression, routes, message)
    except RecursionError:  # the stdlib gives up before orjson on deep nesting: either is fine
        expected = None
    match = select_route(expression, routes, message)
    assert match.route_key is None or match.route_key in routes
    assert match.route_key not in (CONNECT, DISCONNECT)
    if expected is not None:
        assert match == expected
