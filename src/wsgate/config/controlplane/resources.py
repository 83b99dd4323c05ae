"""The apigatewayv2 resources a WebSocket API is made of: their members, checks and defaults.

Each resource is kept as AWS answers it: a JSON object with the wire names (``routeKey``,
``integrationType``) and the defaults AWS fills in at creation (§3.1, §8.2 of the AWS
reference). A request body is checked member by member as AWS's REST-JSON front end does:
a member of the wrong type or outside its values is a ``BadRequestException``; members AWS
does not know are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from wsgate.errors import ControlPlaneError
from wsgate.types import JSONObject, JSONValue

__all__ = ["KINDS", "Kind", "bad_request", "check_members"]

Check = Callable[[JSONValue], bool]


def bad_request(message: str) -> ControlPlaneError:
    """AWS's 400 for a request it refuses."""
    return ControlPlaneError(400, "BadRequestException", message)


def _string(value: JSONValue) -> bool:
    return isinstance(value, str)


def _boolean(value: JSONValue) -> bool:
    return isinstance(value, bool)


def _integer(value: JSONValue) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map(value: JSONValue) -> bool:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())


def _object(value: JSONValue) -> bool:
    return isinstance(value, dict)


def _string_list(value: JSONValue) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _one_of(*values: str) -> Check:
    def check(value: JSONValue) -> bool:
        return value in values

    return check


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of resource: how AWS names it and what a request may set."""

    name: str  # AWS's resource name in messages: "Route", "Integration"
    id_member: str  # the member holding its id ("routeId"); for a stage, its name
    members: Mapping[str, Check]  # what Create and Update may set
    required: tuple[str, ...] = ()  # what Create must set
    defaults: Mapping[str, JSONValue] = field(default_factory=dict)
    id_length: int = 7  # generated ids: AWS's observed lengths (§8.2)


_ROUTE_SETTINGS: Final = _object
_TAGS: Final = _string_map

KINDS: Final[dict[str, Kind]] = {
    "api": Kind(
        "Api",
        "apiId",
        {
            "name": _string,
            "protocolType": _one_of("WEBSOCKET", "HTTP"),
            "routeSelectionExpression": _string,
            "apiKeySelectionExpression": _one_of(
                "$request.header.x-api-key", "$context.authorizer.usageIdentifierKey"
            ),
            "description": _string,
            "disableSchemaValidation": _boolean,
            "disableExecuteApiEndpoint": _boolean,
            "ipAddressType": _one_of("ipv4", "dualstack"),
            "tags": _TAGS,
            "version": _string,
        },
        ("name", "protocolType"),
        {
            "apiKeySelectionExpression": "$request.header.x-api-key",
            "disableExecuteApiEndpoint": False,
            "ipAddressType": "ipv4",
            "tags": {},
        },
        id_length=10,
    ),
    "route": Kind(
        "Route",
        "routeId",
        {
            "routeKey": _string,
            "target": _string,
            "authorizationType": _one_of("NONE", "AWS_IAM", "CUSTOM", "JWT"),
            "authorizerId": _string,
            "apiKeyRequired": _boolean,
            "routeResponseSelectionExpression": _string,
            "modelSelectionExpression": _string,
            "requestModels": _string_map,
            "requestParameters": _object,
            "operationName": _string,
            "authorizationScopes": _string_list,
        },
        ("routeKey",),
        {"apiKeyRequired": False, "authorizationType": "NONE"},
    ),
    "routeResponse": Kind(
        "RouteResponse",
        "routeResponseId",
        {
            "routeResponseKey": _string,
            "modelSelectionExpression": _string,
            "responseModels": _string_map,
            "responseParameters": _object,
        },
        ("routeResponseKey",),
    ),
    "integration": Kind(
        "Integration",
        "integrationId",
        {
            "integrationType": _one_of("AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"),
            "integrationUri": _string,
            "integrationMethod": _string,
            "connectionType": _one_of("INTERNET", "VPC_LINK"),
            "connectionId": _string,
            "credentialsArn": _string,
            "description": _string,
            "passthroughBehavior": _one_of("WHEN_NO_MATCH", "NEVER", "WHEN_NO_TEMPLATES"),
            "contentHandlingStrategy": _one_of("CONVERT_TO_BINARY", "CONVERT_TO_TEXT"),
            "payloadFormatVersion": _string,
            "requestParameters": _string_map,
            "requestTemplates": _string_map,
            "templateSelectionExpression": _string,
            "timeoutInMillis": _integer,
            "tlsConfig": _object,
        },
        ("integrationType",),
        {"connectionType": "INTERNET", "payloadFormatVersion": "1.0", "timeoutInMillis": 29000},
    ),
    "integrationResponse": Kind(
        "IntegrationResponse",
        "integrationResponseId",
        {
            "integrationResponseKey": _string,
            "responseTemplates": _string_map,
            "templateSelectionExpression": _string,
            "responseParameters": _string_map,
            "contentHandlingStrategy": _one_of("CONVERT_TO_BINARY", "CONVERT_TO_TEXT"),
        },
        ("integrationResponseKey",),
    ),
    "stage": Kind(
        "Stage",
        "stageName",
        {
            "stageName": _string,
            "deploymentId": _string,
            "autoDeploy": _boolean,
            "stageVariables": _string_map,
            "defaultRouteSettings": _ROUTE_SETTINGS,
            "routeSettings": _object,
            "accessLogSettings": _object,
            "clientCertificateId": _string,
            "description": _string,
            "tags": _TAGS,
        },
        ("stageName",),
        {
            "autoDeploy": False,
            "stageVariables": {},
            "routeSettings": {},
            "defaultRouteSettings": {
                "dataTraceEnabled": False,
                "detailedMetricsEnabled": False,
                "loggingLevel": "OFF",
            },
            "tags": {},
        },
    ),
    "authorizer": Kind(
        "Authorizer",
        "authorizerId",
        {
            "authorizerType": _one_of("REQUEST", "JWT"),
            "authorizerUri": _string,
            "identitySource": _string_list,
            "name": _string,
            "authorizerCredentialsArn": _string,
            "authorizerResultTtlInSeconds": _integer,
            "identityValidationExpression": _string,
        },
        ("authorizerType", "name"),
        id_length=6,
    ),
    "model": Kind(
        "Model",
        "modelId",
        {"name": _string, "schema": _string, "contentType": _string, "description": _string},
        ("name", "schema"),
        id_length=6,
    ),
    "deployment": Kind(
        "Deployment",
        "deploymentId",
        {"description": _string, "stageName": _string},
        id_length=6,
    ),
}


def check_members(kind: Kind, body: JSONObject, *, create: bool) -> JSONObject:
    """The members of ``body`` that ``kind`` takes, checked; null members count as absent.

    Raises:
        ControlPlaneError: a required member is missing (Create) or a member is malformed.
    """
    given = {name: value for name, value in body.items() if value is not None}
    if create:
        for name in kind.required:
            if name not in given:
                raise bad_request(f"{name} is required for {kind.name}")
    taken = {}
    for name, value in given.items():
        check = kind.members.get(name)
        if check is None:
            continue
        if not check(value):
            raise bad_request(f"Invalid value for {name}: {value!r}")
        taken[name] = value
    return taken
