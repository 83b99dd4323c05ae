"""Request parameter mapping (§3.7) and integration response selection (§5.1).

Both compile at config load, where every bad entry is reported at once with its key, and then run
as pure functions of the compiled form and the request: no I/O, no clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

from wsgate.core.jsonpath import MISSING, Segment, compile_path, evaluate_path, stringify
from wsgate.types import JSONValue

__all__ = [
    "CompiledParameters",
    "CompiledResponseKeys",
    "MappedParameters",
    "MappingError",
    "ParameterMapping",
    "ParameterSource",
    "Problem",
    "SourceKind",
    "Target",
    "apply_request_parameters",
    "compile_integration_response_keys",
    "compile_request_parameters",
]

Target = Literal["header", "querystring", "path"]
SourceKind = Literal[
    "header",
    "multivalueheader",
    "querystring",
    "multivaluequerystring",
    "body",
    "context",
    "stage_variable",
    "static",
]

_NAME_PATTERN: Final = "^[a-zA-Z0-9._$-]+$"  # §3.7, for target and source names alike
_NAME: Final = re.compile(r"[a-zA-Z0-9._$-]+")
_CONTEXT_NAME: Final = re.compile(r"[a-zA-Z0-9_$-]+(?:\.[a-zA-Z0-9_$-]+)*")
_TARGETS: Final[tuple[tuple[str, Target], ...]] = (
    ("integration.request.header.", "header"),
    ("integration.request.querystring.", "querystring"),
    ("integration.request.path.", "path"),
)
_NAMED_SOURCES: Final[tuple[tuple[str, SourceKind], ...]] = (
    ("route.request.header.", "header"),
    ("route.request.multivalueheader.", "multivalueheader"),
    ("route.request.querystring.", "querystring"),
    ("route.request.multivaluequerystring.", "multivaluequerystring"),
    ("stageVariables.", "stage_variable"),
)
_BODY: Final = "route.request.body"
_DEFAULT: Final = "$default"
_EXPECTED_SOURCES: Final = (
    "expected route.request.{header,multivalueheader,querystring,multivaluequerystring}.<name>, "
    "route.request.body.<JSONPath>, context.<name>, stageVariables.<name> or a 'static' value"
)
# A header value holding these would split or end the header block: header injection.
_UNSAFE_IN_HEADER: Final = ("\r", "\n", "\0")


class Problem(NamedTuple):
    """One bad config entry: its key and what is wrong with it."""

    key: str
    message: str


# Not in errors.py's tree: callers turn it into ConfigError issues, with their config paths.
class MappingError(ValueError):
    """Config entries that cannot be compiled; ``problems`` lists every one with its key."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "; ".join(f"{problem.key}: {problem.message}" for problem in self.problems)


@dataclass(frozen=True, slots=True)
class ParameterSource:
    """What request parameters are read from.

    ``headers`` and ``query`` come from the handshake and are empty except on ``$connect``;
    ``body`` is the message text (None on ``$connect`` and ``$disconnect``).
    """

    headers: Sequence[tuple[str, str]] = ()  # client casing, repeats kept
    query: Sequence[tuple[str, str]] = ()
    body: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)  # nested: identity, authorizer, error
    stage_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MappedParameters:
    """What the integration request gets: headers and query in config order, path by name."""

    headers: tuple[tuple[str, str], ...]
    querystring: tuple[tuple[str, str], ...]
    path: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ParameterMapping:
    """One compiled entry: ``integration.request.<target>.<name>`` from a source.

    ``argument`` is the source's name (lower-cased for headers, which match case-insensitively),
    the static value, or the raw expression for body and context sources, which use ``path``.
    """

    key: str
    target: Target
    name: str
    source: SourceKind
    argument: str
    path: tuple[Segment, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledParameters:
    """A route integration's request parameters, compiled once."""

    mappings: tuple[ParameterMapping, ...] = ()
    # True when some entry reads a JSONPath of the body, so the message is parsed once per call.
    parses_body: bool = False


def compile_request_parameters(parameters: Mapping[str, str]) -> CompiledParameters:
    """Compile an integration's ``RequestParameters`` (target key → source expression).

    Raises:
        MappingError: (a ValueError) listing every bad entry with its key.
    """
    mappings: list[ParameterMapping] = []
    problems: list[Problem] = []
    seen_headers: dict[str, str] = {}
    for key, value in parameters.items():
        try:
            mapping = _compile_entry(key, value)
        except ValueError as error:
            problems.append(Problem(key, str(error)))
            continue
        if mapping.target == "header":
            # Header names are case-insensitive: two entries would send the header twice.
            earlier = seen_headers.setdefault(mapping.name.lower(), key)
            if earlier != key:
                problems.append(Problem(key, f"same header as {earlier} (names ignore case)"))
                continue
        mappings.append(mapping)
    if problems:
        raise MappingError(problems)
    parses_body = any(m.source == "body" and m.path for m in mappings)
    return CompiledParameters(tuple(mappings), parses_body)


def _compile_entry(key: str, value: str) -> ParameterMapping:
    target, name = _split_target(key)
    source, argument, path = _compile_source(value)
    if target == "header" and source == "static" and any(c in argument for c in _UNSAFE_IN_HEADER):
        raise ValueError("a header value cannot hold CR, LF or NUL")
    return ParameterMapping(key, target, name, source, argument, path)


def _split_target(key: str) -> tuple[Target, str]:
    for prefix, target in _TARGETS:
        if key.startswith(prefix):
            return target, _checked_name(key[len(prefix) :])
    raise ValueError(
        "unknown target; expected integration.request.{header,querystring,path}.<name>"
    )


def _compile_source(value: str) -> tuple[SourceKind, str, tuple[Segment, ...]]:
    if value.startswith("'"):
        if len(value) < 2 or not value.endswith("'"):
            raise ValueError(f"unterminated static value {value!r}")
        return "static", value[1:-1], ()
    for prefix, kind in _NAMED_SOURCES:
        if value.startswith(prefix):
            name = _checked_name(value[len(prefix) :])
            return kind, name.lower() if kind.endswith("header") else name, ()
    if value.startswith("context."):
        name = value[len("context.") :]
        if not _CONTEXT_NAME.fullmatch(name):
            raise ValueError(f"invalid context variable {value!r}")
        return "context", value, tuple(name.split("."))
    if value == _BODY:
        return "body", value, ()
    if value.startswith((_BODY + ".", _BODY + "[")):
        return "body", value, _compile_body_path(value[len(_BODY) :])
    raise ValueError(f"unknown source {value!r}; {_EXPECTED_SOURCES}")


def _compile_body_path(text: str) -> tuple[Segment, ...]:
    # "route.request.body.$" and "route.request.body.$.a" are spelled with a JSONPath root.
    path = text[1:] if text.startswith(".") else text
    if not path:
        raise ValueError("empty JSONPath after route.request.body.")
    if path.startswith("."):
        raise ValueError(f"invalid JSONPath {path!r}: recursive descent is not supported")
    try:
        return compile_path(path)
    except ValueError as error:
        raise ValueError(f"invalid JSONPath {path!r}: {error}") from error


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid name {name!r}; names must match {_NAME_PATTERN}")
    return name


def apply_request_parameters(
    compiled: CompiledParameters, source: ParameterSource
) -> MappedParameters:
    """Resolve every entry against one request.

    A source that is absent (no such header or query parameter, a body path that does not exist or
    is null, a body that is not JSON, an unknown context variable) leaves its parameter unsent.
    """
    document = _parse_json(source.body) if compiled.parses_body else MISSING
    headers: list[tuple[str, str]] = []
    querystring: list[tuple[str, str]] = []
    path: dict[str, str] = {}
    for mapping in compiled.mappings:
        value = _resolve(mapping, source, document)
        if value is None:
            continue
        if mapping.target == "header":
            if any(c in value for c in _UNSAFE_IN_HEADER):
                continue  # AWS behaviour unknown; never let client data forge headers
            headers.append((mapping.name, value))
        elif mapping.target == "querystring":
            querystring.append((mapping.name, value))
        else:
            path[mapping.name] = value
    return MappedParameters(tuple(headers), tuple(querystring), path)


def _resolve(mapping: ParameterMapping, source: ParameterSource, document: JSONValue) -> str | None:
    kind = mapping.source
    if kind == "static":
        return mapping.argument
    if kind in ("header", "multivalueheader"):
        name = mapping.argument
        values = [v for k, v in source.headers if k.lower() == name]
        return _pick(values, single=kind == "header")
    if kind in ("querystring", "multivaluequerystring"):
        values = [v for k, v in source.query if k == mapping.argument]
        return _pick(values, single=kind == "querystring")
    if kind == "stage_variable":
        return source.stage_variables.get(mapping.argument)
    if kind == "context":
        return _scalar(_walk_context(source.context, mapping.path))
    if not mapping.path:  # route.request.body: the message as is, JSON or not
        return source.body
    return _scalar(evaluate_path(document, mapping.path), containers=True)


def _pick(values: list[str], *, single: bool) -> str | None:
    # The single-value form keeps the last value, as API Gateway's single-value maps do; the
    # multi-value form folds repeats into one value the way HTTP folds repeated headers.
    if not values:
        return None
    return values[-1] if single else ",".join(values)


def _walk_context(context: Mapping[str, Any], path: tuple[Segment, ...]) -> object:
    value: object = context
    for segment in path:
        if not isinstance(value, Mapping) or segment not in value:
            return MISSING
        value = value[segment]
    return value


def _scalar(value: object, *, containers: bool = False) -> str | None:
    # Null has no text to send, so it counts as absent. Context groups (context.identity) are not
    # variables; body objects and arrays are text in the JSONPath sense (core.jsonpath.stringify).
    if value is MISSING or value is None:
        return None
    if isinstance(value, Mapping | list) and not containers:
        return None
    return stringify(value)


def _parse_json(body: str | None) -> JSONValue:
    if body is None:
        return MISSING
    # The stdlib, not orjson: orjson turns integers past 64 bits into floats, and an id mapped
    # into a header must keep every digit the client sent.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # nested past the parser's depth: not JSON to us
        return MISSING


@dataclass(frozen=True, slots=True)
class CompiledResponseKeys:
    """Integration response keys, compiled: ``$default`` and ``/regex/`` patterns."""

    keys: tuple[str, ...]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    has_default: bool

    def match(self, value: str | None) -> str | None:
        """The key of the integration response for ``value``.

        The regex must match the whole value (Java's ``String.matches``, as AWS runs it). AWS
        does not define an order among several matching keys: wsgate takes the first in the
        given order. With no match, ``$default`` if configured, else None. ``value`` None (a
        call that reported no error) skips the regexes.
        """
        if value is not None:
            for key, pattern in self.patterns:
                if pattern.fullmatch(value):
                    return key
        return _DEFAULT if self.has_default else None


def compile_integration_response_keys(keys: Iterable[str]) -> CompiledResponseKeys:
    """Compile ``IntegrationResponseKey`` values in order.

    Raises:
        MappingError: (a ValueError) listing every key that is neither ``$default`` nor a valid
            ``/regex/``.
    """
    ordered = tuple(keys)
    patterns: list[tuple[str, re.Pattern[str]]] = []
    problems: list[Problem] = []
    for key in ordered:
        if key == _DEFAULT:
            continue
        if len(key) < 2 or not key.startswith("/") or not key.endswith("/"):
            problems.append(Problem(key, "expected $default or a regex wrapped in /.../"))
            continue
        try:
            patterns.append((key, re.compile(key[1:-1])))
        except (re.error, OverflowError) as error:  # overflow: a repeat count past 2**32
            problems.append(Problem(key, f"invalid regex: {error}"))
        except RecursionError:
            problems.append(Problem(key, "invalid regex: it nests too deeply"))
    if problems:
        raise MappingError(problems)
    return CompiledResponseKeys(ordered, tuple(patterns), _DEFAULT in ordered)
