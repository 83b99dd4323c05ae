"""Cross-checks of who may connect: authorizers, IAM, API keys, usage plans, throttles, TLS.

Like the other checks these read the raw mapping (the model reports structural errors), so
that every problem of a file is reported together, each with its place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from wsgate.config.base import as_mapping
from wsgate.config.uris import function_name_from_uri
from wsgate.core.authorizer import compile_identity_sources
from wsgate.core.mapping import MappingError
from wsgate.core.routing import CONNECT
from wsgate.errors import ConfigIssue

__all__ = ["access_issues", "function_authorizer"]

_ORIGIN: Final = re.compile(r"^(\*|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?)$")


def function_authorizer(uri: str) -> bool:
    """True when an ``authorizerUri`` names a local function rather than an HTTP endpoint."""
    return not uri.startswith(("http://", "https://"))


def access_issues(data: Mapping[str, Any], base_dir: Path) -> list[ConfigIssue]:
    """Every problem in the parts of a config that decide access."""
    authorizers = as_mapping(data.get("authorizers"))
    functions = as_mapping(data.get("functions"))
    issues: list[ConfigIssue] = []
    for name, authorizer in authorizers.items():
        issues += _authorizer_issues(str(name), as_mapping(authorizer), functions)
    routes = as_mapping(data.get("routes"))
    for key, route in routes.items():
        issues += _route_issues(str(key), as_mapping(route), authorizers, data)
    plans = as_mapping(data.get("usagePlans"))
    values: dict[str, str] = {}
    for name, raw_key in as_mapping(data.get("apiKeys")).items():
        api_key = as_mapping(raw_key)
        plan = api_key.get("usagePlan")
        if isinstance(plan, str) and plan not in plans:
            issues.append(ConfigIssue(f"apiKeys.{name}.usagePlan", f"no usage plan named {plan!r}"))
        value = api_key.get("value")
        if isinstance(value, str):
            if value in values:
                message = f"same value as API key {values[value]!r}"
                issues.append(ConfigIssue(f"apiKeys.{name}.value", message))
            values.setdefault(value, str(name))
    for stage_name, stage in as_mapping(data.get("stages")).items():
        for route_key in as_mapping(as_mapping(stage).get("routeSettings")):
            if route_key not in routes:
                place = f"stages.{stage_name}.routeSettings.{route_key}"
                issues.append(ConfigIssue(place, "no route with this key"))
    server = as_mapping(data.get("server"))
    issues += _file_issues(data, base_dir)
    origins = as_mapping(server.get("listener")).get("allowedOrigins")
    for index, origin in enumerate(origins if isinstance(origins, list) else []):
        if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
            message = f"{origin!r} is not an origin like https://app.example.com or https://*.x.com"
            issues.append(ConfigIssue(f"server.listener.allowedOrigins.{index}", message))
    return issues


def _authorizer_issues(
    name: str, authorizer: Mapping[str, Any], functions: Mapping[str, Any]
) -> list[ConfigIssue]:
    place = f"authorizers.{name}"
    issues = []
    uri = authorizer.get("authorizerUri")
    if isinstance(uri, str) and function_authorizer(uri):
        try:
            function = function_name_from_uri(uri, {})
        except ValueError as error:  # stage variables are not allowed in authorizer URIs
            function, message = "", f"{error}; authorizer URIs take no stage variables"
            issues.append(ConfigIssue(f"{place}.authorizerUri", message))
        if function and function not in functions:
            message = f"no function named {function!r} (or give an http(s):// URL)"
            issues.append(ConfigIssue(f"{place}.authorizerUri", message))
    sources = authorizer.get("identitySource", [])
    if isinstance(sources, str):
        sources = [part.strip() for part in sources.split(",") if part.strip()]
    if isinstance(sources, list) and all(isinstance(item, str) for item in sources):
        try:
            compile_identity_sources(sources)
        except MappingError as error:
            for problem in error.problems:
                issues.append(ConfigIssue(f"{place}.identitySource.{problem.key}", problem.message))
    return issues


def _route_issues(
    key: str, route: Mapping[str, Any], authorizers: Mapping[str, Any], data: Mapping[str, Any]
) -> list[ConfigIssue]:
    place = f"routes.{key}"
    kind = route.get("authorizationType", "NONE")
    issues = []
    if kind != "NONE" and key != CONNECT:
        message = "only the $connect route can be authorized; later messages are its connection's"
        issues.append(ConfigIssue(f"{place}.authorizationType", message))
    authorizer = route.get("authorizerId")
    if kind == "CUSTOM":
        name = authorizer.removeprefix("authorizers/") if isinstance(authorizer, str) else None
        if name is None:
            issues.append(ConfigIssue(f"{place}.authorizerId", "CUSTOM needs an authorizerId"))
        elif name not in authorizers:
            issues.append(ConfigIssue(f"{place}.authorizerId", f"no authorizer named {name!r}"))
    elif authorizer is not None:
        message = "an authorizerId needs authorizationType CUSTOM"
        issues.append(ConfigIssue(f"{place}.authorizerId", message))
    if kind == "AWS_IAM" and data.get("iam") is None:
        issues.append(ConfigIssue(f"{place}.authorizationType", "AWS_IAM needs an iam section"))
    if route.get("apiKeyRequired") is True and not data.get("apiKeys"):
        issues.append(ConfigIssue(f"{place}.apiKeyRequired", "no apiKeys are declared"))
    return issues


def _file_issues(data: Mapping[str, Any], base_dir: Path) -> list[ConfigIssue]:
    files = {
        "iam.credentialsFile": as_mapping(data.get("iam")).get("credentialsFile"),
        "server.tls.certFile": as_mapping(as_mapping(data.get("server")).get("tls")).get(
            "certFile"
        ),
        "server.tls.keyFile": as_mapping(as_mapping(data.get("server")).get("tls")).get("keyFile"),
    }
    issues = []
    for place, name in files.items():
        if isinstance(name, str) and not (base_dir / name).is_file():
            issues.append(ConfigIssue(place, f"file {str(base_dir / name)!r} does not exist"))
    return issues
