"""Request validation with models (§4.5 of the AWS reference).

A route with a ``ModelSelectionExpression`` validates every message before its integration
runs: the expression, evaluated against the body, picks a key of the route's
``RequestModels`` (or ``$default``), and the body must match that model's JSON Schema
(draft 4). Schemas compile once at config load (:func:`compile_schema`); validating is a pure
function of the compiled route and the message (:func:`validate_request`), which says why a
body fails, for logs and traces only: the client gets AWS's ``Bad request body`` frame.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from wsgate.core.jsonpath import MISSING
from wsgate.core.routing import DEFAULT, Expression, compile_expression
from wsgate.core.schema_keywords import BoundedDraft4Validator, ValidationTooSlow, time_bound

__all__ = [
    "MAX_SCHEMA_CHARS",
    "MAX_VALIDATION_SECONDS",
    "ModelError",
    "RequestValidation",
    "compile_request_validation",
    "compile_schema",
    "validate_request",
]

# apigatewayv2's Model.Schema is a string of at most 32 K characters.
MAX_SCHEMA_CHARS: Final = 32 * 1024
# Ours, as for mapping templates: the regular expressions of one message's validation may take
# this long in all (the other keywords' work grows with the message, which is bounded).
MAX_VALIDATION_SECONDS: Final = 0.5
# A failure names the value at fault, cut to this length: the reason goes to logs and traces.
_SHOWN_CHARS: Final = 200


class ModelError(ValueError):
    """A model that cannot validate anything: its schema, or a name no model has."""


@functools.lru_cache(maxsize=256)
def compile_schema(text: str) -> Validator:
    """Compile a model's schema (JSON text) into a draft 4 validator, once per text.

    Formats (``"format": "email"``) are annotations only, as draft 4 allows; ``$ref`` may
    point only inside the schema itself (``#/definitions/...``): no other model or URL is
    fetched.

    Raises:
        ModelError: longer than AWS allows, not a JSON object, not a valid draft 4 schema, or a
            ``$ref`` that does not resolve inside it.
    """
    if len(text) > MAX_SCHEMA_CHARS:
        raise ModelError(f"the schema has {len(text)} characters; AWS allows {MAX_SCHEMA_CHARS}")
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ModelError(f"the schema is not JSON: {error}") from error
    if not isinstance(schema, dict):
        raise ModelError("the schema must be a JSON object")
    try:
        Draft4Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.path)
        raise ModelError(f"not a valid draft 4 schema at '/{where}': {error.message}") from error
    for reference in _references(schema):
        _check_reference(schema, reference)
    validator: Validator = BoundedDraft4Validator(schema)
    return validator


def _references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _check_reference(schema: dict[str, Any], reference: str) -> None:
    """A ``$ref`` must be a JSON pointer into the schema (``#``, ``#/definitions/x``)."""
    if not reference.startswith("#"):
        raise ModelError(f"$ref {reference!r}: only references inside the schema (#/...) work")
    node: object = schema
    pointer = reference[1:]
    for token in pointer.split("/")[1:] if pointer else ():
        name = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and name in node:
            node = node[name]
        elif isinstance(node, list) and name.isdigit() and int(name) < len(node):
            node = node[int(name)]
        else:
            raise ModelError(f"$ref {reference!r} points at nothing in the schema")


@dataclass(frozen=True, slots=True)
class RequestValidation:
    """A route's model selection, compiled: its expression and each key's model.

    Attributes:
        expression: the route's ``ModelSelectionExpression``.
        models: a ``RequestModels`` key -> the model's name and validator.
    """

    expression: Expression
    models: Mapping[str, tuple[str, Validator]]


def compile_request_validation(
    selection_expression: str, request_models: Mapping[str, str], schemas: Mapping[str, str]
) -> RequestValidation:
    """Compile a route's validation from its expression, its models and the API's schemas.

    Args:
        request_models: the route's ``RequestModels``: selection key -> model name.
        schemas: the API's models: model name -> schema text.

    Raises:
        RoutingError: the expression cannot be compiled.
        ModelError: a key names no model of the API, or its schema is unusable.
    """
    expression = compile_expression(selection_expression)
    models = {}
    for key, name in request_models.items():
        if name not in schemas:
            raise ModelError(f"requestModels.{key}: no model named {name!r}")
        models[key] = (name, compile_schema(schemas[name]))
    return RequestValidation(expression, models)


def validate_request(
    validation: RequestValidation,
    body: str | bytes,
    *,
    clock: Callable[[], float] | None = None,
    max_seconds: float = MAX_VALIDATION_SECONDS,
) -> str | None:
    """Validate one message against its route's model: None when it passes, else why not.

    With a ``clock`` (monotonic seconds), the schema's regular expressions stop once
    ``max_seconds`` have passed, and the message fails; without one there is no time bound.

    The expression is evaluated against the body parsed as JSON (a body that is not a JSON
    object selects ``$default``). The model the value names, else the ``$default`` model, must
    accept the body; no model at all fails, as on AWS. A body that is not JSON text (a binary
    frame, say) cannot match a JSON Schema and fails too.
    """
    document = _parse(body)
    value = _select(validation.expression, document)
    chosen = validation.models.get(value) if value is not None else None
    if chosen is None:
        chosen = validation.models.get(DEFAULT)
    if chosen is None:
        return f"no model for selection value {_shown(value)} and no $default model"
    name, validator = chosen
    if document is MISSING:
        return f"model {name}: the body is not JSON"
    try:
        with time_bound(clock, max_seconds):
            error = next(validator.iter_errors(document), None)  # the first failure is enough
    except ValidationTooSlow:
        return f"model {name}: validating took more than {max_seconds:g} s"
    except RecursionError:
        return f"model {name}: the body is nested too deeply to validate"
    except Unresolvable as unresolvable:
        return f"model {name}: the schema's $ref cannot be resolved: {unresolvable}"
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"model {name}: at '/{where}': {_cut(error.message)}"


def _parse(body: str | bytes) -> Any:
    if isinstance(body, bytes):
        return MISSING
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return MISSING


def _select(expression: Expression, document: Any) -> str | None:
    if expression.is_static:
        return expression.evaluate(None)
    if not isinstance(document, dict):
        return None
    return expression.evaluate(document)


def _shown(value: str | None) -> str:
    return "(none: the body is not a JSON object)" if value is None else repr(_cut(value))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
