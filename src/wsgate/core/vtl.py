"""The Velocity side of mapping templates: airspeed checked, prepared and run per template.

:mod:`wsgate.core.templates` owns the public API; this module adapts airspeed (the Python Velocity
engine LocalStack uses) to API Gateway's dialect, per template and without patching airspeed
globally:

- A reference whose value is null renders as empty text, not as its own source (Velocity's
  default). API Gateway does this ([COMMUNITY] ToQoz/api-gateway-mapping-template#5:
  ``$input.path('$').item2`` renders ``""``), and templates rely on it for optional
  ``$context.authorizer.*`` keys. ``$!x`` and ``${x|default}`` keep their meaning.
- Values print as Java prints them: ``true``/``false``; maps ``{k=v}``; lists that came from JSON
  (``$input.path``, ``$util.parseJson``) as compact JSON, as json-smart's ``JSONArray`` does.
- Templates stay away from Python internals. airspeed would call any public method of any object
  a template reaches (``str.format`` walks attributes up to ``__globals__``), so every member
  access goes through an allow-list per type: the Java ``String``, ``List`` and ``Map`` methods
  API Gateway's VTL offers, ``$input`` and ``$util`` of §4, ``toString``/``equals`` on anything.
  Calling anything else is a render error naming the method; a property that is neither a map
  key nor on the list is null, as in Velocity. Operators take numbers (``+`` also strings), so
  ``%`` formats nothing. Identifiers must start with a letter (Velocity's rule); ``#include``,
  ``#parse`` and ``#evaluate`` are refused because they would load or build template code.
- Work is bounded by a :class:`RenderBudget`: loop iterations (per ``#foreach`` and per
  rendering), macro calls and nesting, the size of every string built and of the output, and
  wall time through an injected clock, checked at each iteration, call and write.

The parts sit beside this module: :mod:`~wsgate.core.vtl_budget` (the budget and
:class:`RenderFailure`), :mod:`~wsgate.core.vtl_value` (values and how they print),
:mod:`~wsgate.core.vtl_input` (``$input`` and ``$util``), :mod:`~wsgate.core.vtl_sandbox` (what a
template may call) and :mod:`~wsgate.core.vtl_hook` (what prepared nodes run instead of airspeed's
code, operators included). Here: the parse-tree checks, :func:`prepare` and :func:`render`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Final

import airspeed

from wsgate.core.vtl_budget import _WORK, RenderBudget, RenderFailure, _Output, _Work
from wsgate.core.vtl_hook import _install_hooks, _name_or_call
from wsgate.core.vtl_input import compile_jsonpath

__all__ = ["TemplateProblem", "position", "prepare", "render"]


def render(template: Any, namespace: dict[str, Any], budget: RenderBudget) -> str:
    """Merge a prepared airspeed template with ``namespace`` within ``budget``.

    Raises:
        airspeed.TemplateExecutionError: rendering failed; a :class:`RenderFailure` cause
            carries the reason (a refused call, a work limit, a bad input).
    """
    work = _Work(budget)
    token = _WORK.set(work)
    try:
        output = _Output(work, "output")
        template.merge_to(namespace, output)
        return output.getvalue()
    finally:
        _WORK.reset(token)


# -- the parse tree ---------------------------------------------------------------------------


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


# Not in errors.py's tree: core.templates turns it into TemplateError with line and column.
class TemplateProblem(Exception):
    """A compile-time problem at ``offset`` in the template text."""

    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        super().__init__(message)


_REFUSED_DIRECTIVES: Final = (
    airspeed.IncludeDirective,
    airspeed.ParseDirective,
    airspeed.EvaluateDirective,
)


def prepare(root: Any) -> None:
    """Check a parsed template and give its nodes API Gateway's rendering and our bounds.

    Raises:
        TemplateProblem: a refused directive, an identifier not starting with a letter, or a
            literal JSONPath argument of ``$input.path``/``$input.json`` that does not compile.
    """
    for node in _walk(root):
        if isinstance(node, _REFUSED_DIRECTIVES):
            raise TemplateProblem(node.start, f"{node.my_text().split('(')[0]} is not supported")
        if isinstance(node, airspeed.NameOrCall):
            if not node.name[:1].isalpha():
                raise TemplateProblem(
                    node.start, f"identifier {node.name!r} must start with a letter"
                )
            node.calculate = functools.partial(_name_or_call, node)
        if isinstance(node, airspeed.VariableExpression):
            _check_input_call(node)
        if isinstance(node, airspeed.StringLiteral):
            _keep_backslashes(node)
        _install_hooks(node)


def _walk(root: Any) -> Iterator[Any]:
    # airspeed keeps children under many attribute names (and as bound methods of conditions),
    # so walk every attribute rather than list node types that may change between releases.
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(_children(vars(node).values()))


def _children(values: Any) -> Iterator[Any]:
    for value in values:
        if isinstance(value, airspeed._Element):
            yield value
        elif isinstance(value, list | tuple):
            yield from _children(value)
        elif isinstance(value, dict):
            yield from _children(value.keys())
            yield from _children(value.values())
        elif isinstance(getattr(value, "__self__", None), airspeed._Element):
            yield value.__self__


def _check_input_call(node: Any) -> None:
    # $input.path('<literal>') / $input.json('<literal>'): compile the path now, so a typo fails
    # validation instead of the first message that uses the template.
    call = node.subexpression.expression if node.subexpression else None
    if node.part.name != "input" or not isinstance(call, airspeed.VariableExpression):
        return
    if call.part.name not in ("path", "json") or call.part.parameters is None:
        return
    arguments = getattr(call.part.parameters.values, "values", [])  # [] for "()"
    literal: Any = arguments[0].expression if arguments else None
    if type(literal) is airspeed.StringLiteral:  # not InterpolatedStringLiteral: "$x" varies
        try:
            compile_jsonpath(literal.my_text()[1:-1])
        except RenderFailure as error:
            raise TemplateProblem(literal.start, str(error)) from None


def _keep_backslashes(literal: Any) -> None:
    # Velocity 1.7 keeps a string literal's backslashes ("\\'" is three characters); airspeed
    # unescapes them, which breaks AWS's documented idiom .replaceAll("\\'","'") (§4.3).
    raw = literal.my_text()[1:-1]
    literal.value = raw
    if isinstance(literal, airspeed.InterpolatedStringLiteral):
        literal.block = airspeed.Block(literal.filename, raw, 0)
        if literal.block.end != len(raw):
            raise TemplateProblem(literal.start, f"cannot parse the string {literal.my_text()}")
        # Re-anchor the string's nodes in the whole template so errors give the true position.
        for node in _walk(literal.block):
            node._full_text = literal._full_text
            node.start += literal.start + 1
            node.end += literal.start + 1
