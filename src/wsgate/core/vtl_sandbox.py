"""What a template may call: the Java methods API Gateway's VTL offers, per type (the sandbox).

airspeed would call any public method of any object a template reaches, so every member access
goes through the allow-list here: ``String``, ``List``, ``Map`` and map entry methods, ``$input``
and ``$util`` (§4), ``toString``/``equals`` on anything. Arguments are checked as Java would
check them, and strings a method returns are bounded by the budget. The names are internal to
the ``vtl`` modules.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeGuard, TypeVar

# The regex package, not re: its matching takes a timeout, so a pattern that backtracks without
# end on a client's text ("(a|aa)+$") stops at the render's time bound instead of holding the
# event loop; re cannot be interrupted. Its default syntax is re's.
import regex as re

from wsgate.core.vtl_budget import _LIMIT, _WORK, RenderFailure, _utf8_size, _Work
from wsgate.core.vtl_input import Input, Util
from wsgate.core.vtl_value import VtlList, _check_printable, _Entry, _java_text

__all__: list[str] = []

_T = TypeVar("_T")


def _text(method: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise RenderFailure(f"{method}: expected a string, got {_kind(value)}")


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(method: str, value: object) -> int:
    if _is_integer(value):
        return value
    raise RenderFailure(f"{method}: expected an integer, got {_kind(value)}")


def _position(method: str, index: object, length: int) -> int:
    # Java throws IndexOutOfBoundsException where Python would count from the end.
    position = _integer(method, index)
    if not 0 <= position < length:
        raise RenderFailure(f"{method}: index out of range")
    return position


def _to_string(value: object) -> str:
    _check_printable(value)
    return _java_text(value)


def _substring(text: str, begin: object, end: object = None) -> str:
    first = _integer("substring", begin)
    last = len(text) if end is None else _integer("substring", end)
    if not 0 <= first <= last <= len(text):
        raise RenderFailure("substring: index out of range")
    return text[first:last]


def _starts_with(text: str, prefix: object, offset: object = 0) -> bool:
    start = _integer("startsWith", offset)
    return start >= 0 and text.startswith(_text("startsWith", prefix), start)


def _compare_to(text: str, other: object) -> int:
    # String.compareTo: the first differing characters' difference, else the lengths'.
    other = _text("compareTo", other)
    for mine, theirs in zip(text, other, strict=False):
        if mine != theirs:
            return ord(mine) - ord(theirs)
    return len(text) - len(other)


def _replace(text: str, target: object, replacement: object) -> str:
    old, new = _text("replace", target), _text("replace", replacement)
    # Sized before it is built: "x".replace("", big) inserts big between every character.
    count = text.count(old) if old else len(text) + 1
    _WORK.get().check_size(len(text) + count * (len(new) - len(old)), "a string")
    return text.replace(old, new)


def _concat(text: str, other: object) -> str:
    addition = _text("concat", other)
    _WORK.get().check_size(len(text) + len(addition), "a string")
    return text + addition


def _regex(method: str, regex: object) -> re.Pattern[str]:
    try:
        return re.compile(_text(method, regex))
    except re.error as error:
        raise RenderFailure(f"{method}: invalid regular expression: {error}") from error


def _timed(run: Callable[[float | None], _T]) -> _T:
    """Run a regular expression with what is left of the render's time."""
    work = _WORK.get()
    try:
        return run(work.seconds_left())
    except TimeoutError as error:
        raise _too_slow(work) from error


def _too_slow(work: _Work) -> RenderFailure:
    return RenderFailure(f"{_LIMIT}more than {work.budget.max_seconds:g} s")


def _matches(text: str, regex: object) -> bool:
    pattern = _regex("matches", regex)
    return _timed(lambda timeout: pattern.fullmatch(text, timeout=timeout)) is not None


def _replacement(method: str, replacement: str, groups: int) -> list[str | int]:
    """Parse Java's replacement syntax: ``$n`` is group n, a backslash escapes what follows."""
    pieces: list[str | int] = []
    characters = iter(replacement)
    for character in characters:
        if character == "\\":
            escaped = next(characters, None)
            if escaped is None:
                raise RenderFailure(f"{method}: replacement ends with \\")
            pieces.append(escaped)
        elif character == "$":
            digit = next(characters, "")
            if not digit.isdigit():
                raise RenderFailure(f"{method}: $ must be followed by a group number")
            if int(digit) > groups:
                raise RenderFailure(f"{method}: no group {digit}")
            pieces.append(int(digit))
        else:
            pieces.append(character)
    return pieces


def _substitute(method: str, text: str, regex: object, replacement: object, count: int) -> str:
    pattern = _regex(method, regex)
    pieces = _replacement(method, _text(method, replacement), pattern.groups)
    work = _WORK.get()
    literal = "".join(piece for piece in pieces if isinstance(piece, str))
    if len(literal) == len(pieces):
        # No group reference: matches are counted in C, so the size is known before the result
        # is built, and the replacement runs in C too (backslashes doubled: taken literally).
        unmatched, matches = _timed(lambda timeout: pattern.subn("", text, count, timeout=timeout))
        work.check_size(len(unmatched) + matches * len(literal), "a string")
        escaped = literal.replace("\\", "\\\\")
        return _timed(lambda timeout: pattern.sub(escaped, text, count, timeout=timeout))
    added = 0

    def expand(match: re.Match[str]) -> str:
        nonlocal added
        piece = "".join(p if isinstance(p, str) else match.group(p) or "" for p in pieces)
        added += len(piece)
        work.check_size(added, "a string")
        work.check_time()  # one Python call per match: bounded by the clock like a loop
        return piece

    return _timed(lambda timeout: pattern.sub(expand, text, count, timeout=timeout))


def _split(text: str, regex: object, limit: object = 0) -> list[str]:
    # String.split: at most limit - 1 splits when limit > 0; trailing empty strings dropped when
    # it is 0; no leading empty string from a zero-width match at the start (Java 8).
    pattern, most = _regex("split", regex), _integer("split", limit)
    parts: list[str] = []
    start = 0
    work = _WORK.get()
    try:
        for match in pattern.finditer(text, timeout=work.seconds_left()):
            if 0 < most <= len(parts) + 1:
                break
            if len(parts) == work.budget.max_iterations:
                # More parts than a rendering may iterate over: each is a Python object.
                raise RenderFailure(f"{_LIMIT}split into more than {len(parts)} parts")
            if match.end() > 0:
                parts.append(text[start : match.start()])
                start = match.end()
    except TimeoutError as error:
        raise _too_slow(work) from error
    if not parts:
        return [text]
    parts.append(text[start:])
    while most == 0 and parts and not parts[-1]:
        parts.pop()
    return parts


def _list_index_of(items: list[Any], value: object) -> int:
    return items.index(value) if value in items else -1


def _add(items: list[Any], value: object) -> bool:
    items.append(value)
    return True  # List.add's answer: templates write #set($ignored = $list.add(...))


def _set(items: list[Any], index: object, value: object) -> Any:
    position = _position("set", index, len(items))
    previous, items[position] = items[position], value
    return previous


def _put(mapping: dict[Any, Any], key: object, value: object) -> Any:
    previous = mapping.get(key)
    mapping[key] = value
    return previous


def _put_all(mapping: dict[Any, Any], other: object) -> None:
    if not isinstance(other, Mapping):
        raise RenderFailure(f"putAll: expected a map, got {_kind(other)}")
    mapping.update(other)


def _printing(function: Callable[..., Any]) -> Callable[..., Any]:
    # $input and $util print their arguments: size containers first (see _check_printable).
    @functools.wraps(function)
    def checked(target: Any, *arguments: Any) -> Any:
        for argument in arguments:
            _check_printable(argument)
        return function(target, *arguments)

    return checked


_Methods = dict[str, Callable[..., Any]]

# Every Java object has these.
_OBJECT: Final[_Methods] = {"toString": _to_string, "equals": operator.eq}
_STRING: Final[_Methods] = _OBJECT | {
    "length": len,
    "isEmpty": operator.not_,
    "charAt": lambda text, index: text[_position("charAt", index, len(text))],
    "substring": _substring,
    "indexOf": lambda text, part, start=0: text.find(
        _text("indexOf", part), max(_integer("indexOf", start), 0)
    ),
    "lastIndexOf": lambda text, part: text.rfind(_text("lastIndexOf", part)),
    "contains": lambda text, part: _text("contains", part) in text,
    "startsWith": _starts_with,
    "endsWith": lambda text, suffix: text.endswith(_text("endsWith", suffix)),
    "equalsIgnoreCase": lambda text, other: (
        text.lower() == _text("equalsIgnoreCase", other).lower()
    ),
    "compareTo": _compare_to,
    "toLowerCase": str.lower,
    "toUpperCase": str.upper,
    "trim": lambda text: text.strip("".join(map(chr, range(0x21)))),  # String.trim: <= U+0020
    "concat": _concat,
    "replace": _replace,
    "replaceAll": lambda text, regex, new: _substitute("replaceAll", text, regex, new, 0),
    "replaceFirst": lambda text, regex, new: _substitute("replaceFirst", text, regex, new, 1),
    "matches": _matches,
    "split": _split,
}
_LIST: Final[_Methods] = _OBJECT | {
    "size": len,
    "isEmpty": operator.not_,
    "get": lambda items, index: items[_position("get", index, len(items))],
    "contains": operator.contains,
    "indexOf": _list_index_of,
    "add": _add,
    "set": _set,
}
_MAP: Final[_Methods] = _OBJECT | {
    "size": len,
    "isEmpty": operator.not_,
    "get": lambda mapping, key: mapping.get(key),
    "containsKey": operator.contains,
    "containsValue": lambda mapping, value: value in mapping.values(),
    "keySet": lambda mapping: VtlList(mapping),
    "values": lambda mapping: VtlList(mapping.values()),
    "entrySet": lambda mapping: [_Entry(item) for item in mapping.items()],
    "put": _put,
    "putAll": _put_all,
    "remove": lambda mapping, key: mapping.pop(key, None),
}
_ENTRY: Final[_Methods] = _OBJECT | {
    "getKey": lambda entry: entry[0],
    "getValue": lambda entry: entry[1],
}
_INPUT: Final[_Methods] = {
    name: _printing(getattr(Input, name)) for name in ("path", "json", "params")
}
_UTIL: Final[_Methods] = {
    name: _printing(getattr(Util, name))
    for name in (
        "escapeJavaScript",
        "parseJson",
        "urlEncode",
        "urlDecode",
        "base64Encode",
        "base64Decode",
    )
}


class _BoundMethod:
    """An allowed method named on a value: callable from the template, prints ``{}`` as on AWS."""

    __slots__ = ("_function", "_target", "name")

    def __init__(self, name: str, target: object, function: Callable[..., Any]) -> None:
        self.name = name
        self._target = target
        self._function = function

    def __call__(self, *arguments: Any) -> Any:
        least, most = _arity(self._function)
        if not least <= len(arguments) <= most:
            takes = f"{least} to {most}" if least < most else str(least)
            plural = "" if takes == "1" else "s"
            raise RenderFailure(
                f"{self.name}() takes {takes} argument{plural}, got {len(arguments)}"
            )
        result = self._function(self._target, *arguments)
        if isinstance(result, str):
            _WORK.get().check_size(_utf8_size(result), "a string")
        return result


@functools.cache
def _arity(function: Callable[..., Any]) -> tuple[int, float]:
    # Arguments the template passes, the target aside; counted up front so that a wrong count
    # is reported with the method's name, not a Python function's.
    parameters = list(inspect.signature(function).parameters.values())[1:]
    if any(parameter.kind is parameter.VAR_POSITIONAL for parameter in parameters):
        return 0, float("inf")
    required = [parameter for parameter in parameters if parameter.default is parameter.empty]
    return len(required), len(parameters)


# The kind of each value a template can hold, for messages, and what it may call on it.
_TYPES: Final[tuple[tuple[type | Any, str, _Methods], ...]] = (
    (bool, "a boolean", _OBJECT),
    (int | float, "a number", _OBJECT),
    (str, "a string", _STRING),
    (_Entry, "a map entry", _ENTRY),
    (list, "a list", _LIST),
    (Mapping, "a map", _MAP),
    (Input, "$input", _INPUT),
    (Util, "$util", _UTIL),
    (_BoundMethod, "a method", {}),
)


def _members(value: object) -> tuple[str, _Methods]:
    for kind, name, methods in _TYPES:
        if isinstance(value, kind):
            return name, methods
    return "null", {}  # what else a template holds: null


def _kind(value: object) -> str:
    return _members(value)[0]


def _method(target: object, name: str) -> _BoundMethod | None:
    function = _members(target)[1].get(name)
    return None if function is None else _BoundMethod(name, target, function)


def _property(target: object, name: str) -> Any:
    # Velocity's $x.name: a map's key, a getter (body, key, value), else the method named so
    # (printed as {}), else null.
    if isinstance(target, Mapping):
        if name in target:
            return target[name]
    elif isinstance(target, Input) and name == "body":
        return target.body
    elif isinstance(target, _Entry) and name in ("key", "value"):
        return target[name == "value"]
    return _method(target, name)
