"""``$input`` and ``$util``: the variables AWS defines for mapping templates (§4.2, §4.3).

What a template may call on them is listed in :mod:`wsgate.core.vtl_sandbox`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote_plus, unquote_plus

from wsgate.core.jsonpath import MISSING, Step, compile_query, evaluate_query
from wsgate.core.vtl_budget import RenderFailure
from wsgate.core.vtl_value import _dump_json, to_text, to_vtl
from wsgate.types import JSONValue

__all__ = ["Input", "Util", "escape_javascript"]


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
