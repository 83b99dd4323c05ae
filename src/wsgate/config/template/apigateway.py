"""A template's ``AWS::ApiGatewayV2::*`` resources as the data of one API config.

Each resource type maps its properties onto the config's fields (AWS's names, camelCase);
properties with no local effect are returned as notes, never dropped without a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from wsgate.config.template.intrinsics import as_text
from wsgate.errors import ConfigIssue

__all__ = ["SUPPORTED_PARTS", "ApiParts", "lower_first", "translate_part"]

_PREFIX: Final = "AWS::ApiGatewayV2::"


def lower_first(key: str) -> str:
    """CloudFormation's ``RouteKey`` as the config's ``routeKey``."""
    return key[:1].lower() + key[1:]


def _lower_keys(value: object) -> object:
    if isinstance(value, dict):
        return {lower_first(str(key)): item for key, item in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one resource type's properties are read: copied, converted, or left aside."""

    copied: frozenset[str]
    quiet: frozenset[str]
    # Properties with a meaning on AWS that is not reproduced here.
    unsupported: Mapping[str, str] = field(default_factory=dict)


_KINDS: Final = {
    "Api": _Kind(
        frozenset({"Name", "RouteSelectionExpression", "ApiKeySelectionExpression", "Description"}),
        frozenset({"ProtocolType", "Tags", "Version", "DisableSchemaValidation", "IpAddressType"}),
        {"DisableExecuteApiEndpoint": "the local endpoint is always served"},
    ),
    "Route": _Kind(
        frozenset(
            {
                "Target",
                "AuthorizationType",
                "AuthorizerId",
                "ApiKeyRequired",
                "RouteResponseSelectionExpression",
                "RequestModels",
                "ModelSelectionExpression",
            }
        ),
        frozenset({"ApiId", "RouteKey", "OperationName", "AuthorizationScopes"}),
        {"RequestParameters": "required request parameters are not checked"},
    ),
    "Integration": _Kind(
        frozenset(
            {
                "IntegrationType",
                "IntegrationUri",
                "IntegrationMethod",
                "RequestTemplates",
                "TemplateSelectionExpression",
                "RequestParameters",
                "PassthroughBehavior",
                "TimeoutInMillis",
                "ContentHandlingStrategy",
                "Description",
                "CredentialsArn",
            }
        ),
        frozenset({"ApiId", "ConnectionType", "PayloadFormatVersion"}),
        {"ConnectionId": "VPC links are not used", "TlsConfig": "not applied"},
    ),
    "IntegrationResponse": _Kind(
        frozenset(
            {
                "ResponseTemplates",
                "TemplateSelectionExpression",
                "ContentHandlingStrategy",
                "ResponseParameters",
            }
        ),
        frozenset({"ApiId", "IntegrationId", "IntegrationResponseKey"}),
    ),
    "RouteResponse": _Kind(
        frozenset({"ModelSelectionExpression"}),
        frozenset({"ApiId", "RouteId", "RouteResponseKey"}),
        {"ResponseModels": "not enforced", "ResponseParameters": "not applied"},
    ),
    "Authorizer": _Kind(
        frozenset(
            {
                "AuthorizerType",
                "AuthorizerUri",
                "IdentitySource",
                "Name",
                "AuthorizerResultTtlInSeconds",
            }
        ),
        frozenset({"ApiId", "AuthorizerCredentialsArn"}),
    ),
    "Stage": _Kind(
        frozenset({"StageVariables", "Description", "DefaultRouteSettings", "RouteSettings"}),
        frozenset(
            {"ApiId", "StageName", "AutoDeploy", "DeploymentId", "Tags", "AccessLogSettings"}
        ),
        {"ClientCertificateId": "not used"},
    ),
    "Deployment": _Kind(frozenset(), frozenset({"ApiId", "Description", "StageName"})),
    "Model": _Kind(
        frozenset({"ContentType", "Description", "Schema"}),
        frozenset({"ApiId", "Name"}),
    ),
}
SUPPORTED_PARTS: Final = frozenset(_PREFIX + kind for kind in _KINDS)


@dataclass(slots=True)
class ApiParts:
    """The API's config data as it is built, with where each part came from."""

    data: dict[str, Any]
    # A config place ("routes.$connect") -> the template place it came from.
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    notes: list[ConfigIssue] = field(default_factory=list)
    # A route's logical id -> its route key, for route responses.
    route_keys: dict[str, str] = field(default_factory=dict)


def translate_part(parts: ApiParts, name: str, kind: str, properties: Mapping[str, Any]) -> None:
    """Add one ``AWS::ApiGatewayV2::*`` resource (its properties resolved) to ``parts``."""
    short = kind.removeprefix(_PREFIX)
    spec = _KINDS[short]
    place = f"Resources.{name}.Properties"
    copied = {lower_first(k): v for k, v in properties.items() if k in spec.copied}
    for key in properties:
        if key in spec.unsupported:
            parts.notes.append(ConfigIssue(f"{place}.{key}", spec.unsupported[key]))
        elif key not in spec.copied and key not in spec.quiet:
            parts.issues.append(ConfigIssue(f"{place}.{key}", f"not a property of {kind}"))
    try:
        getattr(_Builder(parts, name, place, properties), f"_{short.lower()}")(copied)
    except _Missing as missing:
        parts.issues.append(ConfigIssue(f"{place}.{missing.key}", missing.message))


class _Missing(Exception):
    def __init__(self, key: str, message: str = "required") -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class _Builder:
    """Places one resource's copied properties into the config data."""

    def __init__(
        self, parts: ApiParts, name: str, place: str, properties: Mapping[str, Any]
    ) -> None:
        self.parts = parts
        self.name = name
        self.place = place
        self.properties = properties

    def _text(self, key: str) -> str:
        if key not in self.properties:
            raise _Missing(key)
        return as_text(self.properties[key], f"{self.place}.{key}")

    def _api(self, copied: dict[str, Any]) -> None:
        self.parts.data.update(copied)
        self.parts.origins[()] = self.place

    def _route(self, copied: dict[str, Any]) -> None:
        key = self._text("RouteKey")
        routes = self.parts.data.setdefault("routes", {})
        if key in routes:
            raise _Missing("RouteKey", f"route key {key!r} is also declared by another route")
        # As on AWS, a route's answer goes back only with a $default RouteResponse resource.
        routes[key] = {**copied, "routeResponses": {}}
        self.parts.route_keys[self.name] = key
        self.parts.origins[("routes", key)] = self.place

    def _integration(self, copied: dict[str, Any]) -> None:
        integrations = self.parts.data.setdefault("integrations", {})
        integrations.setdefault(self.name, {}).update(copied)
        self.parts.origins[("integrations", self.name)] = self.place

    def _integrationresponse(self, copied: dict[str, Any]) -> None:
        integration = self._text("IntegrationId")
        key = self._text("IntegrationResponseKey")
        integrations = self.parts.data.setdefault("integrations", {})
        if integration not in integrations:
            raise _Missing("IntegrationId", f"{integration!r} names no integration")
        responses = integrations[integration].setdefault("integrationResponses", {})
        responses[key] = copied
        self.parts.origins[("integrations", integration, "integrationResponses", key)] = self.place

    def _routeresponse(self, copied: dict[str, Any]) -> None:
        route = self._text("RouteId")
        key = self._text("RouteResponseKey")
        if route not in self.parts.route_keys:
            raise _Missing("RouteId", f"{route!r} names no route")
        route_key = self.parts.route_keys[route]
        self.parts.data["routes"][route_key]["routeResponses"][key] = copied
        self.parts.origins[("routes", route_key, "routeResponses", key)] = self.place

    def _authorizer(self, copied: dict[str, Any]) -> None:
        self.parts.data.setdefault("authorizers", {})[self.name] = copied
        self.parts.origins[("authorizers", self.name)] = self.place

    def _stage(self, copied: dict[str, Any]) -> None:
        stage_name = self._text("StageName")
        variables = copied.get("stageVariables")
        if isinstance(variables, dict):
            copied["stageVariables"] = {
                k: as_text(v, f"{self.place}.StageVariables.{k}") for k, v in variables.items()
            }
        if "defaultRouteSettings" in copied:
            copied["defaultRouteSettings"] = _lower_keys(copied["defaultRouteSettings"])
        settings = copied.get("routeSettings")
        if isinstance(settings, dict):
            copied["routeSettings"] = {k: _lower_keys(v) for k, v in settings.items()}
        log = self.properties.get("AccessLogSettings")
        if isinstance(log, dict) and "Format" in log:
            copied["accessLogSettings"] = {"format": log["Format"]}
        if isinstance(log, dict) and "DestinationArn" in log:
            message = "access logs go to stderr here, not to a CloudWatch group"
            self.parts.notes.append(ConfigIssue(f"{self.place}.AccessLogSettings", message))
        stages = self.parts.data.setdefault("stages", {})
        if stage_name in stages:
            raise _Missing("StageName", f"stage {stage_name!r} is also declared by another stage")
        stages[stage_name] = copied
        self.parts.origins[("stages", stage_name)] = self.place

    def _deployment(self, copied: dict[str, Any]) -> None:
        del copied

    def _model(self, copied: dict[str, Any]) -> None:
        # Routes name a model by its Name (RequestModels), not by its logical id.
        model_name = self._text("Name")
        if "Schema" not in self.properties:
            raise _Missing("Schema")
        models = self.parts.data.setdefault("models", {})
        if model_name in models:
            raise _Missing("Name", f"model {model_name!r} is also declared by another model")
        models[model_name] = copied
        self.parts.origins[("models", model_name)] = self.place
