"""The JSONPath subset selection expressions use: dotted names, ``['quoted']`` names, ``[index]``.

AWS evaluates ``$request.body.<path>`` with Goessner JSONPath; route and template selection keys
point at scalars in practice, so names and array indexes cover what configs use. Anything else is
rejected when the expression is compiled, not guessed at run time.
"""

from __future__ import annotations

import json
import re
from typing import Final

from wsgate.types import JSONValue

__all__ = ["MISSING", "compile_path", "evaluate_path", "stringify"]

Segment = str | int
_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]]+)          # .name
      | \[\s*'(?P<single>[^']*)'\s*\]  # ['name']
      | \[\s*"(?P<double>[^"]*)"\s*\]  # ["name"]
      | \[\s*(?P<index>-?\d+)\s*\]     # [0]
    """,
    re.VERBOSE,
)


class _Missing:
    """The value of a path that does not exist (AWS turns it into an empty string)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def compile_path(path: str) -> tuple[Segment, ...]:
    """Split ``a.b[0]['c d']`` (a leading ``$`` or ``$.`` allowed) into segments.

    Raises:
        ValueError: the path uses JSONPath features outside the supported subset.
    """
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if text and not text.startswith((".", "[")):
        text = "." + text
    segments: list[Segment] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath syntax at {text[position:]!r}")
        if match["index"] is not None:
            segments.append(int(match["index"]))
        else:
            name = match["name"] or match["single"] or match["double"] or ""
            if name in ("*", "..") or name.startswith("?"):
                raise ValueError(f"wildcards and filters are not supported: {name!r}")
            segments.append(name)
        position = match.end()
    return tuple(segments)


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


def stringify(value: JSONValue) -> str:
    """Render a selected value as AWS does: text as is, arrays ``[a, b]``, missing or null empty."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(value)
