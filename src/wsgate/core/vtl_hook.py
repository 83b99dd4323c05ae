"""What prepared nodes run instead of airspeed's own code: references, loops, macros, operators.

:func:`wsgate.core.vtl.prepare` installs these on each node of a parsed template; they render
null as empty text, send member access through :mod:`wsgate.core.vtl_sandbox` and count the work
against the budget. The names are internal to the ``vtl`` modules.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

import airspeed

from wsgate.core.vtl_budget import _LIMIT, _WORK, RenderFailure, _Output, _utf8_size
from wsgate.core.vtl_sandbox import _BoundMethod, _is_integer, _kind, _method, _property
from wsgate.core.vtl_value import _check_printable, _java_text, to_text

__all__: list[str] = []


# -- arithmetic -------------------------------------------------------------------------------

_LONG: Final = 2**63


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _within_long(symbol: str, value: Any) -> Any:
    # Velocity would widen to BigInteger; capped so repeated squaring cannot grow without end.
    if isinstance(value, int) and not -_LONG <= value < _LONG:
        raise RenderFailure(f"{symbol} overflows a 64-bit integer")
    return value


def _arithmetic(symbol: str, function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if not (_is_number(left) and _is_number(right)):
            raise RenderFailure(f"{symbol} needs numbers, got {_kind(left)} and {_kind(right)}")
        return _within_long(symbol, function(left, right))

    return apply


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, str) or isinstance(right, str):
        _check_printable(left)
        _check_printable(right)
        text = _java_text(left) + _java_text(right)
        _WORK.get().check_size(_utf8_size(text), "a string")
        return text
    if _is_number(left) and _is_number(right):
        return _within_long("+", left + right)
    raise RenderFailure(f"+ needs numbers or a string, got {_kind(left)} and {_kind(right)}")


# airspeed's operator functions, by identity, and what prepared templates use instead: numbers
# only (Python's % would format a string, * repeat one), plus string concatenation for +.
_OPERATORS: Final[Mapping[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    operator.add: _plus,
    operator.sub: _arithmetic("-", operator.sub),
    operator.mul: _arithmetic("*", operator.mul),
    operator.floordiv: _arithmetic("/", operator.floordiv),
    operator.mod: _arithmetic("%", operator.mod),
}


# -- hooks: what prepared nodes run instead of airspeed's own code ---------------------------------


def _install_hooks(node: Any) -> None:
    # Per node instance, so airspeed itself stays unpatched for anyone else in the process.
    if isinstance(node, airspeed.FormalReference):
        node.evaluate_raw = functools.partial(_write_reference, node)
    elif isinstance(node, airspeed.ForeachDirective):
        node.evaluate_raw = functools.partial(_foreach, node)
    elif isinstance(node, airspeed.MacroCall):
        node.evaluate_raw = functools.partial(_call_macro, node)
    elif isinstance(node, airspeed.InterpolatedStringLiteral):
        node.calculate = functools.partial(_interpolate, node)
    elif isinstance(node, airspeed.BinaryOperator):
        node.apply_to = _OPERATORS.get(node.apply_to, node.apply_to)
    elif isinstance(node, airspeed.ArrayLiteral) and isinstance(node.values, airspeed.Range):
        # ArrayLiteral copied the range's bound method at parse time: replace it there.
        node.calculate = functools.partial(_range, node.values)


def _write_reference(reference: Any, stream: Any, namespace: Any, loader: Any) -> None:
    # Replaces FormalReference.evaluate_raw.
    value = None
    if reference.expression is not None:
        value = reference.expression.calculate(namespace, loader)
    if value is None and reference.alternate is not None:
        value = reference.alternate.calculate(namespace, loader)
    if value is None and reference.expression is None:
        stream.write(reference.my_text())  # a lone "$" is text
    else:
        _check_printable(value)
        stream.write(to_text(value))


def _name_or_call(node: Any, target: Any, loader: Any, top: Any) -> Any:
    # Replaces NameOrCall.calculate: every $name and every .member of a template comes here.
    if isinstance(target, airspeed.LocalNamespace):
        return _variable(node, target, loader, top)
    if target is None:
        return None  # a member of null is null, as in Velocity
    if node.parameters is None:
        return _indexed(node, _property(target, node.name), loader, top)
    method = _method(target, node.name)
    if method is None:
        raise RenderFailure(f"{node.name}() is not available on {_kind(target)}")
    return method(*node.parameters.calculate(top, loader))


def _variable(node: Any, namespace: Any, loader: Any, top: Any) -> Any:
    try:
        value = namespace[node.name]
    except KeyError:
        return None
    if isinstance(value, airspeed._FunctionDefinition):  # a #define block: render it
        return _run_define(value, top, loader)
    if node.parameters is None:
        return _indexed(node, value, loader, top)
    if isinstance(value, _BoundMethod):
        return value(*node.parameters.calculate(top, loader))
    if value is None:
        return None
    raise RenderFailure(f"${node.name} is not a method")


def _indexed(node: Any, value: Any, loader: Any, top: Any) -> Any:
    # $name[index]: an item of a string, list or map; anything else (or out of range) is null.
    if node.index is None:
        return value
    index = node.index.calculate(top, loader)
    if isinstance(value, str | list | Mapping):
        try:
            return value[index]
        except (LookupError, TypeError):
            pass
    return None


def _foreach(loop: Any, stream: Any, namespace: Any, loader: Any) -> None:
    # Replaces ForeachDirective.evaluate_raw: the same loop variables, counted and bounded.
    items = _iterable(loop.loop_var_name, loop.value.calculate(namespace, loader))
    work = _WORK.get()
    length = len(items)
    for count, item in enumerate(items, start=1):
        if count > work.budget.max_loop_iterations:
            limit = work.budget.max_loop_iterations
            raise RenderFailure(f"{_LIMIT}more than {limit} iterations of one #foreach")
        work.step("loop iterations")
        local = airspeed.LocalNamespace(namespace)
        local["velocityCount"] = count
        local["velocityHasNext"] = count < length
        local["foreach"] = {
            "count": count,
            "index": count - 1,
            "hasNext": count < length,
            "first": count == 1,
            "last": count == length,
        }
        local[loop.loop_var_name] = item
        loop.block.evaluate(stream, local, loader)


def _iterable(name: str, value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return value.keys()  # airspeed iterates a map's keys
    if isinstance(value, list | str):
        return value  # a list growing in the loop keeps going, up to the loop's bound
    raise RenderFailure(f"${name}: {_kind(value)} is not iterable in #foreach")


def _range(node: Any, namespace: Any, loader: Any) -> list[int]:
    # Replaces the [a..b] literal: sized before it is built, so [1..100000000] allocates nothing.
    first = node.value1.calculate(namespace, loader)
    last = node.value2.calculate(namespace, loader)
    if not (_is_integer(first) and _is_integer(last)):
        raise RenderFailure(f"range bounds must be integers, got {_kind(first)} and {_kind(last)}")
    limit = _WORK.get().budget.max_iterations
    if abs(last - first) >= limit:
        raise RenderFailure(f"{_LIMIT}range [{first}..{last}] has more than {limit} items")
    step = 1 if last >= first else -1
    return list(range(first, last + step, step))


def _interpolate(literal: Any, namespace: Any, loader: Any) -> str:
    # Replaces InterpolatedStringLiteral.calculate: the string is bounded as it is built.
    text = _Output(_WORK.get(), "a string")
    literal.block.evaluate(text, namespace, loader)
    return text.getvalue()


def _call_macro(call: Any, stream: Any, namespace: Any, loader: Any) -> None:
    # Wraps MacroCall.evaluate_raw: each call is counted and nesting is bounded.
    work = _WORK.get()
    work.enter()
    try:
        airspeed.MacroCall.evaluate_raw(call, stream, namespace, loader)
    finally:
        work.depth -= 1


def _run_define(block: Any, namespace: Any, loader: Any) -> str:
    work = _WORK.get()
    work.enter()
    try:
        text = _Output(work, "a string")
        block.execute_function(text, namespace, [], loader)
        return text.getvalue()
    finally:
        work.depth -= 1
