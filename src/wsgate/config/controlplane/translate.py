"""A control plane definition → the validated :class:`ApiConfig` each stage serves.

The definition holds the resources as AWS answers them (``resources.py``); this turns them into
the data of a config file and validates it with :func:`config_from_data`, so that every check a
config file gets applies to an API made through the control plane too. Integrations and
authorizers are named by their ids, routes by their keys and models by their names, as a
route's ``target`` (``integrations/{id}``), ``authorizerId`` and ``requestModels`` read.

A stage serves the snapshot its deployment took (``definition["snapshot"][deploymentId]``)
with the stage's own settings, which apply at once as on AWS (§9.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from wsgate.config.access import function_authorizer
from wsgate.config.controlplane.resources import bad_request
from wsgate.config.load import config_from_data
from wsgate.config.model import ApiConfig
from wsgate.config.uris import function_name_from_uri, service_uri, substitute_stage_variables
from wsgate.errors import ConfigError
from wsgate.types import JSONObject

__all__ = ["SNAPSHOT_PARTS", "check_definition", "config_data", "stage_configs"]

# What a deployment takes a snapshot of: everything but the stages and the deployments.
SNAPSHOT_PARTS: Final = (
    "api",
    "route",
    "routeResponse",
    "integration",
    "integrationResponse",
    "authorizer",
    "model",
)

# A stage to validate an API that has none yet (the config needs one); its issues are not the
# API's, so they are dropped.
_PLACEHOLDER: Final = "wsgate-unstaged"
_ROUTE: Final = (
    "target",
    "routeResponseSelectionExpression",
    "authorizationType",
    "authorizerId",
    "apiKeyRequired",
    "modelSelectionExpression",
    "requestModels",
)
_INTEGRATION: Final = (
    "integrationType",
    "integrationUri",
    "integrationMethod",
    "timeoutInMillis",
    "description",
    "requestTemplates",
    "templateSelectionExpression",
    "passthroughBehavior",
    "contentHandlingStrategy",
    "requestParameters",
    "credentialsArn",
)
_INTEGRATION_RESPONSE: Final = (
    "responseTemplates",
    "templateSelectionExpression",
    "contentHandlingStrategy",
    "responseParameters",
)
_STAGE: Final = ("stageVariables", "description", "defaultRouteSettings", "routeSettings")
_AUTHORIZER: Final = (
    "authorizerType",
    "authorizerUri",
    "identitySource",
    "authorizerResultTtlInSeconds",
    "name",
)
_MODEL: Final = ("schema", "contentType", "description")


def _pick(resource: JSONObject, names: Iterable[str]) -> JSONObject:
    return {name: resource[name] for name in names if name in resource}


def config_data(definition: JSONObject, functions: JSONObject | None = None) -> JSONObject:
    """The config file's data for a definition (every stage, served or not); ``functions``
    are the host's, which Lambda ARNs in integrations and authorizers name."""
    api = definition["api"]
    routes = {}
    for route_id, route in definition["route"].items():
        entry = _pick(route, _ROUTE)
        responses = definition["routeResponse"].get(route_id)
        if responses:
            entry["routeResponses"] = {
                response["routeResponseKey"]: _pick(response, ("modelSelectionExpression",))
                for response in responses.values()
            }
        routes[route["routeKey"]] = entry
    integrations = {}
    for integration_id, integration in definition["integration"].items():
        entry = _pick(integration, _INTEGRATION)
        responses = definition["integrationResponse"].get(integration_id)
        if responses:
            entry["integrationResponses"] = {
                response["integrationResponseKey"]: _pick(response, _INTEGRATION_RESPONSE)
                for response in responses.values()
            }
        integrations[integration_id] = entry
    stages = {name: _pick(stage, _STAGE) for name, stage in definition["stage"].items()}
    authorizers = {
        authorizer_id: _pick(authorizer, _AUTHORIZER)
        for authorizer_id, authorizer in definition.get("authorizer", {}).items()
    }
    models = {model["name"]: _pick(model, _MODEL) for model in definition.get("model", {}).values()}
    return {
        "name": api["name"],
        "apiId": api["apiId"],
        **_pick(api, ("description", "routeSelectionExpression", "apiKeySelectionExpression")),
        "routes": routes,
        "integrations": integrations,
        "authorizers": authorizers,
        "models": models,
        "functions": dict(functions or {}),
        "stages": stages or {_PLACEHOLDER: {}},
    }


def check_definition(definition: JSONObject, base_dir: Path, functions: JSONObject) -> None:
    """Refuse a definition the data plane could not serve, with every stage's settings.

    Raises:
        ControlPlaneError: ``BadRequestException`` naming every problem the config checks find.
    """
    _validated(config_data(definition, functions), base_dir)


def stage_configs(
    definition: JSONObject, base_dir: Path, functions: JSONObject
) -> dict[str, ApiConfig]:
    """What each deployed stage serves: its deployment's snapshot with the stage's settings.

    Raises:
        ControlPlaneError: ``BadRequestException`` when a stage's settings do not fit the
            snapshot it serves (a stage variable its integrations need, say).
    """
    configs = {}
    for name, stage in definition["stage"].items():
        snapshot = definition["snapshot"].get(stage.get("deploymentId"))
        if snapshot is None:
            continue  # not deployed: nothing to serve yet
        config = _validated(config_data({**snapshot, "stage": {name: stage}}, functions), base_dir)
        assert config is not None  # it has a stage
        configs[name] = _with_used_functions(config)
    return configs


def _with_used_functions(config: ApiConfig) -> ApiConfig:
    """The config with only the host's functions it calls: each one served runs workers."""
    (stage,) = config.stages.values()
    variables = stage.stage_variables
    used = {
        function_name_from_uri(authorizer.authorizer_uri, {})
        for authorizer in config.authorizers.values()
        if function_authorizer(authorizer.authorizer_uri)
    }
    for integration in config.integrations.values():
        uri = substitute_stage_variables(integration.integration_uri or "", variables)
        kind = integration.integration_type
        if kind == "AWS_PROXY" or (kind == "AWS" and service_uri(uri) is None):
            used.add(function_name_from_uri(uri, {}))
    functions = {name: f for name, f in config.functions.items() if name in used}
    return config.model_copy(update={"functions": functions})


def _validated(data: JSONObject, base_dir: Path) -> ApiConfig | None:
    try:
        return config_from_data(data, base_dir=base_dir, source="<control plane>")
    except ConfigError as error:
        problems = [
            str(issue)
            for issue in error.issues
            if _PLACEHOLDER not in issue.path and f"stage {_PLACEHOLDER}" not in issue.message
        ]
        if not problems:
            return None
        raise bad_request("; ".join(problems)) from error
