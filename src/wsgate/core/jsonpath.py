"""The JSONPath subset selection expressions use: dotted names, ``['quoted']`` names, ``[index]``.

AWS evaluates ``$request.body.<path>`` with Goessner JSONPath; route and template selection keys
point at scalars in practice, so names and array indexes cover what configs use. Anything else is
rejected when the expression is compiled, not guessed at run time.

Mapping templates (``$input.path``, ``$input.json``) also need the ``.*`` / ``[*]`` wildcards:
:func:`compile_query` accepts them and :func:`evaluate_query` returns every match as a list, as
Jayway JsonPath (AWS's engine) does for indefinite paths. Deep scans and filters stay rejected.
"""

from __future__ import annotations

import json
import re
from typing import Final

from wsgate.types import JSONValue

__all__ = [
    "MAX_SELECTED_TEXT",
    "MISSING",
    "WILDCARD",
    "compile_path",
    "compile_query",
    "evaluate_path",
    "evaluate_query",
    "stringify",
]

Segment = str | int
_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]]+)          # .name
      | \[\s*'(?P<single>[^']*)'\s*\]  # ['name']
      | \[\s*"(?P<double>[^"]*)"\s*\]  # ["name"]
      | \[\s*(?P<index>-?\d+)\s*\]     # [0]
      | \[\s*(?P<star>\*)\s*\]          # [*]
    """,
    re.VERBOSE,
)


class _Missing:
    """The value of a path that does not exist (AWS turns it into an empty string)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class _Wildcard:
    """The ``*`` step of a query: every member of an object or element of an array."""

    def __repr__(self) -> str:
        return "WILDCARD"


WILDCARD: Final = _Wildcard()
Step = Segment | _Wildcard


def compile_path(path: str) -> tuple[Segment, ...]:
    """Split ``a.b[0]['c d']`` (a leading ``$`` or ``$.`` allowed) into segments.

    Raises:
        ValueError: the path uses JSONPath features outside the supported subset.
    """
    # Without wildcards=True no WILDCARD step is produced; the filter only narrows the type.
    return tuple(
        step for step in _compile(path, wildcards=False) if not isinstance(step, _Wildcard)
    )


def compile_query(path: str) -> tuple[Step, ...]:
    """Like :func:`compile_path`, but ``.*`` and ``[*]`` compile to :data:`WILDCARD` steps.

    Raises:
        ValueError: the path uses JSONPath features outside the supported subset.
    """
    return _compile(path, wildcards=True)


def _compile(path: str, *, wildcards: bool) -> tuple[Step, ...]:
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if text and not text.startswith((".", "[")):
        text = "." + text
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or (match["star"] is not None and not wildcards):
            raise ValueError(f"unsupported JSONPath syntax at {text[position:]!r}")
        if match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["star"] is not None or (wildcards and match["name"] == "*"):
            steps.append(WILDCARD)
        else:
            name = match["name"] or match["single"] or match["double"] or ""
            if name in ("*", "..") or name.startswith("?"):
                raise ValueError(f"wildcards and filters are not supported: {name!r}")
            steps.append(name)
        position = match.end()
    return tuple(steps)


def evaluate_path(document: JSONValue, segments: tuple[Segment, ...]) -> JSONValue:
    """Walk ``segments`` into ``document``; :data:`MISSING` when any step does not exist."""
    value = document
    for segment in segments:
        if isinstance(segment, int):
            if not isinstance(value, list) or not -len(value) <= segment < len(value):
                return MISSING
            value = value[segment]
        elif isinstance(value, dict) and segment in value:
            value = value[segment]
        else:
            return MISSING
    return value


def evaluate_query(document: JSONValue, steps: tuple[Step, ...]) -> JSONValue:
    """Evaluate a compiled query: as :func:`evaluate_path` when it has no wildcard.

    With a wildcard the path is indefinite and the result is the list of every value it reaches
    (possibly empty), skipping branches where a later step does not exist.
    """
    segments = tuple(step for step in steps if not isinstance(step, _Wildcard))
    if len(segments) == len(steps):
        return evaluate_path(document, segments)
    matches: list[JSONValue] = [document]
    for step in steps:
        reached: list[JSONValue] = []
        for value in matches:
            if not isinstance(step, _Wildcard):
                found = evaluate_path(value, (step,))
                if found is not MISSING:
                    reached.append(found)
            elif isinstance(value, list):
                reached.extend(value)
            elif isinstance(value, dict):
                reached.extend(value.values())
        matches = reached
    return matches


def stringify(value: JSONValue) -> str:
    """Render a selected value as AWS does: text as is, arrays ``[a, b]``, missing or null empty.

    Objects are compact JSON. Written without recursion, so that no nesting a parser accepts
    can exhaust the stack, and cut past :data:`MAX_SELECTED_TEXT` characters (marked ``…``):
    a value that long matches no route key, which are 128 characters at most (§2.1).
    """
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, list | dict):
        return json.dumps(value)
    out: list[str] = []
    size = 0
    # Work items: text to write, or a value and whether it is rendered AWS's way (a list's
    # items) or as JSON (anything inside an object).
    todo: list[str | tuple[JSONValue, bool]] = [(value, True)]
    while todo:
        item = todo.pop()
        if isinstance(item, tuple):
            todo.extend(reversed(_expand(*item)))
            continue
        out.append(item)
        size += len(item)
        if size > MAX_SELECTED_TEXT:
            return "".join(out)[:MAX_SELECTED_TEXT] + "\N{HORIZONTAL ELLIPSIS}"
    return "".join(out)


MAX_SELECTED_TEXT: Final = 4096


def _expand(value: JSONValue, aws: bool) -> list[str | tuple[JSONValue, bool]]:
    """One level of a value: its text, or its brackets around its items still to render."""
    if isinstance(value, list):
        parts: list[str | tuple[JSONValue, bool]] = ["["]
        for index, item in enumerate(value):
            if index:
                parts.append(", " if aws else ",")
            parts.append((item, aws))
        parts.append("]")
        return parts
    if isinstance(value, dict):
        parts = ["{"]
        for index, (key, item) in enumerate(value.items()):
            parts.append(("," if index else "") + json.dumps(key, ensure_ascii=False) + ":")
            parts.append((item, False))
        parts.append("}")
        return parts
    if aws:
        return [stringify(value)]
    return [json.dumps(value, ensure_ascii=False)]
