"""The JSON Schema keywords whose work a client's message could make unbounded, done boundedly.

jsonschema's own ``pattern``, ``patternProperties`` and ``additionalProperties`` search with
``re``, which cannot be interrupted: a model's ``"pattern": "(a|aa)+$"`` holds the event loop
for hours on a 60-character string. Here they search with the ``regex`` package and the time
left to the validation. Its ``uniqueItems`` compares unhashable items pairwise, O(n^2) on an
array of objects; here each item is reduced to a canonical key once, O(n log n).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final

# The regex package, not re: its matching takes a timeout. Its default syntax is re's.
import regex
from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError

__all__ = ["BoundedDraft4Validator", "ValidationTooSlow", "time_bound"]


class ValidationTooSlow(Exception):
    """The validation's time bound passed inside a regular expression.

    Not in errors.py's tree: :func:`wsgate.core.validation.validate_request` turns it into a
    reason, the way it turns a failing schema into one.
    """


# (clock, deadline) of the validation under way, None without a clock (no time bound: the
# core reads no clock of its own).
_BOUND: ContextVar[tuple[Callable[[], float], float] | None] = ContextVar(
    "wsgate_validation_bound", default=None
)


@contextlib.contextmanager
def time_bound(clock: Callable[[], float] | None, seconds: float) -> Iterator[None]:
    """Bound the regular expressions of validations run inside it by ``seconds``."""
    token = _BOUND.set(None if clock is None else (clock, clock() + seconds))
    try:
        yield
    finally:
        _BOUND.reset(token)


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _search(pattern: str, text: str) -> bool:
    bound = _BOUND.get()
    timeout = None if bound is None else max(0.001, bound[1] - bound[0]())
    try:
        return _compiled(pattern).search(text, timeout=timeout) is not None
    except TimeoutError as error:
        raise ValidationTooSlow from error


def _pattern(validator: Any, pattern: str, instance: object, _: object) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, str(instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: object, _: object
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    assert isinstance(instance, Mapping)
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in properties and not any(_search(pattern, key) for pattern in patterns)
    ]


def _additional_properties(
    validator: Any, allowed: object, instance: object, schema: Mapping[str, Any]
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    assert isinstance(instance, Mapping)
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif allowed is False and extras:
        names = ", ".join(repr(extra) for extra in sorted(extras))
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            patterns = ", ".join(repr(pattern) for pattern in sorted(schema["patternProperties"]))
            yield ValidationError(f"{names} {verb} not match any of the regexes: {patterns}")
        else:
            yield ValidationError(f"Additional properties are not allowed ({names} unexpected)")


def _unique_items(validator: Any, unique: object, instance: object, _: object) -> Iterator[Any]:
    if not unique or not validator.is_type(instance, "array"):
        return
    assert isinstance(instance, list)
    seen: set[object] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"{_short(instance)} has non-unique elements")
            return
        seen.add(key)


def _canonical(value: object) -> object:
    """A hashable key equal for the JSON values JSON Schema calls equal: 1 and 1.0 are equal,
    true and 1 are not, object keys are unordered."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)  # 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    assert isinstance(value, dict)
    return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))


def _short(instance: list[Any]) -> str:
    text = repr(instance)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


_SHOWN: Final = 200

# Draft 4 with the keywords above in place of jsonschema's own. (jsonschema calls a keyword
# with the validator, the keyword's value, the instance and the schema, all untyped.)
BoundedDraft4Validator: Final = validators.extend(  # type: ignore[no-untyped-call]
    Draft4Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "uniqueItems": _unique_items,
    },
)
