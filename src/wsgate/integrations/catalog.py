"""Every integration an API's routes and authorizers call, built once and shared.

One runtime per local function, whatever number of routes name it; one pooled HTTP client for
every HTTP backend; one app per ASGI module; one HTTP or MOCK integration per name and resolved
URI (stage variables can make one integration reach a different URL on each stage).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from wsgate.config.access import function_authorizer
from wsgate.config.checks import ASGI_PREFIX
from wsgate.config.load import function_name_from_uri, substitute_stage_variables
from wsgate.config.model import ApiConfig, FunctionConfig
from wsgate.integrations.asgi import AsgiTransport
from wsgate.integrations.authorizer import Authorizer, FunctionAuthorizer, HttpAuthorizer
from wsgate.integrations.base import Integration
from wsgate.integrations.function import FunctionIntegration
from wsgate.integrations.http import HttpIntegration
from wsgate.integrations.mock import MockIntegration
from wsgate.integrations.transport import HttpTransport, Transport

__all__ = ["IntegrationCatalog"]


class IntegrationCatalog:
    """The integrations of one API; ``start`` and ``stop`` them all at once.

    Args:
        config: the API.
        reload: watch local functions' code and pick up edits.
        base_dir: where ``asgi:`` modules are imported from (the config file's folder).
    """

    def __init__(self, config: ApiConfig, *, reload: bool = False, base_dir: Path) -> None:
        self._config = config
        self._base_dir = base_dir
        self._http: HttpTransport | None = None
        self._asgi: dict[str, AsgiTransport] = {}
        self._functions = {
            name: FunctionIntegration(
                name,
                name,
                function,
                region=config.region,
                account_id=config.account_id,
                reload=reload,
            )
            for name, function in _with_ca_bundle(config).items()
        }
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
            else:
                transport, url = self._transport(uri)
                built = HttpIntegration(name, config, transport, api_id=api_id, uri=url)
            self._built[key] = built
        return built

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
            if self._http is None:
                self._http = HttpTransport()
            return self._http, uri
        # asgi:package.module:app/some/path -> the app, and the URL it sees.
        target, slash, path = uri.partition("/")
        if target not in self._asgi:
            self._asgi[target] = AsgiTransport.from_uri(target, code_dir=str(self._base_dir))
        return self._asgi[target], f"http://asgi.local{slash}{path}"

    async def start(self) -> None:
        """Start the ASGI apps, then the functions' runtimes."""
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


def _with_ca_bundle(config: ApiConfig) -> dict[str, FunctionConfig]:
    """Functions that trust the gateway's CA, as handlers calling back over https:// need."""
    tls = config.server.tls
    if tls is None or tls.ca_file is None:
        return dict(config.functions)
    return {
        name: function.model_copy(
            update={"environment": {"AWS_CA_BUNDLE": tls.ca_file, **function.environment}}
        )
        for name, function in config.functions.items()
    }
