"""Mapping templates (§4 of the AWS reference): compile, select (§2.3, §3.3, §3.5) and render.

Templates are Velocity (VTL), run by airspeed and adapted to API Gateway's dialect in
:mod:`wsgate.core.vtl`. They compile once at config load, where syntax errors, refused directives
and bad literal JSONPaths surface with their line and column; rendering is then a pure function of
the compiled template, a :class:`TemplateInput` and a :class:`RenderBudget`: no environment or
I/O, and no clock but the one the caller puts in the budget.

Choices where AWS documents nothing (each pinned by a unit test):

- A reference whose value is null or undefined (``$context.nothing``,
  ``$context.authorizer.missingKey``, ``$input.path('$.missing')``) renders as empty text, as
  users observe on AWS, not as its own source text as plain Velocity would.
- ``$input.json(path)`` of a path that does not exist renders empty; ``$input.path`` gives null.
- ``$input.path``/``$input.json`` read an empty body as ``{}`` and a body that is not JSON (and does
  not start like JSON) as a JSON string, as observed on AWS; a broken JSON object is an error.
- ``$util.escapeJavaScript`` escapes ``"``, ``'``, ``\\`` and control characters only; ``/`` and
  non-ASCII characters are left as they are.
- JSONPath in templates: names, ``['quoted']``, ``[index]``, ``.*`` and ``[*]``; deep scan (``..``)
  and filters are rejected. A wildcard path yields a list, as in Jayway JsonPath.
- Template size is capped at 300 KB, counted as 300 * 1024 bytes of UTF-8.
- ``$foreach.hasNext`` and ``$velocityHasNext`` both work inside ``#foreach`` (airspeed has both).
- String literals keep their backslashes as Velocity 1.7 does, so AWS's ``.replaceAll("\\\\'","'")``
  works; airspeed cannot parse a backslash before other characters (``"\\'"``, ``'\\d'``), and such
  templates fail to compile with the position.
- ``#include``, ``#parse`` and ``#evaluate`` are refused, and identifiers must start with a letter.
- A template calls only what API Gateway's Java VTL offers: ``String``, ``List`` and ``Map``
  methods, ``$input`` and ``$util`` (§4), ``toString``/``equals``; any other call fails the
  rendering with the method's name. Java semantics where they differ from Python's: indexes out
  of range are errors, ``matches`` is a whole-string match, ``split`` drops trailing empty
  strings, replacements use ``$1``, ``List.add`` answers ``true``; ``+`` joins strings and
  adds numbers, the other operators take numbers only, integers stay within 64 bits.
- Work is bounded (:class:`RenderBudget`): 1000 iterations per ``#foreach`` (AWS's quota),
  100,000 loop iterations and macro calls per rendering, macros nested 20 deep (Velocity's
  default), 10 MB for the output and for any string built, and wall time when a clock is given.
  Past a bound the rendering fails with ``template work limit: ...``; AWS documents only the
  per-loop quota, not what happens past it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import airspeed

from wsgate.core.routing import DEFAULT, Expression, compile_expression
from wsgate.core.vtl import TemplateProblem, position, prepare, render
from wsgate.core.vtl_budget import RenderBudget, RenderFailure
from wsgate.core.vtl_input import Input, Util
from wsgate.core.vtl_value import VtlMap, to_text, to_vtl
from wsgate.errors import RoutingError, TemplateError
from wsgate.types import JSONValue

__all__ = [
    "JSON_CONTENT_TYPE",
    "MAX_TEMPLATE_BYTES",
    "CompiledTemplate",
    "PassthroughBehavior",
    "RenderBudget",
    "TemplateInput",
    "compile_response_expression",
    "compile_template",
    "passthrough_allowed",
    "render_template",
    "select_response_template",
    "select_template",
]

MAX_TEMPLATE_BYTES: Final = 300 * 1024  # AWS quota: mapping template size, 300 KB
JSON_CONTENT_TYPE: Final = "application/json"
PassthroughBehavior = Literal["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"]
_UTIL: Final = Util()
_BUDGET: Final = RenderBudget()


def _no_params() -> Mapping[str, Mapping[str, str]]:
    return {"path": {}, "querystring": {}, "header": {}}


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """What one rendering sees: ``$context``, ``$input`` and ``$stageVariables``.

    ``body`` is the client's message (request templates) or the backend's answer (response
    templates); ``params`` holds ``path``, ``querystring`` and ``header`` maps for
    ``$input.params()``, empty except on ``$connect``.
    """

    context: Mapping[str, JSONValue]
    body: str
    params: Mapping[str, Mapping[str, str]] = field(default_factory=_no_params)
    stage_variables: Mapping[str, str] = field(default_factory=dict)


class CompiledTemplate:
    """A parsed, checked mapping template; build it with :func:`compile_template`."""

    __slots__ = ("_template", "place", "text")

    def __init__(self, text: str, place: str, template: Any) -> None:
        self.text = text
        self.place = place
        self._template = template

    def __repr__(self) -> str:
        return f"CompiledTemplate(place={self.place!r}, chars={len(self.text)})"


def compile_template(text: str, *, place: str = "") -> CompiledTemplate:
    """Parse and check a mapping template; ``place`` (its config path) prefixes error messages.

    Raises:
        TemplateError: the template is over 300 KB, does not parse, uses ``#include``,
            ``#parse`` or ``#evaluate``, or passes a bad literal JSONPath to ``$input.path``
            or ``$input.json``; the message gives the line and column.
    """
    try:
        size = len(text.encode())
    except UnicodeEncodeError as error:
        raise TemplateError(_at(place, f"template is not Unicode text: {error.reason}")) from error
    if size > MAX_TEMPLATE_BYTES:
        limit = f"AWS allows at most {MAX_TEMPLATE_BYTES} bytes (300 KB)"
        raise TemplateError(_at(place, f"template is {size} bytes; {limit}"))
    template = airspeed.Template(text, filename=place or "<template>")
    try:
        template.ensure_compiled()
        prepare(template.root_element)
    except airspeed.TemplateSyntaxError as error:
        # airspeed's message starts "line L, column C:"; its excerpt may span lines.
        raise TemplateError(_at(place, " ".join(str(error).split()))) from error
    except TemplateProblem as error:
        line, column = position(text, error.offset)
        raise TemplateError(_at(place, f"line {line}, column {column}: {error}")) from error
    except RecursionError as error:
        raise TemplateError(_at(place, "template nests too deeply to parse")) from error
    except ValueError as error:  # e.g. an integer literal past Python's 4300-digit limit
        raise TemplateError(_at(place, f"a literal cannot be read: {error}")) from error
    return CompiledTemplate(text, place, template)


def render_template(
    template: CompiledTemplate, variables: TemplateInput, *, budget: RenderBudget = _BUDGET
) -> str:
    """Render ``template`` with AWS's template variables, within ``budget``.

    The default budget has no clock, so no time bound: callers that render on an event loop
    pass ``RenderBudget(clock=time.monotonic)``.

    Raises:
        TemplateError: rendering failed (invalid JSON for ``$input.path`` or
            ``$util.parseJson``, a JSONPath built at render time that does not compile, a
            method the template may not call, a work limit passed, an exception in a method
            the template called); the message gives line and column.
    """
    namespace = {
        "context": _context(variables.context),
        "input": Input(variables.body, variables.params),
        "util": _UTIL,
        "stageVariables": to_vtl(variables.stage_variables),
    }
    try:
        output = render(template._template, namespace, budget)
    except airspeed.TemplateExecutionError as error:
        raise TemplateError(_runtime_message(template, error)) from error
    if output.isascii():  # O(1) in CPython: only other text pays for the check below
        return output
    # A client's valid JSON can escape a lone surrogate ("\ud800"), which $input.path then
    # unescapes: such a character becomes U+FFFD (where Java's UTF-8 encoder writes "?"), so
    # that the output is always text a backend or a frame can carry.
    return output.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _context(context: Mapping[str, JSONValue]) -> VtlMap:
    converted: VtlMap = to_vtl(context)
    authorizer = converted.get("authorizer")
    if isinstance(authorizer, Mapping):
        # §4.1: $context.authorizer.<key> values are strings (1 -> "1", true -> "true").
        converted["authorizer"] = VtlMap({k: to_text(v) for k, v in authorizer.items()})
    return converted


def _runtime_message(template: CompiledTemplate, error: Any) -> str:
    cause = error.__cause__
    detail = str(cause) if isinstance(cause, RenderFailure) else f"{type(cause).__name__}: {cause}"
    snippet = " ".join(error.element.my_text().split())
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    line, column = position(template.text, error.start)
    return _at(template.place, f"line {line}, column {column}: {detail} (in {snippet})")


def _at(place: str, message: str) -> str:
    return f"{place}: {message}" if place else message


def select_template(
    templates: Mapping[str, object], expression: Expression | None, body: str
) -> str | None:
    """Choose the request template key for a message (§2.3, §3.3); None when none applies.

    With a ``TemplateSelectionExpression`` it is evaluated against the body (a JSON object, or
    it cannot be evaluated); the template keyed by the result wins, else ``$default``. Without
    one: ``application/json``, then ``$default``, then the only template if there is one.
    """
    if expression is None:
        for key in (JSON_CONTENT_TYPE, DEFAULT):
            if key in templates:
                return key
        return next(iter(templates)) if len(templates) == 1 else None
    value = _evaluate_on_body(expression, body)
    if value is not None and value in templates:
        return value
    return DEFAULT if DEFAULT in templates else None


def _evaluate_on_body(expression: Expression, body: str) -> str | None:
    if expression.is_static:
        return expression.evaluate(None)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # nesting past the parser's depth is not JSON either
        return None
    return expression.evaluate(document) if isinstance(document, dict) else None


_RESPONSE_VARIABLES: Final = (
    "${integration.response.statuscode}, ${integration.response.header.<name>} or "
    "${integration.response.multivalueheader.<name>}"
)


@functools.lru_cache(maxsize=256)
def compile_response_expression(text: str) -> Expression:
    """Compile an integration response's ``TemplateSelectionExpression`` (cached).

    Raises:
        RoutingError: a variable other than the status code or a response header (wsgate does
            not evaluate ``${request.body.*}`` here).
    """
    expression = compile_expression(text, sources=("integration.response",))
    for part in expression.parts:
        if isinstance(part, str):
            continue
        head, rest = part.path[0], part.path[1:]
        if head == "statuscode" and not rest:
            continue
        if head in ("header", "multivalueheader") and len(rest) == 1 and isinstance(rest[0], str):
            continue
        raise RoutingError(
            text, f"unsupported variable ${{{part.text}}}; expected {_RESPONSE_VARIABLES}"
        )
    return expression


def select_response_template(
    templates: Mapping[str, object],
    expression_text: str | None,
    status: int,
    headers: Mapping[str, str],
    body: str,
) -> str | None:
    """Choose the response template key for a backend answer (§2.3, §3.5); None when none applies.

    The expression sees the status code and the headers (names case-insensitive); a template
    keyed by its result wins, else ``$default``. Without an expression: ``$default``, then the
    only template. ``body`` is accepted for symmetry with the request side; no supported
    variable reads it.

    Raises:
        RoutingError: the expression does not compile (see :func:`compile_response_expression`).
    """
    if not expression_text:
        if DEFAULT in templates:
            return DEFAULT
        return next(iter(templates)) if len(templates) == 1 else None
    header_view = _Headers(headers)
    document = {"statuscode": str(status), "header": header_view, "multivalueheader": header_view}
    value = compile_response_expression(expression_text).evaluate(document)
    if value in templates:
        return value
    return DEFAULT if DEFAULT in templates else None


class _Headers(dict[str, str]):
    """Header values looked up by name without regard to case, as HTTP names compare."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((name.lower(), value) for name, value in headers.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())


def passthrough_allowed(behavior: PassthroughBehavior, has_templates: bool) -> bool:
    """Whether the raw body may go to the backend when no template was selected (§3.8).

    When False the gateway answers 415 Unsupported Media Type.
    """
    if behavior == "WHEN_NO_MATCH":
        return True
    if behavior == "WHEN_NO_TEMPLATES":
        return not has_templates
    if behavior == "NEVER":
        return False
    raise ValueError(f"unknown passthrough behavior {behavior!r}")
