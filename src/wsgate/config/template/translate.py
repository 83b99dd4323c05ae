"""A SAM, CloudFormation or CDK template as the one API config it declares.

The translation evaluates parameters, conditions and intrinsic functions, turns the WebSocket
API's resources and the functions into config data, and lists what it cannot run (tables,
roles, ...) as skipped. The data then goes through the same validation as a config file, and
every problem is reported at its place in the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from wsgate.config.base import as_mapping
from wsgate.config.template.apigateway import SUPPORTED_PARTS, ApiParts, translate_part
from wsgate.config.template.functions import (
    FunctionContext,
    code_folder,
    merge_globals,
    translate_function,
)
from wsgate.config.template.intrinsics import NO_VALUE, Resolver, TemplateIssue, as_text
from wsgate.config.template.options import TemplateOptions, pseudo_parameters
from wsgate.config.template.parameters import parameter_values
from wsgate.config.template.resources import (
    FUNCTION_TYPES,
    LAYER_TYPES,
    StackReferences,
    skip_reason,
)
from wsgate.config.uris import function_name_from_uri
from wsgate.errors import ConfigIssue

__all__ = ["Translation", "translate_template"]

_TRANSFORMS: Final = frozenset({"AWS::Serverless-2016-10-31"})
# The order parts are read in: what a part names is there before it.
_PART_ORDER: Final = (
    "Api",
    "Integration",
    "Route",
    "IntegrationResponse",
    "RouteResponse",
    "Authorizer",
    "Stage",
    "Deployment",
    "Model",
)


@dataclass(slots=True)
class Translation:
    """A template's config data, and what could not or need not be turned into config."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)
    # In-line code to write before the config is validated: path -> text.
    files: dict[Path, str] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    skipped: list[ConfigIssue] = field(default_factory=list)
    notes: list[ConfigIssue] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Sorted:
    apis: list[str] = field(default_factory=list)
    parts: list[tuple[str, str]] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)


def translate_template(
    template: Mapping[str, Any], *, template_dir: Path, options: TemplateOptions, stack_name: str
) -> Translation:
    """Translate a template's data (as read) into config data; pure but for path resolution."""
    result = Translation()
    result.issues += _transform_issues(template.get("Transform"))
    resources = as_mapping(template.get("Resources"))
    parameters, issues = parameter_values(
        as_mapping(template.get("Parameters")), options.parameter_overrides
    )
    result.issues += issues
    references = StackReferences(
        resources, stack_name=stack_name, region=options.region, account_id=options.account_id
    )
    resolver = Resolver(
        values={**pseudo_parameters(options, stack_name), **parameters},
        mappings=as_mapping(template.get("Mappings")),
        conditions=as_mapping(template.get("Conditions")),
        references=references,
    )
    references.bind(resolver)
    found = _sort(resources, references, result)
    if len(found.apis) != 1:
        names = ", ".join(found.apis)
        message = "several WebSocket APIs: " + names + "; wsgate serves one API per template"
        result.issues.append(ConfigIssue("Resources", message))
        return result
    api = found.apis[0]
    context = FunctionContext(
        template_dir=template_dir,
        home=options.home,
        env_vars=options.env_vars,
        layers=_layers(found.layers, resources, references, resolver, template_dir, result),
    )
    defaults = as_mapping(as_mapping(template.get("Globals")).get("Function"))
    functions: dict[str, Any] = {}
    for name in found.functions:
        resource = dict(resources[name])
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"] = merge_globals(defaults, resource.get("Properties") or {})
        translated = translate_function(name, resource, resolver, context)
        functions[name] = translated.data
        result.origins[("functions", name)] = f"Resources.{name}.Properties"
        result.files.update(translated.files)
        result.issues += translated.issues
        result.notes += translated.notes
    for section in as_mapping(template.get("Globals")):
        if section != "Function":
            message = "applies to resources that are not run here"
            result.notes.append(ConfigIssue(f"Globals.{section}", message))
    parts = _parts(api, found, resources, references, resolver)
    result.origins.update(parts.origins)
    result.issues += parts.issues
    result.notes += parts.notes
    data = parts.data
    if not data.get("stages"):
        message = "no AWS::ApiGatewayV2::Stage for the API: clients connect to a stage"
        result.issues.append(ConfigIssue(f"Resources.{api}", message))
    data.update(
        apiId=references.api_id(api),
        region=options.region,
        accountId=options.account_id,
        functions=functions,
    )
    _point_at_functions(data, {references.function_name(n, ""): n for n in found.functions})
    result.data = data
    result.outputs = _outputs(as_mapping(template.get("Outputs")), resolver, result)
    return result


def _transform_issues(transform: object) -> list[ConfigIssue]:
    names = transform if isinstance(transform, list) else [] if transform is None else [transform]
    return [
        ConfigIssue("Transform", f"{name} is not supported (only AWS::Serverless-2016-10-31)")
        for name in names
        if name not in _TRANSFORMS
    ]


def _sort(
    resources: Mapping[str, Any], references: StackReferences, result: Translation
) -> _Sorted:
    found = _Sorted()
    for name, resource in resources.items():
        place = f"Resources.{name}"
        kind = as_mapping(resource).get("Type")
        if not isinstance(kind, str):
            result.issues.append(ConfigIssue(f"{place}.Type", "required"))
            continue
        try:
            if not references.exists(name, place):
                continue
        except TemplateIssue as issue:
            result.issues.append(ConfigIssue(f"{place}.Condition", issue.message))
            continue
        protocol = as_mapping(resource.get("Properties")).get("ProtocolType")
        if kind == "AWS::ApiGatewayV2::Api" and protocol == "WEBSOCKET":
            found.apis.append(name)
        elif kind in SUPPORTED_PARTS and kind != "AWS::ApiGatewayV2::Api":
            found.parts.append((name, kind))
        elif kind in FUNCTION_TYPES:
            found.functions.append(name)
        elif kind in LAYER_TYPES:
            found.layers.append(name)
        elif reason := skip_reason(kind):
            result.skipped.append(ConfigIssue(place, f"{kind}: {reason}"))
    return found


def _layers(
    names: list[str],
    resources: Mapping[str, Any],
    references: StackReferences,
    resolver: Resolver,
    template_dir: Path,
    result: Translation,
) -> dict[str, Path]:
    folders: dict[str, Path] = {}
    for name in names:
        place = f"Resources.{name}.Properties"
        properties, issues = resolver.resolve_each(
            as_mapping(resources[name].get("Properties")), place
        )
        result.issues += issues
        try:
            folder = code_folder(name, resources[name], properties, template_dir)
        except TemplateIssue as issue:
            result.issues.append(ConfigIssue(issue.place, issue.message))
            continue
        if folder is not None:
            folders[str(references.ref(name, place))] = folder
    return folders


def _parts(
    api: str,
    found: _Sorted,
    resources: Mapping[str, Any],
    references: StackReferences,
    resolver: Resolver,
) -> ApiParts:
    parts = ApiParts(data={})
    api_id = references.api_id(api)
    ordered = sorted(found.parts, key=lambda item: _PART_ORDER.index(item[1].rpartition("::")[2]))
    ordered.insert(0, (api, "AWS::ApiGatewayV2::Api"))
    for name, kind in ordered:
        place = f"Resources.{name}.Properties"
        properties, issues = resolver.resolve_each(
            as_mapping(resources[name].get("Properties")), place
        )
        parts.issues += issues
        if name != api and properties.get("ApiId") != api_id:
            message = f"{kind}: belongs to another API, not served"
            parts.notes.append(ConfigIssue(f"Resources.{name}", message))
            continue
        translate_part(parts, name, kind, properties)
    return parts


def _point_at_functions(data: dict[str, Any], logical_ids: Mapping[str, str]) -> None:
    """Make URIs that name a function of the template (by its name) name its config key."""
    sections = (
        (data.get("integrations", {}), "integrationUri"),
        (data.get("authorizers", {}), "authorizerUri"),
    )
    for section, key in sections:
        for entry in section.values():
            uri = entry.get(key)
            if not isinstance(uri, str) or "${" in uri:
                continue
            function = function_name_from_uri(uri, {})
            logical_id = logical_ids.get(function, function)
            if uri == function:
                entry[key] = logical_id
            else:
                entry[key] = uri.replace(f":function:{function}", f":function:{logical_id}")


def _outputs(outputs: Mapping[str, Any], resolver: Resolver, result: Translation) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, output in outputs.items():
        place = f"Outputs.{name}"
        entry = as_mapping(output)
        try:
            condition = entry.get("Condition")
            if condition is not None and not resolver.condition(as_text(condition, place), place):
                continue
            value = resolver.resolve(entry.get("Value"), f"{place}.Value")
        except TemplateIssue as issue:
            result.issues.append(ConfigIssue(issue.place, issue.message))
            continue
        if value is not NO_VALUE:
            values[name] = value
    return values
