"""A control plane definition → the validated :class:`ApiConfig` the data plane serves.

The definition holds the resources as AWS answers them (``resources.py``); this turns them into
the data of a config file and validates it with :func:`config_from_data`, so that every check a
config file gets applies to an API made through the control plane too. Integrations are named
by their ids, routes by their keys, as a route's ``target`` (``integrations/{id}``) reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from wsgate.config.controlplane.resources import bad_request
from wsgate.config.load import config_from_data
from wsgate.config.model import ApiConfig
from wsgate.errors import ConfigError
from wsgate.types import JSONObject

__all__ = ["config_data", "served_config"]

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
)
_INTEGRATION_RESPONSE: Final = (
    "responseTemplates",
    "templateSelectionExpression",
    "contentHandlingStrategy",
    "responseParameters",
)
_STAGE: Final = ("stageVariables", "description", "defaultRouteSettings", "routeSettings")


def _pick(resource: JSONObject, names: Iterable[str]) -> JSONObject:
    return {name: resource[name] for name in names if name in resource}


def config_data(definition: JSONObject) -> JSONObject:
    """The config file's data for a definition (every stage, served or not)."""
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
    return {
        "name": api["name"],
        "apiId": api["apiId"],
        **_pick(api, ("description", "routeSelectionExpression", "apiKeySelectionExpression")),
        "routes": routes,
        "integrations": integrations,
        "stages": stages or {_PLACEHOLDER: {}},
    }


def served_config(definition: JSONObject, base_dir: Path) -> ApiConfig | None:
    """The config of the definition's deployed stages (``autoDeploy`` or a deployment), or
    None when no stage is deployed.

    Raises:
        ControlPlaneError: ``BadRequestException`` naming every problem the config checks find.
    """
    data = config_data(definition)
    try:
        config = config_from_data(data, base_dir=base_dir, source="<control plane>")
    except ConfigError as error:
        problems = [
            str(issue)
            for issue in error.issues
            if _PLACEHOLDER not in issue.path and f"stage {_PLACEHOLDER}" not in issue.message
        ]
        if not problems:
            return None
        raise bad_request("; ".join(problems)) from error
    served = {
        name: stage
        for name, stage in config.stages.items()
        if definition["stage"].get(name, {}).get("autoDeploy")
        or definition["stage"].get(name, {}).get("deploymentId")
    }
    return config.model_copy(update={"stages": served}) if served else None
