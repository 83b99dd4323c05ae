"""The API config model: apigatewayv2's names, validated and frozen.

A config file declares one WebSocket API the way apigatewayv2 describes it (``name``,
``routeSelectionExpression``, ``routes`` keyed by route key, ``integrations``, ``stages``) plus
the local ``functions`` that stand in for Lambda. Field names are AWS's wire names (camelCase);
Python attributes are snake_case.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from wsgate.config.base import Model
from wsgate.config.security import (
    ApiKeyConfig,
    AuthorizerConfig,
    IamConfig,
    ListenerProtection,
    ProtectionConfig,
    RouteSettings,
    TlsConfig,
    UsagePlanConfig,
)
from wsgate.types import JSONObject

__all__ = [
    "AWS_LIMITS",
    "AccessLogSettings",
    "ApiConfig",
    "ClusterConfig",
    "FunctionConfig",
    "IntegrationConfig",
    "IntegrationResponseConfig",
    "Limits",
    "ModelConfig",
    "OpenTelemetryConfig",
    "RouteConfig",
    "RouteResponseConfig",
    "ServerConfig",
    "StageConfig",
    "runtime_family",
    "runtime_version",
]

# The name of every apigatewayv2 integration type. AWS is a Lambda function called without the
# proxy envelope (Lambda custom) or an AWS service action (config/services.py).
IntegrationType = Literal["AWS_PROXY", "AWS", "HTTP_PROXY", "HTTP", "MOCK"]
# The handler's default: never a handler anyone writes, so a missing one is told from "".
_NO_HANDLER = "\x00"
_STAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_STAGE_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")
_STAGE_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]{1,2048}")


class Limits(Model):
    """Per-stage connection limits (§1.4 of the AWS reference)."""

    frame_size_bytes: int = Field(32 * 1024, gt=0)
    message_size_bytes: int = Field(128 * 1024, gt=0)
    idle_timeout_seconds: float = Field(600, gt=0)
    max_connection_seconds: float = Field(7200, gt=0)
    # Bytes waiting to be sent to one client before the gateway watches its progress; it holds
    # at most twice this for a client (past that, a post gets AWS's 429 LimitExceededException).
    send_buffer_bytes: int = Field(1024 * 1024, gt=0)
    # A client that reads nothing for this long while more than sendBufferBytes wait is
    # dropped as a slow reader (1008), so a stalled client cannot hold memory for ever.
    slow_reader_seconds: float = Field(10, gt=0)
    # Messages of one connection whose integration is still working; past it the gateway stops
    # reading that socket until one finishes, so the client's sends wait (TCP backpressure)
    # instead of piling up in the gateway's memory. AWS publishes no such limit.
    max_messages_in_flight: int = Field(100, gt=0)


AWS_LIMITS = Limits()


class AccessLogSettings(Model):
    """AWS's ``accessLogSettings``: a line of ``$context`` variables per request."""

    format: str
    # "stderr", "stdout" or a file path (relative to the working directory); AWS's
    # destinationArn names a CloudWatch group, which has no meaning here.
    destination: str = "stderr"


class StageConfig(Model):
    """One stage: its variables, limits and strictness."""

    stage_variables: dict[str, str] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    # awsStrict reproduces AWS exactly: binary frames close with 1003 and the limits cannot be
    # raised above AWS's quotas.
    aws_strict: bool = False
    description: str = ""
    access_log_settings: AccessLogSettings | None = None
    # Throttling as AWS does it (§9.2): the stage's default, then per route key.
    default_route_settings: RouteSettings | None = None
    route_settings: dict[str, RouteSettings] = Field(default_factory=dict)
    protection: ProtectionConfig = Field(default_factory=ProtectionConfig)

    @field_validator("stage_variables")
    @classmethod
    def _check_variables(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for name, text in value.items():
            if not _STAGE_VARIABLE_NAME.fullmatch(name):
                problems.append(f"stage variable name {name!r} must be letters, digits or _")
            if not _STAGE_VARIABLE_VALUE.fullmatch(text):
                problems.append(
                    f"stage variable {name!r}: value must be 1-2048 characters "
                    "from [A-Za-z0-9-._~:/?#&=,]"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _check_limits(self) -> StageConfig:
        # Runs on validated values, so "65536" or awsStrict: 1 cannot slip past the checks.
        limits = self.limits
        problems = []
        if limits.frame_size_bytes > limits.message_size_bytes:
            problems.append("limits.frameSizeBytes must not exceed limits.messageSizeBytes")
        if self.aws_strict:
            for field in (
                "frame_size_bytes",
                "message_size_bytes",
                "idle_timeout_seconds",
                "max_connection_seconds",
            ):
                aws_value = getattr(AWS_LIMITS, field)
                if getattr(limits, field) > aws_value:
                    problems.append(
                        f"limits.{to_camel(field)} cannot exceed AWS's {aws_value} "
                        "when awsStrict is true"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RouteResponseConfig(Model):
    """A route response; AWS supports only the ``$default`` key for WebSocket APIs."""

    model_selection_expression: str | None = None


class RouteConfig(Model):
    """A route: its target integration and whether its result goes back to the client."""

    target: str | None = None
    route_response_selection_expression: str | None = None
    route_responses: dict[str, RouteResponseConfig] | None = None
    description: str = ""
    # Only $connect may be authorized (§6): CUSTOM names an authorizer, AWS_IAM wants SigV4.
    authorization_type: Literal["NONE", "CUSTOM", "AWS_IAM"] = "NONE"
    authorizer_id: str | None = None
    api_key_required: bool = False
    # Request validation (§4.5): the expression picks a key of requestModels (or $default),
    # whose model the message must match; without the expression nothing is validated.
    model_selection_expression: str | None = None
    request_models: dict[str, str] = Field(default_factory=dict)

    @property
    def authorizer_name(self) -> str | None:
        """The authorizer's name, accepting AWS's ``authorizers/{id}`` form."""
        return (
            None if self.authorizer_id is None else self.authorizer_id.removeprefix("authorizers/")
        )

    @property
    def integration_name(self) -> str | None:
        """The integration's name, accepting AWS's ``integrations/{id}`` target form."""
        if self.target is None:
            return None
        return self.target.removeprefix("integrations/")

    @property
    def two_way(self) -> bool:
        """True when the integration's answer is sent back (a ``$default`` route response)."""
        if self.route_response_selection_expression != "$default":
            return False
        return self.route_responses is None or "$default" in self.route_responses


class ModelConfig(Model):
    """A model: a JSON Schema (draft 4) that routes validate message bodies against."""

    # AWS's Model.Schema is JSON text; a mapping (as CloudFormation writes it) is accepted too.
    # Not named "schema", which pydantic's BaseModel has.
    json_schema: str | JSONObject = Field(alias="schema")
    content_type: str = "application/json"
    description: str = ""

    @property
    def schema_text(self) -> str:
        """The schema as JSON text, as AWS stores it."""
        if isinstance(self.json_schema, str):
            return self.json_schema
        return json.dumps(self.json_schema, separators=(",", ":"), ensure_ascii=False)


ContentHandlingStrategy = Literal["CONVERT_TO_TEXT", "CONVERT_TO_BINARY"]
PassthroughBehavior = Literal["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"]


class IntegrationResponseConfig(Model):
    """An integration response of a non-proxy integration, chosen by status (HTTP, MOCK, an AWS
    service) or by a Lambda custom function's errorMessage."""

    response_templates: dict[str, str] = Field(default_factory=dict)
    template_selection_expression: str | None = None
    content_handling_strategy: ContentHandlingStrategy | None = None
    response_parameters: dict[str, str] = Field(default_factory=dict)


class IntegrationConfig(Model):
    """An integration: what a route calls."""

    integration_type: IntegrationType
    integration_uri: str | None = None
    integration_method: str = "POST"
    timeout_in_millis: int = Field(29000, ge=50, le=29000)
    description: str = ""
    request_templates: dict[str, str] = Field(default_factory=dict)
    template_selection_expression: str | None = None
    passthrough_behavior: PassthroughBehavior = "WHEN_NO_MATCH"
    content_handling_strategy: ContentHandlingStrategy | None = None
    request_parameters: dict[str, str] = Field(default_factory=dict)
    # Keyed by "$default" or a /regex/ over the status code (HTTP, MOCK, AWS services), or over
    # the errorMessage of a failed Lambda custom function (§3.3).
    integration_responses: dict[str, IntegrationResponseConfig] = Field(default_factory=dict)
    # Fixed by AWS per type (§3.1); accepted for configs exported from AWS.
    integration_response_selection_expression: str | None = None
    # The role API Gateway assumes to call an AWS service; recorded only: wsgate signs with the
    # credentials botocore finds (environment, shared files, instance role).
    credentials_arn: str | None = None


class FunctionConfig(Model):
    """A local function standing in for a Lambda function (Python, Node.js or a custom runtime)."""

    # A Lambda Invoke endpoint (sam local start-lambda, an emulator, https://lambda.REGION...)
    # that runs the function instead of a local runtime; any runtime Lambda has then works.
    # First, with runtime: the checks below depend on them.
    lambda_endpoint: str | None = None
    # The name the endpoint knows the function by; default: its name here.
    function_name: str | None = None
    # Lambda's runtime identifier ("python3.12", "nodejs20.x", "provided.al2023"); None runs the
    # handler on the gateway's own Python, as a pythonX.Y runtime does.
    runtime: str | None = None
    # Not read when the function runs at a lambdaEndpoint, so not required then.
    handler: str = Field(_NO_HANDLER, validate_default=True)
    code_uri: str = "."
    environment: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(3, gt=0, le=900)
    memory_size: int = Field(128, ge=128, le=10240)
    # Lambda runs one invocation per execution environment; this caps the environments.
    concurrency: int = Field(4, ge=1, le=256)
    # "process": one worker process per environment, like Lambda (isolation, own environment
    # variables, a crash or hang costs one worker). "inprocess": the handler runs inside the
    # gateway, for speed; it shares the gateway's process and environment.
    isolation: Literal["process", "inprocess"] = "process"

    @field_validator("lambda_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not _ENDPOINT.match(value):
            raise ValueError(f"lambdaEndpoint {value!r} must be an http:// or https:// URL")
        return value

    @field_validator("runtime")
    @classmethod
    def _check_runtime(cls, value: str | None, info: ValidationInfo) -> str | None:
        remote = info.data.get("lambda_endpoint") is not None
        if value is not None and not remote and runtime_family(value) is None:
            raise ValueError(f"unknown runtime {value!r}; supported: {SUPPORTED_RUNTIMES}")
        return value

    @field_validator("handler")
    @classmethod
    def _check_handler(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("lambda_endpoint") is not None:
            return "" if value == _NO_HANDLER else value  # the endpoint's runtime reads it
        if value == _NO_HANDLER:
            raise ValueError("field required")
        runtime = info.data.get("runtime")
        family = runtime_family(runtime) if runtime else "python"
        # A custom runtime's bootstrap reads _HANDLER as it likes; Python and Node.js need a dot.
        if family == "provided":
            if not value:
                raise ValueError("handler must not be empty")
            return value
        module, dot, function = value.rpartition(".")
        if not dot or not module or not function:
            shape = "file.function" if family == "nodejs" else "module.function"
            raise ValueError(f"handler {value!r} must look like '{shape}'")
        return value

    @property
    def family(self) -> RuntimeFamily:
        """How the function runs: ``python`` (also with no runtime), ``nodejs`` or ``provided``."""
        return (runtime_family(self.runtime) if self.runtime else None) or "python"

    @property
    def remote(self) -> bool:
        """True when a Lambda Invoke endpoint runs the function (``lambdaEndpoint``)."""
        return self.lambda_endpoint is not None

    @field_validator("environment", mode="before")
    @classmethod
    def _flatten_environment(cls, value: object) -> object:
        # SAM writes Environment: {Variables: {...}}; accept that as well as a flat mapping.
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _SAM_VARIABLES:
            value = next(iter(value.values()))
        if isinstance(value, dict):
            return {name: _stringify(text) for name, text in value.items()}
        return value


_SAM_VARIABLES = ("Variables", "variables")
_ENDPOINT = re.compile(r"https?://[^/\s]+\S*$")

RuntimeFamily = Literal["python", "nodejs", "provided"]
_NODE_MAJORS = (18, 20, 22, 24)  # Lambda's Node.js runtimes: the LTS releases
SUPPORTED_RUNTIMES = (
    "python3.x, "
    + ", ".join(f"nodejs{major}.x" for major in _NODE_MAJORS)
    + ", provided, provided.al2, provided.al2023"
)
_PYTHON_RUNTIME = re.compile(r"python3\.(\d{1,2})")
_NODE_RUNTIME = re.compile(r"nodejs(\d{2})\.x")


def runtime_family(runtime: str) -> RuntimeFamily | None:
    """The family of one of Lambda's runtime identifiers; None for one wsgate cannot run."""
    if _PYTHON_RUNTIME.fullmatch(runtime):
        return "python"
    node = _NODE_RUNTIME.fullmatch(runtime)
    if node is not None and int(node.group(1)) in _NODE_MAJORS:
        return "nodejs"
    if runtime in ("provided", "provided.al2", "provided.al2023"):
        return "provided"
    return None


def runtime_version(runtime: str | None) -> tuple[int, int] | None:
    """The language version a runtime names: ``(3, 12)`` for python3.12, ``(20, 0)`` for
    nodejs20.x; None without one (no runtime, or ``provided``)."""
    if runtime is None:
        return None
    python = _PYTHON_RUNTIME.fullmatch(runtime)
    if python is not None:
        return 3, int(python.group(1))
    node = _NODE_RUNTIME.fullmatch(runtime)
    return (int(node.group(1)), 0) if node is not None else None


def _stringify(value: object) -> object:
    """Turn YAML scalars into the strings Lambda's environment holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class OpenTelemetryConfig(Model):
    """Spans for every request, exported over OTLP, to stderr, or to the process's provider."""

    # global: whatever provider the application or an OpenTelemetry agent installed.
    exporter: Literal["otlp", "console", "global"] = "otlp"
    # OTLP/HTTP traces URL; default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or the collector's.
    endpoint: str | None = None
    service_name: str = "wsgate"


class ClusterConfig(Model):
    """How the nodes of one gateway keep track of each other (over the shared registry)."""

    heartbeat_seconds: float = Field(1.0, gt=0)
    # A node silent this long is declared dead: its connections get $disconnect elsewhere.
    node_timeout_seconds: float = Field(5.0, gt=0)
    # How long a node waits for another to answer a forwarded @connections call.
    request_timeout_seconds: float = Field(2.0, gt=0)
    # How far apart the nodes' wall clocks may be: a forwarded request arriving after its
    # caller gave up (by the sender's clock, less this) is dropped, so a 5xx means not sent.
    max_clock_skew_seconds: float = Field(0.25, ge=0)
    # How long a node remembers a delivered post's idempotency id (the SDK's invocation id),
    # so that a retry after a lost answer is delivered once: longer than an SDK's retries take.
    idempotency_seconds: float = Field(120, gt=0)

    @model_validator(mode="after")
    def _timeout_covers_heartbeats(self) -> ClusterConfig:
        if self.node_timeout_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("nodeTimeoutSeconds must be at least twice heartbeatSeconds")
        return self


class ServerConfig(Model):
    """Where the gateway listens; loopback only unless configured otherwise."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # A separate listener for the @connections API, traces and the dashboard; None = none.
    admin_host: str = "127.0.0.1"
    admin_port: int | None = Field(None, ge=0, le=65535)
    # Host names the admin listener answers besides loopback ones and adminHost: any other
    # Host header is refused, so a web page cannot reach it by DNS rebinding.
    admin_hosts: list[str] = Field(default_factory=list)
    # Serve @connections on the public listener too, as AWS does.
    management_on_public: bool = True
    # The domainName put in events; default: the Host header the client used.
    domain_name: str | None = None
    shutdown_timeout_seconds: float = Field(10, gt=0)
    # Messages of all connections on this node whose integration is still working; past it a
    # message is refused with a Too Many Requests frame (as a throttle refuses it).
    max_messages_in_flight: int = Field(10_000, gt=0)
    # Prometheus metrics at /metrics on the admin listener (which must then be configured).
    metrics: bool = False
    # Recent request traces kept for `wsgate logs` / `wsgate trace` (admin listener); 0: none.
    trace_buffer_size: int = Field(10_000, ge=0)
    trace_sample_rate: float = Field(1.0, ge=0, le=1)
    # OpenTelemetry spans (the otel extra); None: none.
    open_telemetry: OpenTelemetryConfig | None = None
    # AWS_IAM, as on AWS: every @connections call must be SigV4-signed, with a key in `iam` or
    # the gateway's local key (security/local.py). NONE opens it to anyone who reaches it.
    management_authorization: Literal["NONE", "AWS_IAM"] = "AWS_IAM"
    listener: ListenerProtection = Field(default_factory=ListenerProtection)
    # wss:// and https:// on the public listener.
    tls: TlsConfig | None = None
    # Where nodes share connections: memory:// (one node), redis://, rediss:// or unix://.
    registry: str = "memory://"
    # This node's name in the registry; default: host:pid.
    node_id: str | None = None
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)


class ApiConfig(Model):
    """One WebSocket API."""

    name: str
    api_id: str | None = None
    description: str = ""
    route_selection_expression: str
    region: str = "us-east-1"
    account_id: str = "000000000000"
    stages: dict[str, StageConfig] = Field(min_length=1)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    integrations: dict[str, IntegrationConfig] = Field(default_factory=dict)
    functions: dict[str, FunctionConfig] = Field(default_factory=dict)
    server: ServerConfig = Field(default_factory=ServerConfig)
    authorizers: dict[str, AuthorizerConfig] = Field(default_factory=dict)
    iam: IamConfig | None = None
    # Where a connection's API key is read (§6.5).
    api_key_selection_expression: Literal[
        "$request.header.x-api-key", "$context.authorizer.usageIdentifierKey"
    ] = "$request.header.x-api-key"
    api_keys: dict[str, ApiKeyConfig] = Field(default_factory=dict)
    # Beyond AWS: an authorizer context key listing groups to join ("a,b"), at $connect.
    groups_from_authorizer: str | None = None
    usage_plans: dict[str, UsagePlanConfig] = Field(default_factory=dict)
    # Request validation's schemas (§4.5), by name; routes name them in requestModels.
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @field_validator("stages")
    @classmethod
    def _check_stage_names(cls, value: dict[str, StageConfig]) -> dict[str, StageConfig]:
        for name in value:
            if not _STAGE_NAME.fullmatch(name):
                raise ValueError(f"stage name {name!r} must be 1-128 letters, digits, - or _")
        return value
