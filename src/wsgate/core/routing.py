"""Selection expressions and route selection (§2 of the AWS reference).

Expressions compile once at config load into literal parts and variables; selecting a route is a
pure function of the compiled expression, the API's route keys and the raw message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, NamedTuple

import orjson

from wsgate.core.jsonpath import MISSING, Segment, compile_path, evaluate_path, stringify
from wsgate.errors import RoutingError
from wsgate.types import JSONValue, new_tuple

__all__ = [
    "CONNECT",
    "DEFAULT",
    "DISCONNECT",
    "RESERVED_ROUTE_KEYS",
    "Expression",
    "RouteMatch",
    "SelectionOutcome",
    "compile_expression",
    "select_route",
]

CONNECT: Final = "$connect"
DISCONNECT: Final = "$disconnect"
DEFAULT: Final = "$default"
RESERVED_ROUTE_KEYS: Final = frozenset({CONNECT, DISCONNECT, DEFAULT})

# ${...} or $name.path...; \$ is a literal dollar.
_VARIABLE = re.compile(r"\\\$|\$\{(?P<braced>[^}]*)\}|\$(?P<bare>[A-Za-z_][\w.\-\[\]'\"]*)")


@dataclass(frozen=True, slots=True)
class _Variable:
    source: str  # "request.body"
    path: tuple[Segment, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled selection expression: literal strings and body variables, in order."""

    text: str
    parts: tuple[str | _Variable, ...]
    # True when the expression holds no variable (``action``, ``\\$default``).
    is_static: bool = False
    # The key when the expression is one top-level name (``$request.body.action``), else None.
    single_key: str | None = None

    def evaluate(self, body: JSONValue) -> str:
        """Evaluate against a parsed JSON body; missing paths become ``''``."""
        key = self.single_key
        if key is not None and type(body) is dict:  # the common case, without the general walk
            value = body.get(key)
            return value if type(value) is str else stringify(body.get(key, MISSING))
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(stringify(evaluate_path(body, part.path)))
        return "".join(out)


def compile_expression(text: str, *, sources: Collection[str] = ("request.body",)) -> Expression:
    """Compile a selection expression whose variables come from ``sources``.

    Raises:
        RoutingError: a variable names an unsupported source or an unsupported JSONPath.
    """
    parts: list[str | _Variable] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        parts.append(text[position : match.start()])
        position = match.end()
        if match.group(0) == "\\$":
            parts.append("$")
            continue
        name = (match["braced"] if match["braced"] is not None else match["bare"]).strip()
        parts.append(_compile_variable(text, name.rstrip("."), sources))
    parts.append(text[position:])
    merged = tuple(_merge_literals(parts))
    is_static = all(isinstance(part, str) for part in merged)
    single_key = None
    if len(merged) == 1 and isinstance(merged[0], _Variable) and len(merged[0].path) == 1:
        first = merged[0].path[0]
        single_key = first if isinstance(first, str) else None
    return Expression(text=text, parts=merged, is_static=is_static, single_key=single_key)


def _compile_variable(text: str, name: str, sources: Collection[str]) -> _Variable:
    for source in sources:
        if name == source or name.startswith((source + ".", source + "[")):
            try:
                path = compile_path(name[len(source) :])
            except ValueError as error:
                raise RoutingError(text, str(error)) from error
            if not path:
                raise RoutingError(text, f"${{{name}}} needs a path into {source}")
            return _Variable(source=source, path=path, text=name)
    allowed = ", ".join(f"${s}.*" for s in sources)
    raise RoutingError(text, f"unsupported variable ${name}; expected {allowed}")


def _merge_literals(parts: list[str | _Variable]) -> list[str | _Variable]:
    merged: list[str | _Variable] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + part
                continue
        merged.append(part)
    return merged


class SelectionOutcome(Enum):
    """Why a route was (or was not) chosen; kept for logs and traces."""

    MATCHED = "matched"
    NOT_JSON = "not_json"  # body is not JSON (or not an object): straight to $default
    NO_MATCH = "no_match"  # evaluated, but no route has that key: $default
    NO_ROUTE = "no_route"  # nothing matched and there is no $default: Forbidden


class RouteMatch(NamedTuple):
    """The result of route selection: ``route_key`` is None when the client gets Forbidden."""

    route_key: str | None
    outcome: SelectionOutcome
    selection_value: str | None


def select_route(
    expression: Expression, routes: Mapping[str, object] | Collection[str], message: str | bytes
) -> RouteMatch:
    """Choose the route for one message exactly as AWS does (§2.2).

    The expression is evaluated against the message parsed as JSON; a route whose key equals the
    result (case-sensitively) wins, else ``$default``, else no route. Non-JSON messages and bodies
    that are not JSON objects cannot be evaluated and go to ``$default``.
    """
    value: str | None
    if expression.is_static:
        value = expression.evaluate(None)
    else:
        body = _parse_object(message)
        if body is MISSING:
            return _fallback(routes, SelectionOutcome.NOT_JSON, None)
        value = expression.evaluate(body)
        if "e+" in value:
            # orjson reads integers past 64 bits as floats (99999999999999999999999 -> 1e+23),
            # which always print with an exponent; the stdlib keeps every digit the client sent.
            exact = _parse_object(message, exact=True)
            value = value if exact is MISSING else expression.evaluate(exact)
    if value in routes and value not in (CONNECT, DISCONNECT):
        # Every routed message comes here: the tuple is built without RouteMatch.__new__'s
        # argument handling, which costs more than the rest of the selection.
        return new_tuple(RouteMatch, (value, _MATCHED, value))
    return _fallback(routes, SelectionOutcome.NO_MATCH, value)


_MATCHED: Final = SelectionOutcome.MATCHED


def _fallback(
    routes: Mapping[str, object] | Collection[str], outcome: SelectionOutcome, value: str | None
) -> RouteMatch:
    if DEFAULT in routes:
        return RouteMatch(DEFAULT, outcome, value)
    return RouteMatch(None, SelectionOutcome.NO_ROUTE, value)


def _parse_object(message: str | bytes, *, exact: bool = False) -> JSONValue:
    # Only a JSON object can hold a routing key: most other text is rejected without parsing.
    if not message or (message[:1] not in _OPENING and message.lstrip()[:1] not in _OPENING):
        return MISSING
    body: JSONValue = MISSING
    if not exact:
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            # orjson refuses a few things the stdlib accepts (NaN, numbers past a double's
            # range): let the stdlib decide those. Nesting past orjson's 1024 levels is refused by
            # both, as AWS's parser refuses nesting past its own limit: such a message is not
            # JSON (§2.2).
            exact = True
    if exact:
        # Bytes are decoded as UTF-8 first: given bytes, the stdlib also reads UTF-16 and -32.
        try:
            body = json.loads(message.decode() if isinstance(message, bytes) else message)
        except (ValueError, RecursionError):
            return MISSING
    return body if type(body) is dict else MISSING


_OPENING: Final = ("{", b"{")
