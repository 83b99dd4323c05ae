"""Every integration an API's routes and authorizers call, built once and shared.

One runtime per local function, whatever number of routes name it; one pooled HTTP client for
every HTTP backend and AWS service; one app per ASGI module; one HTTP, MOCK or AWS integration per
name and resolved URI (stage variables can make one integration reach a different URL on each
stage); one reading of the user's AWS credentials and endpoints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from wsgate.config.access import function_authorizer
from wsgate.config.checks import ASGI_PREFIX
from wsgate.config.load import function_name_from_uri, substitute_stage_variables
from wsgate.config.model import ApiConfig, FunctionConfig
from wsgate.config.uris import service_uri
from wsgate.integrations.asgi import AsgiTransport
from wsgate.integrations.authorizer import Authorizer, FunctionAuthorizer, HttpAuthorizer
from wsgate.integrations.aws_service import AwsServiceIntegration
from wsgate.integrations.aws_signing import AwsSession
from wsgate.integrations.base import Integration
from wsgate.integrations.function import FunctionIntegration
from wsgate.integrations.http import HttpIntegration
from wsgate.integrations.lambda_custom import LambdaCustomIntegration
from wsgate.integrations.mock import MockIntegration
from wsgate.integrations.node_sdk import prepare_node
from wsgate.integrations.transport import HttpTransport, Transport
from wsgate.security.credentials import Credentials

__all__ = ["IntegrationCatalog"]


class IntegrationCatalog:
    """The integrations of one API; ``start`` and ``stop`` them all at once.

    Args:
        config: the API.
        reload: watch local functions' code and pick up edits.
        base_dir: where ``asgi:`` modules are imported from (the config file's folder).
    """

    def __init__(
        self,
        config: ApiConfig,
        *,
        reload: bool = False,
        base_dir: Path,
        local_key: Credentials | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._config = config
        self._base_dir = base_dir
        self._http: HttpTransport | None = None
        self._aws: AwsSession | None = None  # the user's AWS setup, for AWS service integrations
        self._asgi: dict[str, AsgiTransport] = {}
        functions = _prepared(config, local_key, environ)
        # How each family of runtime reaches the gateway back (``integrations/callback.py``):
        # filled in by the gateway once its functions' listener is up, read at each spawn.
        self.callback_environment: dict[str, dict[str, str]] = {
            family: {} for family in ("python", "nodejs", "provided")
        }
        self._functions = {
            name: FunctionIntegration(
                name,
                name,
                function,
                region=config.region,
                account_id=config.account_id,
                reload=reload,
                callback_environment=self.callback_environment[function.family],
            )
            for name, function in functions.items()
        }
        # What boto3 in each function signs @connections calls with: the gateway accepts them.
        found = (_credentials_of(function, environ) for function in functions.values())
        self.function_credentials = tuple(dict.fromkeys(c for c in found if c is not None))
        self._built: dict[str, Integration] = {}

    def for_route(self, name: str, stage_variables: Mapping[str, str]) -> Integration:
        """The integration ``name`` as a route calls it on a stage with these variables."""
        config = self._config.integrations[name]
        uri = substitute_stage_variables(config.integration_uri or "", stage_variables)
        kind = config.integration_type
        if kind == "AWS_PROXY":
            return self._functions[function_name_from_uri(uri, stage_variables)]
        key = f"{name}@{uri}"
        built = self._built.get(key)
        if built is None:
            api_id = self._config.api_id or ""
            if kind == "MOCK":
                built = MockIntegration(name, config, api_id=api_id)
            elif kind == "AWS":
                built = self._aws_integration(name, uri, api_id)
            else:
                transport, url = self._transport(uri)
                built = HttpIntegration(name, config, transport, api_id=api_id, uri=url)
            self._built[key] = built
        return built

    def _aws_integration(self, name: str, uri: str, api_id: str) -> Integration:
        """A Lambda custom integration, or an AWS service one (``uri`` is substituted)."""
        config = self._config.integrations[name]
        target = service_uri(uri)
        if target is None:
            function = self._functions[function_name_from_uri(uri, {})]
            return LambdaCustomIntegration(name, config, function, api_id=api_id)
        if self._aws is None:
            self._aws = AwsSession()
        return AwsServiceIntegration(name, config, target, self._aws, self._pool(), api_id=api_id)

    def authorizer(self, name: str) -> Authorizer:
        """The authorizer ``name``: a local function, or an endpoint given the same JSON."""
        uri = self._config.authorizers[name].authorizer_uri
        if function_authorizer(uri):
            return FunctionAuthorizer(self._functions[function_name_from_uri(uri, {})])
        transport, url = self._transport(uri)
        return HttpAuthorizer(name, url, transport)

    def _transport(self, uri: str) -> tuple[Transport, str]:
        """The shared HTTP pool, or the in-process ASGI app an ``asgi:`` URI names."""
        if not uri.startswith(ASGI_PREFIX):
            return self._pool(), uri
        # asgi:package.module:app/some/path -> the app, and the URL it sees.
        target, slash, path = uri.partition("/")
        if target not in self._asgi:
            self._asgi[target] = AsgiTransport.from_uri(target, code_dir=str(self._base_dir))
        return self._asgi[target], f"http://asgi.local{slash}{path}"

    def _pool(self) -> HttpTransport:
        """The HTTP pool every HTTP backend and AWS service shares, opened on first use."""
        if self._http is None:
            self._http = HttpTransport()
        return self._http

    async def start(self) -> None:
        """Start the ASGI apps, then the functions' runtimes.

        Raises:
            ConfigError: a runtime cannot run here (no ``node``; the SDK cannot be installed).
        """
        node = {
            name: f
            for name, f in self._config.functions.items()
            if f.family == "nodejs" and not f.remote
        }
        if node:
            # Once for all of them, before any listener: the error names every function.
            await prepare_node(node)
        for transport in self._asgi.values():
            await transport.start()
        for integration in self._integrations():
            await integration.start()

    async def stop(self) -> None:
        """Stop every integration, then close the transports they share."""
        for integration in self._integrations():
            await integration.stop()
        for transport in [*self._asgi.values(), *([self._http] if self._http else [])]:
            await transport.close()

    def _integrations(self) -> list[Integration]:
        return [*self._functions.values(), *self._built.values()]


def _prepared(
    config: ApiConfig, local_key: Credentials | None, environ: Mapping[str, str]
) -> dict[str, FunctionConfig]:
    """Functions ready to call the gateway back with an access key it accepts.

    A function's own ``AWS_ACCESS_KEY_ID`` wins, then the gateway's (real credentials pass
    through, as the gateway can check them), then the local key. The CA they trust comes with
    the callback environment (``server.tls.caFile`` included).
    """
    prepared = {}
    for name, function in config.functions.items():
        extra: dict[str, str] = {}
        own = "AWS_ACCESS_KEY_ID" in function.environment
        if local_key is not None and not own and not _has_key(environ):
            extra["AWS_ACCESS_KEY_ID"] = local_key.access_key_id
            extra["AWS_SECRET_ACCESS_KEY"] = local_key.secret_access_key
        environment = {**extra, **function.environment}
        prepared[name] = function.model_copy(update={"environment": environment})
    return prepared


def _has_key(environment: Mapping[str, str]) -> bool:
    return bool(environment.get("AWS_ACCESS_KEY_ID") and environment.get("AWS_SECRET_ACCESS_KEY"))


def _credentials_of(function: FunctionConfig, environ: Mapping[str, str]) -> Credentials | None:
    """The access key a function's SDK finds in its environment, if any."""
    source = function.environment if _has_key(function.environment) else environ
    if not _has_key(source):
        return None
    key_id = source["AWS_ACCESS_KEY_ID"]
    return Credentials(
        key_id,
        source["AWS_SECRET_ACCESS_KEY"],
        f"arn:aws:iam::000000000000:user/{key_id}",  # who signed, as traces show it
        source.get("AWS_SESSION_TOKEN") or None,
    )
