"""Values as a template sees them: JSON wrapped as Java ``List``/``Map``, printed as Java prints.

:func:`to_vtl` wraps JSON for a template, :func:`to_text` prints what a reference holds; a
container's printed size is checked against the budget before any text of it is built.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

from wsgate.core.vtl_budget import _WORK, RenderFailure
from wsgate.types import JSONValue

__all__ = ["VtlList", "VtlMap", "to_text", "to_vtl"]


class VtlList(list[Any]):
    """A JSON array seen from a template: a Java ``List`` that prints as compact JSON."""

    def __str__(self) -> str:
        return _dump_json(self)


class VtlMap(dict[str, Any]):
    """A JSON object or context map seen from a template: a Java ``Map``, prints ``{k=v}``."""

    def __str__(self) -> str:
        return _java_text(self)


class _Entry(tuple[Any, Any]):
    """A map entry from ``entrySet()``: ``$e.key``, ``$e.getValue()``; prints ``k=v``."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{_java_text(self[0])}={_java_text(self[1])}"


def to_vtl(value: JSONValue) -> JSONValue:
    """Wrap JSON containers (recursively) so templates can call Java methods on them."""
    if isinstance(value, Mapping):
        return VtlMap({str(key): to_vtl(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return VtlList(to_vtl(item) for item in value)
    return value


def to_text(value: object) -> str:
    """Render a referenced value: null is empty text, everything else as Java prints it."""
    return "" if value is None else _java_text(value)


def _java_text(value: object) -> str:
    # Inside containers Java prints null as "null"; only a whole reference renders null empty.
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, VtlList | _Entry):
        return str(value)
    if isinstance(value, Mapping):
        entries = (f"{_java_text(key)}={_java_text(item)}" for key, item in value.items())
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    # $input, $util and methods print as AWS prints them (ToQoz test/_.md); no object's repr
    # (a class name, an address) ever reaches a rendering.
    return "{}"


def _dump_json(value: JSONValue) -> str:
    # default: a template may add any value to a list; it prints as Java text, never as repr.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_java_text)


def _check_printable(value: object) -> None:
    # Lists can hold one value many times (1000 references to a 10 KB string, 1000 times over),
    # so a container's printed size is estimated before any text of it is built.
    if isinstance(value, list | tuple | Mapping):
        work = _WORK.get()
        limit = work.budget.max_output_bytes
        work.check_size(_printed_size(value, limit, {}, set()), "a string")


def _printed_size(value: object, limit: int, sizes: dict[int, int], open_: set[int]) -> int:
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple | Mapping):
        return 8  # a number, boolean or null: short
    if id(value) in sizes:
        return sizes[id(value)]
    if id(value) in open_:
        raise RenderFailure("a list or map contains itself")
    open_.add(id(value))
    total = 2
    parts = itertools.chain.from_iterable(value.items()) if isinstance(value, Mapping) else value
    for part in parts:  # a map's keys too: an entry used as a key prints its value
        total += 2 + _printed_size(part, limit, sizes, open_)
        if total > limit:
            break  # already too big: no need to see the rest
    open_.discard(id(value))
    sizes[id(value)] = total
    return total
