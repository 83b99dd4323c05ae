"""Config for who may connect and how fast: authorizers, IAM keys, API keys, throttles, TLS.

Names follow apigatewayv2 (``authorizerUri``, ``identitySource``, ``throttlingRateLimit``) and the
REST API's usage plans; what AWS lacks (per-connection and per-principal rates, a connection cap,
origin checks) sits in ``protection`` so that an exported AWS config stays valid as it is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from wsgate.config.base import Model

__all__ = [
    "ApiKeyConfig",
    "AuthorizerConfig",
    "IamConfig",
    "IamCredential",
    "ListenerProtection",
    "ProtectionConfig",
    "QuotaConfig",
    "RouteSettings",
    "ThrottleConfig",
    "TlsConfig",
    "UsagePlanConfig",
]


class AuthorizerConfig(Model):
    """A Lambda REQUEST authorizer (§6.1): a local function or an HTTP endpoint."""

    authorizer_type: Literal["REQUEST"] = "REQUEST"
    # A function: its name, a Lambda ARN, or apigateway's .../functions/{arn}/invocations form;
    # or an http(s):// URL that receives the same event as JSON and answers the same result.
    authorizer_uri: str
    identity_source: list[str] = Field(default_factory=list)
    # 0: call the authorizer on every $connect, as AWS does for WebSocket APIs; above 0, results
    # are kept per identity (an opt-in beyond AWS).
    authorizer_result_ttl_in_seconds: int = Field(0, ge=0, le=3600)
    timeout_in_millis: int = Field(10_000, ge=50, le=29_000)
    name: str = ""

    @field_validator("identity_source", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # The REST API writes one comma-separated string; apigatewayv2 writes a list.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class IamCredential(Model):
    """An access key that may sign requests (SigV4) and who it stands for."""

    access_key_id: str = Field(min_length=16, max_length=128)
    secret_access_key: str = Field(min_length=1)
    # The caller as events show it (requestContext.identity.userArn); default: the key id.
    principal: str | None = None


class IamConfig(Model):
    """Keys accepted for ``AWS_IAM`` routes and a signed ``@connections`` API (§6.4)."""

    credentials: list[IamCredential] = Field(default_factory=list)
    # An AWS credentials file (~/.aws/credentials format); relative to the config's folder.
    credentials_file: str | None = None

    @model_validator(mode="after")
    def _some_keys(self) -> IamConfig:
        if not self.credentials and self.credentials_file is None:
            raise ValueError("give credentials or a credentialsFile")
        return self


class ThrottleConfig(Model):
    """A token bucket: a steady rate and a burst."""

    rate_limit: float = Field(ge=0)
    burst_limit: int = Field(ge=0)


class QuotaConfig(Model):
    """A usage plan's quota: requests per day, week or month (UTC)."""

    limit: int = Field(ge=0)
    period: Literal["DAY", "WEEK", "MONTH"]


class UsagePlanConfig(Model):
    """What the API keys of a plan may do."""

    throttle: ThrottleConfig | None = None
    quota: QuotaConfig | None = None


class ApiKeyConfig(Model):
    """An API key (§6.5): its value and the usage plan that limits it."""

    value: str = Field(min_length=20, max_length=128)
    usage_plan: str | None = None
    enabled: bool = True


class RouteSettings(Model):
    """AWS's stage ``defaultRouteSettings`` and ``routeSettings`` (§9.2)."""

    throttling_burst_limit: int | None = Field(None, ge=0)
    throttling_rate_limit: float | None = Field(None, ge=0)
    # Accepted so that settings exported from AWS load; logging has its own settings here.
    data_trace_enabled: bool | None = None
    detailed_metrics_enabled: bool | None = None
    logging_level: Literal["OFF", "ERROR", "INFO"] | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> RouteSettings:
        if (self.throttling_burst_limit is None) != (self.throttling_rate_limit is None):
            raise ValueError("set throttlingBurstLimit and throttlingRateLimit together")
        return self


class ProtectionConfig(Model):
    """Per-stage limits AWS does not offer; each is off unless set."""

    # Messages per connection, and per authorizer principal across its connections.
    connection_messages: ThrottleConfig | None = None
    principal_messages: ThrottleConfig | None = None
    # New connections per second on this node, and open connections at once.
    new_connections: ThrottleConfig | None = None
    max_connections: int | None = Field(None, ge=1)


class ListenerProtection(Model):
    """What the public listener refuses before any route runs."""

    # Browser origins allowed to open a socket; "*" in a host matches one label
    # ("https://*.example.com"). None: any. Clients that send no Origin are not browsers and pass.
    allowed_origins: list[str] | None = None
    # Time allowed for a client to send its whole upgrade request.
    handshake_timeout_seconds: float = Field(10, gt=0)
    # Longest request line or header line, and the most headers.
    max_header_bytes: int = Field(8190, ge=1024, le=65536)
    max_headers: int = Field(100, ge=10, le=1000)


class TlsConfig(Model):
    """A certificate and key for ``wss://`` and ``https://`` (``wsgate cert`` makes both)."""

    cert_file: str
    key_file: str
    # The CA that signed cert_file; local functions get it as AWS_CA_BUNDLE, so that boto3
    # calls back to https://{domainName}/{stage} verify the gateway.
    ca_file: str | None = None
