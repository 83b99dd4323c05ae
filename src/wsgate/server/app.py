"""The gateway process: listeners, the data plane, the management API, start and stop.

Every listening socket lives here. The public listener serves WebSocket clients at
``/{prefix}/{stage}`` and, as on AWS, ``/{stage}/@connections/{id}``; an optional admin listener
serves the management API apart from the public one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from wsgate.config.load import function_name_from_uri
from wsgate.config.model import ApiConfig
from wsgate.core.routing import compile_expression
from wsgate.integrations.base import Integration
from wsgate.integrations.function import FunctionIntegration
from wsgate.registry import registry_from_url
from wsgate.registry.base import ConnectionRegistry
from wsgate.server.dataplane import DataPlane, RouteTarget, StageRuntime
from wsgate.server.management import ConnectionsApi, match_management_path

__all__ = ["Gateway", "Listener"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    """A bound socket: what it serves and where."""

    role: str  # "public" or "admin"
    host: str
    port: int


class Gateway:
    """One API served on one node."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        reload: bool = False,
        registry: ConnectionRegistry | None = None,
    ) -> None:
        self.config = config
        self._reload = reload
        self.registry = registry or registry_from_url("memory://")
        self.integrations = self._build_integrations()
        self.dataplane = DataPlane(
            api_id=config.api_id or "",
            stages=self._build_stages(),
            registry=self.registry,
            node_id=f"{socket.gethostname()}:{os.getpid()}",
            domain_name=config.server.domain_name,
        )
        self.management = ConnectionsApi(self.dataplane)
        self.listeners: list[Listener] = []
        self._runners: list[web.AppRunner] = []
        self._sites: list[web.BaseSite] = []

    # -- assembly ----------------------------------------------------------------------------

    def _build_integrations(self) -> dict[str, Integration]:
        """One runtime per local function, shared by every integration that names it."""
        config = self.config
        return {
            name: FunctionIntegration(
                name,
                name,
                function,
                region=config.region,
                account_id=config.account_id,
                reload=self._reload,
            )
            for name, function in config.functions.items()
        }

    def _build_stages(self) -> dict[str, StageRuntime]:
        config = self.config
        expression = compile_expression(config.route_selection_expression)
        stages = {}
        for stage_name, stage in config.stages.items():
            routes: dict[str, RouteTarget | None] = {}
            for route_key, route in config.routes.items():
                integration_name = route.integration_name
                if integration_name is None:
                    routes[route_key] = None
                    continue
                integration = config.integrations[integration_name]
                function = function_name_from_uri(
                    integration.integration_uri or "", stage.stage_variables
                )
                routes[route_key] = RouteTarget(
                    route_key=route_key,
                    integration_name=integration_name,
                    integration=self.integrations[function],
                    timeout_ms=integration.timeout_in_millis,
                    two_way=route.two_way,
                )
            stages[stage_name] = StageRuntime(stage_name, stage, expression, routes)
        return stages

    # -- HTTP entry points ---------------------------------------------------------------------

    async def _public(self, request: web.Request) -> web.StreamResponse:
        management = match_management_path(request.raw_path)
        if management is not None:
            if not self.config.server.management_on_public:
                return _management_elsewhere()
            return await self.management.handle(request, *management)
        path = request.raw_path.split("?", 1)[0].rstrip("/")
        stage = self.dataplane.stages.get(path.rsplit("/", 1)[-1])
        if stage is None:
            # AWS answers an unknown stage or path with 403 Forbidden.
            return web.json_response({"message": "Forbidden"}, status=403)
        return await self.dataplane.handle_upgrade(request, stage)

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        management = match_management_path(request.raw_path)
        if management is None:
            return web.json_response({"message": "Not Found"}, status=404)
        return await self.management.handle(request, *management)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Start integrations and listeners (port 0 picks a free port; see ``listeners``)."""
        server = self.config.server
        for integration in self.integrations.values():
            await integration.start()
        await self._listen(
            "public", self._public, host or server.host, server.port if port is None else port
        )
        if server.admin_port is not None:
            await self._listen("admin", self._admin, server.admin_host, server.admin_port)

    async def _listen(
        self,
        role: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        host: str,
        port: int,
    ) -> None:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.create_server((host, port), reuse_port=False)
        site = web.SockSite(runner, sock)
        await site.start()
        bound = sock.getsockname()
        self.listeners.append(Listener(role, host, int(bound[1])))
        self._runners.append(runner)
        self._sites.append(site)

    @property
    def port(self) -> int:
        """The public listener's port."""
        return next(listener.port for listener in self.listeners if listener.role == "public")

    def urls(self) -> dict[str, str]:
        """The WebSocket and management URLs of every stage, for people and tests."""
        urls = {}
        for listener in self.listeners:
            base = f"{listener.host}:{listener.port}"
            for stage in self.config.stages:
                if listener.role == "public":
                    urls[f"websocket:{stage}"] = f"ws://{base}/{stage}"
                if listener.role == "admin" or self.config.server.management_on_public:
                    urls[f"management:{stage}:{listener.role}"] = f"http://{base}/{stage}"
        return urls

    async def stop(self, timeout: float | None = None) -> None:
        """Stop in order: stop accepting, close every connection with 1001 and run its
        ``$disconnect`` (until the deadline), then stop listeners and integrations."""
        limit = self.config.server.shutdown_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + limit
        for site in self._sites:
            await site.stop()
        await self.dataplane.shutdown(deadline)
        for runner in self._runners:
            await runner.cleanup()
        for integration in self.integrations.values():
            await integration.stop()
        await self.registry.close()
        self._sites.clear()
        self._runners.clear()


def _management_elsewhere() -> web.Response:
    response = web.json_response(
        {"message": "the @connections API is not served on this listener"}, status=403
    )
    response.headers["x-amzn-ErrorType"] = "ForbiddenException"
    return response
