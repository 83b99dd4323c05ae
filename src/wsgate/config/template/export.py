"""An API config as a CloudFormation or SAM template that deploys the same API to AWS.

The reverse of ``translate.py``: the API, its routes and route responses, integrations and
integration responses, authorizers, models and stages become their ``AWS::ApiGatewayV2::*``
resources, with one deployment that follows every route and response. Functions become Lambda
functions (``export_functions.py``); an HTTP backend's URL becomes a parameter whose default is
the configured URL, to be pointed at a backend AWS can reach. What has no AWS counterpart is
left out and listed, or refused (``export_checks.py``). Pure: paths are only made relative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from wsgate.config.model import (
    ApiConfig,
    IntegrationConfig,
    ModelConfig,
    RouteConfig,
    RouteResponseConfig,
    StageConfig,
)
from wsgate.config.security import AuthorizerConfig, RouteSettings
from wsgate.config.template.draft import Draft, get_att, ref, sub
from wsgate.config.template.export_checks import left_out, refused
from wsgate.config.template.export_functions import FunctionExport, calls_function
from wsgate.errors import ConfigError, ConfigIssue
from wsgate.types import JSONObject

__all__ = ["EXPORT_FORMATS", "Export", "ExportFormat", "export_template"]

ExportFormat = Literal["cloudformation", "sam"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = ("cloudformation", "sam")
_PREFIX: Final = "AWS::ApiGatewayV2::"
_PROXIES: Final = frozenset({"AWS_PROXY", "HTTP_PROXY"})
_HTTP: Final = frozenset({"HTTP", "HTTP_PROXY"})
_DEFAULT_KEY: Final = "$default"


@dataclass(frozen=True, slots=True)
class Export:
    """A template's data, and what of the config it leaves out (or turns into something else)."""

    template: JSONObject
    notes: list[ConfigIssue]


def export_template(
    config: ApiConfig, export_format: ExportFormat, *, base_dir: Path, source: str = ""
) -> Export:
    """The template that deploys ``config`` to AWS, as SAM or plain CloudFormation.

    Args:
        base_dir: the folder the template is written to; code paths are relative to it.
        source: where the config came from, for errors.

    Raises:
        ConfigError: the config holds something a template cannot (every such place listed).
    """
    issues = refused(config)
    if issues:
        raise ConfigError(issues, source)
    writer = _Writer(config, export_format, base_dir)
    writer.write()
    template: JSONObject = {"AWSTemplateFormatVersion": "2010-09-09"}
    if export_format == "sam":
        template["Transform"] = "AWS::Serverless-2016-10-31"
    template["Description"] = config.description or f"The WebSocket API {config.name}"
    draft = writer.draft
    if draft.parameters:
        template["Parameters"] = draft.parameters
    template.update(Resources=draft.resources, Outputs=draft.outputs)
    return Export(template, left_out(config) + writer.functions.notes)


class _Writer:
    """Writes one config's resources into a draft, each part after what it refers to."""

    def __init__(self, config: ApiConfig, export_format: ExportFormat, base_dir: Path) -> None:
        self.config = config
        self.draft = Draft()
        self.api = self.draft.logical_id("WebSocket", "Api")
        self.functions = FunctionExport(
            self.draft, config, export_format, api=self.api, base_dir=base_dir
        )
        self._integrations: dict[str, str] = {}
        self._authorizers: dict[str, str] = {}
        self._models: dict[str, str] = {}
        self._deployed: list[str] = []  # what the deployment waits for

    def write(self) -> None:
        """Write every part of the API."""
        self.functions.reserve()
        self._write_api()
        for name, authorizer in self.config.authorizers.items():
            self._write_authorizer(name, authorizer)
        for name, model in self.config.models.items():
            self._write_model(name, model)
        for name, integration in self.config.integrations.items():
            self._write_integration(name, integration)
        for key, route in self.config.routes.items():
            self._write_route(key, route)
        deployment = self.draft.logical_id("", "Deployment")
        attributes = {"DependsOn": self._deployed} if self._deployed else {}
        self._part(deployment, "Deployment", {}, **attributes)
        for name, stage in self.config.stages.items():
            self._write_stage(name, stage, deployment)
        self.functions.add_all()
        self.draft.add_output("ApiId", "The API's id", ref(self.api))

    def _part(
        self, logical_id: str, kind: str, properties: JSONObject, **attributes: object
    ) -> str:
        properties = {"ApiId": ref(self.api), **properties}
        return self.draft.add_resource(logical_id, _PREFIX + kind, properties, **attributes)

    def _write_api(self) -> None:
        config = self.config
        properties: JSONObject = {
            "Name": config.name,
            "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": config.route_selection_expression,
            "ApiKeySelectionExpression": config.api_key_selection_expression,
        }
        if config.description:
            properties["Description"] = config.description
        self.draft.add_resource(self.api, _PREFIX + "Api", properties)

    def _write_authorizer(self, name: str, authorizer: AuthorizerConfig) -> None:
        properties: JSONObject = {
            "AuthorizerType": authorizer.authorizer_type,
            "AuthorizerUri": self.functions.invocation_uri(authorizer.authorizer_uri),
            "Name": authorizer.name or name,
        }
        if authorizer.identity_source:
            properties["IdentitySource"] = list(authorizer.identity_source)
        logical_id = self.draft.logical_id(name, "Authorizer")
        self._authorizers[name] = self._part(logical_id, "Authorizer", properties)

    def _write_model(self, name: str, model: ModelConfig) -> None:
        schema = model.json_schema
        properties: JSONObject = {
            "Name": name,
            "ContentType": model.content_type,
            "Schema": json.loads(schema) if isinstance(schema, str) else schema,
        }
        if model.description:
            properties["Description"] = model.description
        logical_id = self.draft.logical_id(name, "Model")
        self._models[name] = self._part(logical_id, "Model", properties)

    def _write_integration(self, name: str, integration: IntegrationConfig) -> None:
        kind = integration.integration_type
        logical_id = self.draft.logical_id(name, "Integration")
        properties: JSONObject = {"IntegrationType": kind}
        uri = integration.integration_uri
        if uri is not None and calls_function(kind, uri):
            properties["IntegrationUri"] = self.functions.invocation_uri(uri)
        elif kind in _HTTP and uri is not None:
            description = f"The HTTP backend of integration {name}: a URL AWS can reach"
            parameter = self.draft.logical_id(name, "BackendUrl")
            properties["IntegrationUri"] = ref(
                self.draft.add_parameter(parameter, description, uri)
            )
        elif uri is not None:  # an AWS service's action or path
            properties["IntegrationUri"] = uri
            # The role API Gateway assumes to call the service (read where AWS integrations are).
            credentials = getattr(integration, "credentials_arn", None)
            if credentials is not None:
                properties["CredentialsArn"] = credentials
        if kind != "MOCK":
            properties["IntegrationMethod"] = integration.integration_method
        if kind not in _PROXIES:
            properties["PassthroughBehavior"] = integration.passthrough_behavior
        properties["TimeoutInMillis"] = integration.timeout_in_millis
        properties.update(
            _present(
                Description=integration.description,
                RequestTemplates=dict(integration.request_templates),
                TemplateSelectionExpression=integration.template_selection_expression,
                ContentHandlingStrategy=integration.content_handling_strategy,
                RequestParameters=dict(integration.request_parameters),
            )
        )
        self._integrations[name] = self._part(logical_id, "Integration", properties)
        for key, response in integration.integration_responses.items():
            response_properties = {
                "IntegrationId": ref(logical_id),
                "IntegrationResponseKey": key,
                **_present(
                    ResponseTemplates=dict(response.response_templates),
                    TemplateSelectionExpression=response.template_selection_expression,
                    ContentHandlingStrategy=response.content_handling_strategy,
                    ResponseParameters=dict(response.response_parameters),
                ),
            }
            response_id = self.draft.logical_id(f"{name} {key}", "IntegrationResponse")
            self._deployed.append(
                self._part(response_id, "IntegrationResponse", response_properties)
            )

    def _write_route(self, key: str, route: RouteConfig) -> None:
        logical_id = self.draft.logical_id(key, "Route")
        properties: JSONObject = {"RouteKey": key}
        if route.integration_name is not None:
            target = ref(self._integrations[route.integration_name])
            properties["Target"] = {"Fn::Join": ["/", ["integrations", target]]}
        if route.authorization_type != "NONE":
            properties["AuthorizationType"] = route.authorization_type
        if route.authorizer_name is not None:
            properties["AuthorizerId"] = ref(self._authorizers[route.authorizer_name])
        if route.api_key_required:
            properties["ApiKeyRequired"] = True
        properties.update(
            _present(
                RouteResponseSelectionExpression=route.route_response_selection_expression,
                ModelSelectionExpression=route.model_selection_expression,
                RequestModels=dict(route.request_models),
            )
        )
        models = sorted({self._models[name] for name in route.request_models.values()})
        attributes = {"DependsOn": models} if models else {}
        self._deployed.append(self._part(logical_id, "Route", properties, **attributes))
        responses: dict[str, RouteResponseConfig | None] = dict(route.route_responses or {})
        if route.route_responses is None and route.two_way:
            responses[_DEFAULT_KEY] = None  # AWS sends the answer back only with one
        for response_key, response in responses.items():
            response_properties: JSONObject = {
                "RouteId": ref(logical_id),
                "RouteResponseKey": response_key,
            }
            if response is not None and response.model_selection_expression is not None:
                response_properties["ModelSelectionExpression"] = (
                    response.model_selection_expression
                )
            response_id = self.draft.logical_id(key, "RouteResponse")
            self._deployed.append(self._part(response_id, "RouteResponse", response_properties))

    def _write_stage(self, name: str, stage: StageConfig, deployment: str) -> None:
        logical_id = self.draft.logical_id(name, "Stage")
        properties: JSONObject = {"StageName": name, "DeploymentId": ref(deployment)}
        settings = {key: _settings(value) for key, value in stage.route_settings.items()}
        properties.update(
            _present(
                Description=stage.description,
                StageVariables=dict(stage.stage_variables),
                DefaultRouteSettings=_settings(stage.default_route_settings),
                RouteSettings=settings,
            )
        )
        log = stage.access_log_settings
        if log is not None:
            group = self.draft.logical_id(name, "AccessLogs")
            self.draft.add_resource(group, "AWS::Logs::LogGroup", {})
            properties["AccessLogSettings"] = {
                "DestinationArn": get_att(group, "Arn"),
                "Format": log.format,
            }
        self._part(logical_id, "Stage", properties)
        host = f"${{{self.api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{name}"
        self.draft.add_output(
            f"{name} WebSocketUrl", f"Clients of stage {name}", sub(f"wss://{host}")
        )
        self.draft.add_output(
            f"{name} ConnectionsUrl",
            f"The @connections endpoint of stage {name}",
            sub(f"https://{host}/@connections"),
        )


def _settings(settings: RouteSettings | None) -> JSONObject:
    """Route settings as CloudFormation writes them (``ThrottlingBurstLimit``); {} for none."""
    if settings is None:
        return {}
    values = settings.model_dump(by_alias=True, exclude_none=True)
    return {key[:1].upper() + key[1:]: value for key, value in values.items()}


def _present(**values: object) -> JSONObject:
    """The properties that hold something: no None, no empty text, map or list."""
    return {key: value for key, value in values.items() if value not in (None, "", {}, [])}
