"""The Velocity side of mapping templates: AWS's ``$input`` and ``$util``, values, the parse tree.

:mod:`wsgate.core.templates` owns the public API; this module adapts airspeed (the Python Velocity
engine LocalStack uses) to API Gateway's dialect, per template and without patching airspeed
globally:

- A reference whose value is null renders as empty text, not as its own source (Velocity's
  default). API Gateway does this ([COMMUNITY] ToQoz/api-gateway-mapping-template#5:
  ``$input.path('$').item2`` renders ``""``), and templates rely on it for optional
  ``$context.authorizer.*`` keys. ``$!x`` and ``${x|default}`` keep their meaning.
- Values print as Java prints them: ``true``/``false``; maps ``{k=v}``; lists that came from JSON
  (``$input.path``, ``$util.parseJson``) as compact JSON, as json-smart's ``JSONArray`` does.
- Identifiers must start with a letter (Velocity's rule), which also keeps templates away from
  Python internals (``$util.__class__``); ``#include``, ``#parse`` and ``#evaluate`` are refused
  because they would load or build template code at render time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote_plus, unquote_plus

import airspeed

from wsgate.core.jsonpath import MISSING, Step, compile_query, evaluate_query
from wsgate.types import JSONValue

__all__ = [
    "Input",
    "RenderFailure",
    "TemplateProblem",
    "Util",
    "VtlList",
    "VtlMap",
    "escape_javascript",
    "position",
    "prepare",
    "to_text",
    "to_vtl",
]


# Not in errors.py's tree: raised inside airspeed, and turned into TemplateError by core.templates.
class RenderFailure(Exception):
    """A template function refused its input; the message is meant for the API owner."""


class VtlList(list[Any]):
    """A JSON array seen from a template: Java ``List`` methods, prints as compact JSON."""

    def size(self) -> int:
        """Number of elements (``$list.size()``)."""
        return len(self)

    def isEmpty(self) -> bool:
        """True when there are no elements."""
        return not self

    def get(self, index: int) -> Any:
        """The element at ``index`` (``IndexError`` past the end, as Java throws)."""
        return self[index]

    def contains(self, value: Any) -> bool:
        """True when ``value`` is an element."""
        return value in self

    def __str__(self) -> str:
        return _dump_json(self)


class VtlMap(dict[str, Any]):
    """A JSON object or context map seen from a template: Java ``Map`` methods, prints ``{k=v}``."""

    def size(self) -> int:
        """Number of entries."""
        return len(self)

    def isEmpty(self) -> bool:
        """True when there are no entries."""
        return not self

    def keySet(self) -> VtlList:
        """The keys, in order."""
        return VtlList(self)

    def containsKey(self, key: str) -> bool:
        """True when ``key`` is present."""
        return key in self

    def __str__(self) -> str:
        return _java_text(self)


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
    if isinstance(value, VtlList):
        return _dump_json(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}={_java_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if callable(value) or isinstance(value, Input | Util):
        return "{}"  # as AWS prints $input, $util and their methods (ToQoz test/_.md)
    return str(value)


def _dump_json(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# commons-lang escapeJavaScript: quotes and backslash escaped, control characters as \b \t \n \f
# \r or \uXXXX (upper-case hex); everything else, non-ASCII included, is left alone.
_JS_ESCAPES: Final = {code: f"\\u{code:04X}" for code in range(0x20)} | {
    ord("\b"): "\\b",
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\f"): "\\f",
    ord("\r"): "\\r",
    ord('"'): '\\"',
    ord("'"): "\\'",
    ord("\\"): "\\\\",
}


def escape_javascript(text: str) -> str:
    """Escape ``text`` for a JavaScript string literal as ``$util.escapeJavaScript`` does."""
    return text.translate(_JS_ESCAPES)


class Util:
    """``$util``: the helper functions AWS defines for mapping templates (§4.3)."""

    __slots__ = ()

    def escapeJavaScript(self, value: object) -> str:
        """JavaScript string escaping; ``'`` becomes ``\\'`` (so JSON templates undo it)."""
        return escape_javascript(to_text(value))

    def parseJson(self, value: object) -> JSONValue:
        """Parse JSON text into objects the template can navigate."""
        try:
            return to_vtl(json.loads(to_text(value)))
        except ValueError as error:
            raise RenderFailure(f"$util.parseJson: invalid JSON: {error}") from error

    def urlEncode(self, value: object) -> str:
        """``application/x-www-form-urlencoded`` as Java's ``URLEncoder``: space is ``+``."""
        # URLEncoder keeps only [A-Za-z0-9.*_-]; Python's quote also keeps "~", so encode it.
        return quote_plus(to_text(value), safe="*").replace("~", "%7E")

    def urlDecode(self, value: object) -> str:
        """Undo ``urlEncode``: ``+`` is a space, ``%XX`` a UTF-8 byte."""
        return unquote_plus(to_text(value))

    def base64Encode(self, value: object) -> str:
        """Base64 of the text's UTF-8 bytes."""
        return base64.b64encode(to_text(value).encode()).decode("ascii")

    def base64Decode(self, value: object) -> str:
        """Decode base64 (padding optional) into UTF-8 text."""
        text = to_text(value).strip()
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4))
        except binascii.Error as error:
            raise RenderFailure(f"$util.base64Decode: invalid base64: {error}") from error
        return raw.decode("utf-8", errors="replace")


class Input:
    """``$input``: the body and request parameters (§4.2)."""

    __slots__ = ("_document", "_params", "body")

    def __init__(self, body: str, params: Mapping[str, Mapping[str, str]]) -> None:
        self.body = body
        self._params = params
        self._document: JSONValue = MISSING

    def path(self, path: object) -> JSONValue:
        """The JSONPath result as an object: ``$input.path('$.pets').size()``; null when absent."""
        value = evaluate_query(self._parsed(), compile_jsonpath(to_text(path)))
        return None if value is MISSING else to_vtl(value)

    def json(self, path: object) -> str:
        """The JSONPath result as JSON text (a string keeps its quotes); empty when absent."""
        value = evaluate_query(self._parsed(), compile_jsonpath(to_text(path)))
        return "" if value is MISSING else _dump_json(value)

    def params(self, *name: object) -> JSONValue:
        """All parameters by kind, or the one named: path, then querystring, then header."""
        if not name:
            kinds: dict[str, Mapping[str, str]] = {"path": {}, "querystring": {}, "header": {}}
            return to_vtl(kinds | dict(self._params))
        key = to_text(name[0])
        for kind in ("path", "querystring"):
            if key in self._params.get(kind, {}):
                return self._params[kind][key]
        lowered = key.lower()  # header names are case-insensitive
        for header, value in self._params.get("header", {}).items():
            if header.lower() == lowered:
                return value
        return ""

    def _parsed(self) -> JSONValue:
        if self._document is MISSING:
            self._document = parse_body(self.body)
        return self._document


def parse_body(body: str) -> JSONValue:
    """Parse a body for ``$input.path``/``json`` as API Gateway does.

    Observed on AWS (ToQoz/api-gateway-mapping-template test/_.md): an empty body is ``{}``;
    text that is not JSON and does not start like JSON (``a=b``) is a JSON string; a broken
    object or array (``{a``) is an error.
    """
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as error:
        if body.lstrip().startswith(("{", "[", '"')):
            raise RenderFailure(f"could not parse the body as JSON: {error}") from error
        return body


@functools.lru_cache(maxsize=512)
def compile_jsonpath(path: str) -> tuple[Step, ...]:
    """Compile a template's JSONPath (cached: templates repeat the same few paths)."""
    try:
        return compile_query(path)
    except ValueError as error:
        raise RenderFailure(f"invalid JSONPath {path!r}: {error}") from error


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
    """Check a parsed template and give its references API Gateway's rendering.

    Raises:
        TemplateProblem: a refused directive, an identifier not starting with a letter, or a
            literal JSONPath argument of ``$input.path``/``$input.json`` that does not compile.
    """
    for node in _walk(root):
        if isinstance(node, _REFUSED_DIRECTIVES):
            raise TemplateProblem(node.start, f"{node.my_text().split('(')[0]} is not supported")
        if isinstance(node, airspeed.NameOrCall) and not node.name[:1].isalpha():
            raise TemplateProblem(node.start, f"identifier {node.name!r} must start with a letter")
        if isinstance(node, airspeed.VariableExpression):
            _check_input_call(node)
        if isinstance(node, airspeed.StringLiteral):
            _keep_backslashes(node)
        if isinstance(node, airspeed.FormalReference):
            node.evaluate_raw = functools.partial(_write_reference, node)


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


def _write_reference(reference: Any, stream: Any, namespace: Any, loader: Any) -> None:
    # Replaces FormalReference.evaluate_raw on each reference of a prepared template.
    value = None
    if reference.expression is not None:
        value = reference.expression.calculate(namespace, loader)
    if value is None and reference.alternate is not None:
        value = reference.alternate.calculate(namespace, loader)
    if value is None and reference.expression is None:
        stream.write(reference.my_text())  # a lone "$" is text
    else:
        stream.write(to_text(value))
