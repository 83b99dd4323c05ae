"""The gateway process: listeners, the data plane, the management API, start and stop.

Every listening socket lives here. The public listener serves WebSocket clients at
``/{prefix}/{stage}`` and, as on AWS, ``/{stage}/@connections/{id}``; an optional admin listener
serves the management API apart from the public one, and the apigatewayv2 control plane
(``/v2/apis``): the APIs defined there are served beside the config file's, each at
``/{apiId}/{stage}``, with ``@connections`` under that path (``server/controlplane.py``). A
third, on loopback only, serves the gateway's own functions both, in TLS and in plain HTTP:
their calls to the API's execute-api name and to the events' ``domainName`` land there
(``integrations/callback.py``). The gateway's parts are built by ``server/assembly.py``, its
listeners started by ``server/sites.py``; which part answers a request is in
``server/dispatch.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from wsgate.config.model import ApiConfig
from wsgate.integrations.callback import CallbackPlan
from wsgate.integrations.catalog import IntegrationCatalog
from wsgate.registry.base import ConnectionRegistry
from wsgate.security.local import LocalSecrets, load_local_secrets
from wsgate.server.apistore import definition_store
from wsgate.server.assembly import (
    build_admin_access,
    build_cluster,
    build_controlplane,
    build_observers,
    management_signers,
    open_registry,
)
from wsgate.server.connection import Traffic
from wsgate.server.dashboard import Dashboard
from wsgate.server.dataplane import DataPlane
from wsgate.server.dispatch import RequestDispatch
from wsgate.server.listener import RequestDeadline
from wsgate.server.management import ConnectionsApi
from wsgate.server.sites import plan_functions_listener, share_callback, start_site
from wsgate.server.stage import build_stages
from wsgate.server.wiring import build_gate, needs_gate, open_telemetry

__all__ = ["Gateway", "Listener"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    """A bound socket: what it serves and where."""

    role: str  # "public" or "admin" (in ``listeners``), "functions" (``functions_listener``)
    host: str
    port: int


class Gateway(RequestDispatch):
    """One API served on one node."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        reload: bool = False,
        registry: ConnectionRegistry | None = None,
        base_dir: str | Path | None = None,
        local: LocalSecrets | None = None,
        state: str | Path | None = None,
    ) -> None:
        self.config = config
        server = config.server
        # This machine's access key and admin token ($WSGATE_HOME), made on first use.
        self.local = local = local or _local_secrets()
        self.registry = registry or open_registry(config)
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
        self.integrations = IntegrationCatalog(
            config, reload=reload, base_dir=folder, local_key=local.credentials
        )
        self._tracer = tracer = open_telemetry(server.open_telemetry)
        node_id = server.node_id or f"{socket.gethostname()}:{os.getpid()}"
        gate = build_gate(config, self.integrations) if needs_gate(config) else None
        traffic = Traffic()
        observers = build_observers(config, traffic)
        self.metrics, self._access_logs = observers.metrics, observers.access_logs
        self.traces, self.route_stats = observers.traces, observers.route_stats
        self.dataplane = DataPlane(
            api_id=config.api_id or "",
            stages=build_stages(config, self.integrations),
            registry=self.registry,
            node_id=node_id,
            domain_name=server.domain_name,
            observers=observers.all(),
            traffic=traffic,
            tracer=tracer,
            gate=gate,
            groups_key=config.groups_from_authorizer,
            max_in_flight=server.max_messages_in_flight,
        )
        self.cluster = build_cluster(self.dataplane, self.registry, node_id, server.cluster)
        signers = management_signers(config, local, self.integrations)
        self.management = ConnectionsApi(
            self.dataplane,
            self.cluster,
            tracer,
            signers=signers,
            region=config.region,
            traces=self.traces,
        )
        # The APIs defined through the control plane, served beside this one, by id and stage.
        self.hosted: dict[tuple[str, str], Gateway] = {}
        self._base_dir = folder
        self._retired: set[asyncio.Future[None]] = set()
        self._store = definition_store(
            state, server.registry, prefix=f"wsgate:{config.api_id}:controlplane:"
        )
        self.controlplane = (
            build_controlplane(config, folder, self._store, self._deploy, signers)
            if server.admin_port is not None
            else None
        )
        self.admin_access = build_admin_access(server, local)
        self.dashboard = (
            Dashboard(self.dataplane, self.route_stats) if self.route_stats is not None else None
        )
        self._deadline = RequestDeadline(server.listener.handshake_timeout_seconds)
        # Where local functions' calls back go; set once the functions' listener is up.
        self.callback: CallbackPlan | None = None
        self.functions_listener: Listener | None = None
        self.listeners: list[Listener] = []
        self._runners: list[web.ServerRunner] = []
        self._sites: list[web.BaseSite] = []

    # -- start and stop --------------------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Start integrations and listeners (port 0 picks a free port; see ``listeners``)."""
        server = self.config.server
        await self.integrations.start()
        # Join the cluster before taking connections: other nodes must be able to reach them.
        await self.cluster.start()
        host = host or server.host
        # Bound first: the functions are told its port before any connection can arrive.
        public = socket.create_server((host, server.port if port is None else port))
        try:
            await self._serve_functions(host, int(public.getsockname()[1]))
        except BaseException:
            public.close()
            raise
        await self._listen("public", self._public, host, 0, sock=public)
        if server.admin_port is not None:
            await self._listen("admin", self._admin, server.admin_host, server.admin_port)
        if self.controlplane is not None:
            await self._restore_hosted()

    async def _restore_hosted(self) -> None:
        """Serve the control plane's APIs kept in ``--state``, once the public listener is up."""
        assert self.controlplane is not None
        secure = self.config.server.tls is not None
        public = next(listener for listener in self.listeners if listener.role == "public")
        plane = self.controlplane.plane
        plane.endpoint_base = f"{'wss' if secure else 'ws'}://{public.host}:{public.port}"
        plane.restore(await self._store.load())
        for api_id in plane.definitions:
            await self._deploy(api_id, plane.served(api_id))
        await self._store.watch(self.controlplane.changed_elsewhere)

    async def _deploy(self, api_id: str, stages: Mapping[str, ApiConfig]) -> None:
        """Serve a control plane API's stages now; the stages not given stop being served."""
        for key in [key for key in self.hosted if key[0] == api_id and key[1] not in stages]:
            await self.hosted.pop(key).stop()
        assert self.controlplane is not None
        domain_name = self.controlplane.plane.domain_name(api_id)
        for stage, served in stages.items():
            # This gateway's settings: its registry (a stage's connections are found from
            # every node), its signing keys, limits and timings; no listener of its own.
            server = self.config.server.model_copy(
                update={
                    "domain_name": domain_name,
                    "node_id": f"{self.cluster.node_id}/{api_id}/{stage}",
                    "admin_port": None,
                }
            )
            config = served.model_copy(update={"server": server, "iam": self.config.iam})
            hosted = self.hosted.get((api_id, stage))
            if hosted is None:
                hosted = Gateway(config, registry=None, base_dir=self._base_dir, local=self.local)
                share_callback(self.integrations, hosted.integrations)
                await hosted.integrations.start()
                await hosted.cluster.start()
                self.hosted[api_id, stage] = hosted
            elif hosted.config != config:
                await hosted.redeploy(config)

    async def redeploy(self, config: ApiConfig) -> None:
        """Serve a new version of the API at once, to new connections and to the next message
        of open ones; calls already under way finish on the integrations they started with."""
        catalog = IntegrationCatalog(
            config, base_dir=self._base_dir, local_key=self.local.credentials
        )
        share_callback(self.integrations, catalog)
        try:
            await catalog.start()
        except BaseException:
            await catalog.stop()  # what started before the failure
            raise
        self.dataplane.stages = build_stages(config, catalog)
        self.dataplane.gate = build_gate(config, catalog) if needs_gate(config) else None
        # Calls already under way on the old integrations finish as they started; a control
        # plane integration times out within 29 s, so the old catalog stops after that.
        retired, self.integrations = self.integrations, catalog
        retiring = asyncio.ensure_future(_stop_later(retired, _RETIRE_AFTER_SECONDS))
        self._retired.add(retiring)
        retiring.add_done_callback(self._retired.discard)
        self.config = config

    async def _listen(
        self,
        role: str,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        host: str,
        port: int,
        *,
        sock: socket.socket | None = None,
        functions_tls: ssl.SSLContext | None = None,
    ) -> None:
        server = self.config.server
        runner, site, bound_port = await start_site(
            handler,
            host,
            port,
            deadline=self._deadline,
            limits=server.listener,
            tls=server.tls if role == "public" else None,
            sock=sock,
            functions_tls=functions_tls,
        )
        bound = Listener(role, host, bound_port)
        if role == "functions":  # the gateway's own, not one to advertise
            self.functions_listener = bound
        else:
            self.listeners.append(bound)
        self._runners.append(runner)
        self._sites.append(site)

    async def _serve_functions(self, public_host: str, public_port: int) -> None:
        """Start the functions' listener and tell the functions how to reach it."""
        sock = socket.create_server(("127.0.0.1", 0))
        try:
            plan, tls = plan_functions_listener(
                self.config, self.local.home, (public_host, public_port), int(sock.getsockname()[1])
            )
        except BaseException:
            sock.close()
            raise
        await self._listen(
            "functions", self._functions, "127.0.0.1", 0, sock=sock, functions_tls=tls.context
        )
        for family, environment in self.integrations.callback_environment.items():
            environment.update(
                plan.environment(family, ca_bundle=str(tls.ca_bundle), extra_ca=str(tls.extra_ca))
            )
        self.callback = plan

    @property
    def port(self) -> int:
        """The public listener's port."""
        return next(listener.port for listener in self.listeners if listener.role == "public")

    def urls(self) -> dict[str, str]:
        """The WebSocket and management URLs of every stage, for people and tests."""
        urls = {}
        for listener in self.listeners:
            base = f"{listener.host}:{listener.port}"
            # Only the public listener speaks TLS (server.tls).
            secure = listener.role == "public" and self.config.server.tls is not None
            ws, http = ("wss", "https") if secure else ("ws", "http")
            for stage in self.config.stages:
                if listener.role == "public":
                    urls[f"websocket:{stage}"] = f"{ws}://{base}/{stage}"
                if listener.role == "admin" or self.config.server.management_on_public:
                    urls[f"management:{stage}:{listener.role}"] = f"{http}://{base}/{stage}"
        return urls

    async def stop(self, timeout: float | None = None) -> None:
        """Stop in order: stop accepting, close every connection with 1001 and run its
        ``$disconnect`` (until the deadline), then stop listeners and integrations."""
        limit = self.config.server.shutdown_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + limit
        for site in self._sites:
            await site.stop()
        await self.dataplane.shutdown(deadline)
        await self.cluster.stop()
        for runner in self._runners:
            await runner.cleanup()
        await self.integrations.stop()
        for retiring in self._retired:
            retiring.cancel()  # _stop_later then stops its catalog at once
        await asyncio.gather(*self._retired, return_exceptions=True)
        self._retired.clear()
        for hosted in list(self.hosted.values()):
            await hosted.stop(limit)
        self.hosted.clear()
        await self._store.close()
        for access_log in self._access_logs:
            access_log.close()
        if self._tracer is not None:
            # Flushing exports the last spans: a network call, kept off the event loop.
            await asyncio.to_thread(self._tracer.shutdown)
        await self.registry.close()
        self._sites.clear()
        self._runners.clear()


# Longer than any control plane integration may take (AWS's 29 s integration timeout).
_RETIRE_AFTER_SECONDS: Final = 30.0


async def _stop_later(catalog: IntegrationCatalog, seconds: float) -> None:
    """Stop a replaced catalog once the calls it may still be serving are over."""
    try:
        await asyncio.sleep(seconds)
    finally:
        await catalog.stop()


def _local_secrets() -> LocalSecrets:
    secrets = load_local_secrets()
    assert secrets is not None  # made when absent
    return secrets
