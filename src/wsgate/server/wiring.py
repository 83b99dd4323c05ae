"""How a gateway's parts are built from its config: the access gate, access logs, the keys
signatures are checked against, and the span tracer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsgate.config.model import ApiConfig, OpenTelemetryConfig
from wsgate.core.accesslog import compile_access_log_format
from wsgate.errors import ConfigError, ConfigIssue
from wsgate.integrations.catalog import IntegrationCatalog
from wsgate.observability.accesslog import AccessLogObserver
from wsgate.security.credentials import Credentials, CredentialStore
from wsgate.security.local import LocalSecrets
from wsgate.server.admission import Gatekeeper

if TYPE_CHECKING:
    from wsgate.observability.otel import RequestTracer

__all__ = [
    "build_access_logs",
    "build_gate",
    "config_credentials",
    "management_keys",
    "needs_gate",
    "open_telemetry",
]


def needs_gate(config: ApiConfig) -> bool:
    """Whether anything decides access, so that plain APIs skip the checks entirely."""
    routes = config.routes.values()
    return bool(
        config.iam is not None
        or config.api_keys
        or config.server.listener.allowed_origins is not None
        or any(route.authorization_type != "NONE" or route.api_key_required for route in routes)
        or any(
            stage.default_route_settings
            or stage.route_settings
            or stage.protection.model_fields_set
            for stage in config.stages.values()
        )
    )


def build_gate(config: ApiConfig, integrations: IntegrationCatalog) -> Gatekeeper:
    """Authorizers, signing keys, API keys and throttles (data plane and @connections)."""
    authorizers = {name: integrations.authorizer(name) for name in config.authorizers}
    return Gatekeeper(config, authorizers, config_credentials(config))


def build_access_logs(config: ApiConfig) -> list[AccessLogObserver]:
    """One access log per stage that asks for one (``accessLogSettings``)."""
    logs = []
    for stage_name, stage in config.stages.items():
        settings = stage.access_log_settings
        if settings is not None:
            log_format = compile_access_log_format(settings.format)
            try:
                logs.append(AccessLogObserver(log_format, settings.destination, stage=stage_name))
            except (OSError, ValueError) as error:  # ValueError: a NUL in the path
                place = f"stages.{stage_name}.accessLogSettings.destination"
                reason = getattr(error, "strerror", None) or str(error)
                message = f"cannot open {settings.destination!r}: {reason}"
                raise ConfigError([ConfigIssue(place, message)]) from error
    return logs


def config_credentials(config: ApiConfig) -> CredentialStore | None:
    """The access keys SigV4 signatures are checked against (config entries, then the file)."""
    iam = config.iam
    if iam is None:
        return None
    keys = [
        Credentials(key.access_key_id, key.secret_access_key, key.principal or key.access_key_id)
        for key in iam.credentials
    ]
    if iam.credentials_file is not None:
        keys += list(CredentialStore.from_ini_file(iam.credentials_file))
    try:
        return CredentialStore(keys)
    except ValueError as error:  # the same key in the config and in the file
        raise ConfigError([ConfigIssue("iam", str(error))]) from error


def management_keys(
    config: ApiConfig, local: LocalSecrets, functions: tuple[Credentials, ...]
) -> CredentialStore:
    """The keys ``@connections`` signatures are checked against: the config's, the local key,
    and whatever the local functions were given (which the gateway holds anyway)."""
    configured = config_credentials(config)
    chosen = {key.access_key_id: key for key in configured or ()}
    for key in (local.credentials, *functions):
        known = chosen.setdefault(key.access_key_id, key)
        if (known.secret_access_key, known.session_token) != (
            key.secret_access_key,
            key.session_token,
        ):
            message = f"access key {key.access_key_id} is given two different secrets"
            raise ConfigError([ConfigIssue("iam", message)])
    return CredentialStore(chosen.values())


def open_telemetry(settings: OpenTelemetryConfig | None) -> RequestTracer | None:
    """The span tracer ``server.openTelemetry`` asks for (None: no spans)."""
    if settings is None:
        return None
    # Imported here: OpenTelemetry is an optional extra.
    from wsgate.observability.otel import build_tracer

    return build_tracer(settings.exporter, settings.service_name, settings.endpoint)
