"""Checks of HTTP, HTTP_PROXY, MOCK and AWS integrations, selection expressions, and warnings.

Everything a template or a mapping can get wrong is found at load time, with its place in the
file, so that ``wsgate validate`` reports it before any message is sent. What loads but is most
likely a slip (a selection expression without its ``$``) is a warning: :func:`config_warnings`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from wsgate.config.base import as_mapping
from wsgate.config.model import ApiConfig
from wsgate.core.mapping import (
    MappingError,
    compile_integration_response_keys,
    compile_request_parameters,
)
from wsgate.core.routing import compile_expression
from wsgate.core.templates import compile_response_expression, compile_template
from wsgate.core.validation import ModelError, compile_schema
from wsgate.errors import ConfigIssue, RoutingError, TemplateError

__all__ = [
    "ASGI_PREFIX",
    "backend_issues",
    "config_warnings",
    "expression_issues",
    "model_issues",
]

ASGI_PREFIX: Final = "asgi:"
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_URI: Final = re.compile(r"^(https?://[^/\s]+\S*|asgi:[A-Za-z_][\w.]*:[A-Za-z_]\w*(/\S*)?)$")
_STAGE_VARIABLE: Final = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
_MODEL_NAME: Final = re.compile(r"[A-Za-z0-9]{1,128}")


def backend_issues(
    place: str,
    kind: str,
    integration: Mapping[str, Any],
    stage_variables: Mapping[str, Mapping[str, str]] | None = None,
) -> list[ConfigIssue]:
    """Every problem of one HTTP, HTTP_PROXY, MOCK or AWS integration (an AWS one's URI aside).

    ``stage_variables`` maps each stage to its variables, to check the URI on every stage.
    """
    issues = _uri_issues(place, kind, integration)
    uri = integration.get("integrationUri")
    if isinstance(uri, str):
        for stage, variables in (stage_variables or {}).items():
            missing = sorted(set(_STAGE_VARIABLE.findall(uri)) - set(variables))
            if missing:
                issues.append(
                    ConfigIssue(
                        f"{place}.integrationUri",
                        f"stage {stage}: stage variable {missing[0]!r} is not set",
                    )
                )
    method = integration.get("integrationMethod", "POST")
    if isinstance(method, str) and method.upper() not in _METHODS:
        allowed = ", ".join(sorted(_METHODS))
        issues.append(ConfigIssue(f"{place}.integrationMethod", f"must be one of {allowed}"))
    if kind == "HTTP_PROXY":
        for field in ("requestTemplates", "integrationResponses"):
            if integration.get(field):
                issues.append(
                    ConfigIssue(f"{place}.{field}", "proxy integrations take no templates")
                )
    issues += _template_issues(f"{place}.requestTemplates", integration.get("requestTemplates"))
    selection = integration.get("templateSelectionExpression")
    if isinstance(selection, str):
        issues += expression_issues(f"{place}.templateSelectionExpression", selection)
    issues += _parameter_issues(place, integration.get("requestParameters"))
    issues += _response_issues(place, integration.get("integrationResponses"))
    return issues


def _uri_issues(place: str, kind: str, integration: Mapping[str, Any]) -> list[ConfigIssue]:
    uri = integration.get("integrationUri")
    if kind in ("MOCK", "AWS"):
        return []  # a MOCK calls nothing; an AWS one names a function or service (services.py)
    if not isinstance(uri, str) or not uri:
        return [ConfigIssue(f"{place}.integrationUri", f"an {kind} integration needs a URL")]
    # Stage variables may stand for any part; check the shape with a placeholder.
    if not _URI.match(_STAGE_VARIABLE.sub("x", uri)):
        return [
            ConfigIssue(
                f"{place}.integrationUri",
                f"{uri!r} is neither an http(s):// URL nor asgi:module:attribute[/path]",
            )
        ]
    return []


def _template_issues(place: str, templates: object) -> list[ConfigIssue]:
    if not isinstance(templates, dict):
        return []
    issues = []
    for key, text in templates.items():
        if not isinstance(text, str):
            continue
        try:
            compile_template(text)
        except TemplateError as error:
            issues.append(ConfigIssue(f"{place}.{key}", str(error)))
    return issues


def _parameter_issues(place: str, parameters: object) -> list[ConfigIssue]:
    if not isinstance(parameters, dict):
        return []
    try:
        compile_request_parameters({str(k): str(v) for k, v in parameters.items()})
    except MappingError as error:
        return [
            ConfigIssue(f"{place}.requestParameters.{problem.key}", problem.message)
            for problem in error.problems
        ]
    return []


def _response_issues(place: str, responses: object) -> list[ConfigIssue]:
    if not isinstance(responses, dict):
        return []
    issues = []
    try:
        compile_integration_response_keys([str(key) for key in responses])
    except MappingError as error:
        issues += [
            ConfigIssue(f"{place}.integrationResponses.{problem.key}", problem.message)
            for problem in error.problems
        ]
    for key, response in responses.items():
        if isinstance(response, dict):
            where = f"{place}.integrationResponses.{key}"
            issues += _template_issues(
                f"{where}.responseTemplates", response.get("responseTemplates")
            )
            selection = response.get("templateSelectionExpression")
            if isinstance(selection, str):
                issues += expression_issues(
                    f"{where}.templateSelectionExpression", selection, compile_response_expression
                )
    return issues


def model_issues(models: Mapping[str, Any], routes: Mapping[str, Any]) -> list[ConfigIssue]:
    """Every problem of the API's models and of the routes' request validation (§4.5).

    Each schema is compiled here, so that a bad one is reported at load with its model's name.
    """
    issues = []
    for name, model in models.items():
        if not _MODEL_NAME.fullmatch(str(name)):
            issues.append(ConfigIssue(f"models.{name}", "model names are 1-128 letters or digits"))
        schema = model.get("schema") if isinstance(model, dict) else None
        if isinstance(schema, dict):
            schema = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        if not isinstance(schema, str):
            continue  # the model reports a missing or mistyped schema
        try:
            compile_schema(schema)
        except ModelError as error:
            issues.append(ConfigIssue(f"models.{name}.schema", str(error)))
    for key, route in routes.items():
        if not isinstance(route, dict):
            continue
        place = f"routes.{key}"
        expression = route.get("modelSelectionExpression")
        if isinstance(expression, str):
            issues += expression_issues(f"{place}.modelSelectionExpression", expression)
        request_models = route.get("requestModels")
        for selection, model_name in as_mapping(request_models).items():
            if isinstance(model_name, str) and model_name not in models:
                issues.append(
                    ConfigIssue(
                        f"{place}.requestModels.{selection}", f"no model named {model_name!r}"
                    )
                )
    return issues


# AWS reads "$default" in a selection expression as a variable; the key is written "\$default".
_DEFAULT_AS_VARIABLE: Final = frozenset({"$default", "${default}"})


def expression_issues(
    place: str,
    expression: str,
    compiler: Callable[[str], object] = compile_expression,
) -> list[ConfigIssue]:
    """The problem of a selection expression that ``compiler`` refuses, with its fix if known."""
    try:
        compiler(expression)
    except RoutingError as error:
        reason = error.reason
        if expression in _DEFAULT_AS_VARIABLE:
            reason = (
                f"{expression!r} is read as a variable; "
                "write '\\$default' for the literal $default key"
            )
        return [ConfigIssue(place, reason)]
    return []


# A selection expression starting with one of these, with no "$" anywhere, is a variable that
# lost its "$": it evaluates to itself, the same key for every message.
_VARIABLE_SOURCES: Final = ("request.", "context.", "stageVariables.", "integration.")


def config_warnings(config: ApiConfig) -> list[ConfigIssue]:
    """What loads but is most likely a mistake, each with its place; never an error.

    Today: a selection expression that reads like a variable without its ``$``
    (``request.body.action``), which is a constant and selects the same key every time; and
    request models that nothing validates against.
    """
    warnings = _unvalidated_routes(config)
    for place, expression, effect in _selection_expressions(config):
        if expression is None or "$" in expression:
            continue
        if expression.removeprefix("{").startswith(_VARIABLE_SOURCES):
            consequence = f": {effect}" if effect else ""
            warnings.append(
                ConfigIssue(
                    place,
                    f"{expression!r} has no '$', so it is a constant{consequence}; "
                    f"did you mean {'$' + expression!r}?",
                )
            )
    return warnings


def _unvalidated_routes(config: ApiConfig) -> list[ConfigIssue]:
    """Routes whose request models are never used: AWS validates only with an expression, and
    only messages have a body."""
    warnings = []
    for key, route in config.routes.items():
        if route.request_models and route.model_selection_expression is None:
            message = "no modelSelectionExpression: messages are not validated, as on AWS"
            warnings.append(ConfigIssue(f"routes.{key}.requestModels", message))
        elif route.model_selection_expression is not None and key in ("$connect", "$disconnect"):
            message = f"{key} has no message body: nothing is validated"
            warnings.append(ConfigIssue(f"routes.{key}.modelSelectionExpression", message))
    return warnings


def _selection_expressions(config: ApiConfig) -> Iterator[tuple[str, str | None, str]]:
    """Every selection expression of the API: its place, its text, what a constant there does."""
    routed = (
        "every message goes to $default"
        if "$default" in config.routes
        else "no message matches a route, and there is no $default route"
    )
    yield "routeSelectionExpression", config.route_selection_expression, routed
    for key, route in config.routes.items():
        yield (
            f"routes.{key}.modelSelectionExpression",
            route.model_selection_expression,
            "every message of the route is validated against the same model",
        )
        yield (
            f"routes.{key}.routeResponseSelectionExpression",
            route.route_response_selection_expression,
            "",
        )
        for response_key, route_response in (route.route_responses or {}).items():
            yield (
                f"routes.{key}.routeResponses.{response_key}.modelSelectionExpression",
                route_response.model_selection_expression,
                "",
            )
    for name, integration in config.integrations.items():
        place = f"integrations.{name}"
        yield (
            f"{place}.templateSelectionExpression",
            integration.template_selection_expression,
            "every message gets the same request template",
        )
        yield (
            f"{place}.integrationResponseSelectionExpression",
            integration.integration_response_selection_expression,
            "",
        )
        for key, response in integration.integration_responses.items():
            yield (
                f"{place}.integrationResponses.{key}.templateSelectionExpression",
                response.template_selection_expression,
                "every response gets the same response template",
            )
