"""Checks of HTTP, HTTP_PROXY and MOCK integrations: URIs, methods, templates, parameters.

Everything a template or a mapping can get wrong is found at load time, with its place in the
file, so that ``wsgate validate`` reports it before any message is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from wsgate.core.mapping import (
    MappingError,
    compile_integration_response_keys,
    compile_request_parameters,
)
from wsgate.core.routing import compile_expression
from wsgate.core.templates import compile_response_expression, compile_template
from wsgate.errors import ConfigIssue, RoutingError, TemplateError

__all__ = ["ASGI_PREFIX", "backend_issues"]

ASGI_PREFIX: Final = "asgi:"
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_URI: Final = re.compile(r"^(https?://[^/\s]+\S*|asgi:[A-Za-z_][\w.]*:[A-Za-z_]\w*(/\S*)?)$")
_STAGE_VARIABLE: Final = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def backend_issues(
    place: str,
    kind: str,
    integration: Mapping[str, Any],
    stage_variables: Mapping[str, Mapping[str, str]] | None = None,
) -> list[ConfigIssue]:
    """Every problem of one HTTP, HTTP_PROXY or MOCK integration.

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
        try:
            compile_expression(selection)
        except RoutingError as error:
            issues.append(ConfigIssue(f"{place}.templateSelectionExpression", error.reason))
    issues += _parameter_issues(place, integration.get("requestParameters"))
    issues += _response_issues(place, integration.get("integrationResponses"))
    return issues


def _uri_issues(place: str, kind: str, integration: Mapping[str, Any]) -> list[ConfigIssue]:
    uri = integration.get("integrationUri")
    if kind == "MOCK":
        return []
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
                try:
                    compile_response_expression(selection)
                except RoutingError as error:
                    issues.append(ConfigIssue(f"{where}.templateSelectionExpression", error.reason))
    return issues
