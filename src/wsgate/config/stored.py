"""An API kept by the control plane (``wsgate serve --state``) as a config of its own.

The definition becomes config data as the control plane itself turns it (``config_data``), with
every stage. The functions its integrations and authorizers name are the host's: those the
host's config gives are used as they are; any other is an existing Lambda function, reached at
Lambda's endpoint in the region its ARN names (``wsgate export`` refers to it by name).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from wsgate.config.access import function_authorizer
from wsgate.config.controlplane.translate import config_data
from wsgate.config.load import config_from_data
from wsgate.config.model import ApiConfig, FunctionConfig
from wsgate.config.template.export_functions import calls_function
from wsgate.config.uris import function_name_from_uri
from wsgate.errors import ConfigError, ConfigIssue
from wsgate.types import JSONObject

__all__ = ["stored_config"]

_COLLECTIONS: Final = ("route", "routeResponse", "integration", "integrationResponse", "stage")
_REGION: Final = re.compile(r":lambda:([a-z0-9-]+):")
_DEFAULT_REGION: Final = "us-east-1"


def stored_config(
    definition: JSONObject,
    functions: Mapping[str, FunctionConfig],
    *,
    base_dir: Path,
    source: str,
) -> ApiConfig:
    """The config of a kept API, every stage included.

    Args:
        functions: the host's functions (from the config ``wsgate serve`` ran with), if known.

    Raises:
        ConfigError: the API has no stage, or its definition is not a valid config.
    """
    definition = {**{name: {} for name in _COLLECTIONS}, **definition}
    if not definition["stage"]:
        message = "the API has no stage: create one (CreateStage) to export it"
        raise ConfigError([ConfigIssue("stages", message)], source)
    data = dict(config_data(definition))
    host = {
        name: function.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for name, function in functions.items()
    }
    variables = [stage.get("stageVariables", {}) for stage in data["stages"].values()]
    for uri in _function_uris(data):
        for stage_variables in variables:
            try:
                name = function_name_from_uri(uri, stage_variables)
            except ValueError:
                continue  # the checks name the missing variable
            region = _REGION.search(uri)
            endpoint = f"https://lambda.{region[1] if region else _DEFAULT_REGION}.amazonaws.com"
            host.setdefault(name, {"lambdaEndpoint": endpoint, "functionName": name})
    data["functions"] = host
    return config_from_data(data, base_dir=base_dir, source=source)


def _function_uris(data: JSONObject) -> list[str]:
    """The URIs of the definition that name functions: integrations, authorizers."""
    uris = []
    for integration in data["integrations"].values():
        uri = integration.get("integrationUri")
        if uri is not None and calls_function(integration["integrationType"], uri):
            uris.append(uri)
    uris += [
        authorizer["authorizerUri"]
        for authorizer in data.get("authorizers", {}).values()
        if function_authorizer(authorizer.get("authorizerUri", "http://"))
    ]
    return uris
