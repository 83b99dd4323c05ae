"""What of a config has no place in a template for AWS: left out with a warning, or refused.

A setting is left out (and listed) when AWS does without it and the API deploys as it works
here, only with AWS's own behaviour for that part: wsgate's listeners, its extra limits, local
worker choices. It is refused when leaving it out would deploy a different API: a function
chosen by a stage variable, an authorizer that is an HTTP endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from pydantic.alias_generators import to_camel

from wsgate.config.access import function_authorizer
from wsgate.config.base import Model
from wsgate.config.model import ApiConfig
from wsgate.config.template.export_functions import calls_function
from wsgate.config.uris import STAGE_VARIABLE
from wsgate.errors import ConfigIssue

__all__ = ["left_out", "refused"]

_STATUS_CODE: Final = "${integration.response.statuscode}"
# What AWS fixes integrationResponseSelectionExpression to, per type (§3.1); older AWS
# answers wrote the status code as ${response.statuscode}.
_FIXED_SELECTION: Final = {
    "HTTP": (_STATUS_CODE, "${response.statuscode}"),
    "MOCK": (_STATUS_CODE, "${response.statuscode}"),
    "AWS": ("${integration.response.body.errorMessage}",),
}
_API: Final = {
    "iam": "IAM keys are AWS's users and roles; AWS_IAM routes stay AWS_IAM",
    "api_keys": (
        "API keys are secrets, kept out of templates: create AWS::ApiGateway::ApiKey and "
        "UsagePlanKey resources for the stages (apiKeyRequired stays on the routes)"
    ),
    "usage_plans": (
        "usage plans belong to API Gateway's REST control plane: create an "
        "AWS::ApiGateway::UsagePlan for the exported stages"
    ),
    "groups_from_authorizer": "joining groups at $connect is wsgate's own",
}
_STAGE: Final = {
    "limits": (
        "AWS's fixed quotas apply (32 KB frames, 128 KB messages, 10-minute idle timeout, "
        "2-hour connections)"
    ),
    "protection": (
        "per-connection, per-principal and connection-count limits are wsgate's own; AWS "
        "throttles by stage and route (routeSettings, exported)"
    ),
}
_FUNCTION: Final = {
    "isolation": "Lambda runs every function in its own execution environments",
}
_AUTHORIZER: Final = {
    "timeout_in_millis": "AWS gives an authorizer no timeout of its own: its function's applies",
}


def refused(config: ApiConfig) -> list[ConfigIssue]:
    """What the template cannot hold without changing the API; empty when it can be exported."""
    issues = []
    for name, integration in config.integrations.items():
        uri = integration.integration_uri or ""
        if calls_function(integration.integration_type, uri) and STAGE_VARIABLE.search(uri):
            issues.append(ConfigIssue(f"integrations.{name}.integrationUri", _BY_VARIABLE))
    for name, authorizer in config.authorizers.items():
        place = f"authorizers.{name}.authorizerUri"
        if not function_authorizer(authorizer.authorizer_uri):
            message = "an HTTP authorizer has no AWS counterpart: AWS calls Lambda functions"
            issues.append(ConfigIssue(place, message))
        elif STAGE_VARIABLE.search(authorizer.authorizer_uri):
            issues.append(ConfigIssue(place, _BY_VARIABLE))
    return issues


_BY_VARIABLE: Final = (
    "the function is chosen by a stage variable, whose values name local functions, not the "
    "Lambda functions the template creates: name the function in the URI"
)


def left_out(config: ApiConfig) -> list[ConfigIssue]:
    """Every setting the template leaves out, with its place and why."""
    issues = _set_fields("", config, _API)
    server = [to_camel(name) for name in _changed(config.server, type(config.server).model_fields)]
    if server:
        message = f"{', '.join(server)}: the gateway's own; AWS runs the endpoint"
        issues.append(ConfigIssue("server", message))
    for name, stage in config.stages.items():
        issues += _set_fields(f"stages.{name}.", stage, _STAGE)
        log = stage.access_log_settings
        if log is not None and _changed(log, ("destination",)):
            message = "access logs go to the CloudWatch Logs group the template creates"
            issues.append(ConfigIssue(f"stages.{name}.accessLogSettings.destination", message))
    for key, route in config.routes.items():
        if route.description:
            issues.append(ConfigIssue(f"routes.{key}.description", "AWS routes have none"))
    for name, integration in config.integrations.items():
        expression = integration.integration_response_selection_expression
        fixed = _FIXED_SELECTION.get(integration.integration_type, ())
        if expression is not None and expression not in fixed:
            place = f"integrations.{name}.integrationResponseSelectionExpression"
            shown = f" ({fixed[0]})" if fixed else ""
            message = f"AWS fixes it for {integration.integration_type} integrations{shown}"
            issues.append(ConfigIssue(place, message))
    for name, function in config.functions.items():
        issues += _set_fields(f"functions.{name}.", function, _FUNCTION)
    for name, authorizer in config.authorizers.items():
        issues += _set_fields(f"authorizers.{name}.", authorizer, _AUTHORIZER)
        if authorizer.authorizer_result_ttl_in_seconds:
            place = f"authorizers.{name}.authorizerResultTtlInSeconds"
            message = "AWS caches no authorizer results for WebSocket APIs"
            issues.append(ConfigIssue(place, message))
    return issues


def _set_fields(prefix: str, model: Model, reasons: Mapping[str, str]) -> list[ConfigIssue]:
    """The fields of ``model`` named in ``reasons`` that the config changes from the default."""
    return [
        ConfigIssue(prefix + to_camel(name), reasons[name]) for name in _changed(model, reasons)
    ]


def _changed(model: Model, names: Iterable[str]) -> list[str]:
    """Which of the fields ``names`` of ``model`` hold something else than their default."""
    fields = type(model).model_fields
    return [
        name
        for name in names
        if getattr(model, name) != fields[name].get_default(call_default_factory=True)
    ]
