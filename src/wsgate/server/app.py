"""The gateway process: listeners, the data plane, the management API, start and stop.

Every listening socket lives here. The public listener serves WebSocket clients at
``/{prefix}/{stage}`` and, as on AWS, ``/{stage}/@connections/{id}``; an optional admin listener
serves the management API apart from the public one, and the apigatewayv2 control plane
(``/v2/apis``): the APIs defined there are served beside the config file's, each at
``/{apiId}/{stage}``, with ``@connections`` under that path (``server/controlplane.py``). A
third, on loopback only, serves the gateway's own functions both, in TLS and in plain HTTP:
their calls to the API's execute-api name and to the events' ``domainName`` land there
(``integrations/callback.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

from wsgate.config.controlplane.plane import ControlPlane
from wsgate.config.model import ApiConfig
from wsgate.core.addressing import ManagementPath, match_management_path
from wsgate.integrations.callback import CallbackPlan, plan_callback
from wsgate.integrations.catalog import IntegrationCatalog
from wsgate.observability.hooks import Observer
from wsgate.observability.metrics import MetricsObserver
from wsgate.observability.routestats import RouteStats
from wsgate.observability.tracing import TraceStore
from wsgate.registry import registry_from_url
from wsgate.registry.base import ConnectionRegistry
from wsgate.security.callback_tls import prepare_callback_tls
from wsgate.security.certs import server_ssl_context
from wsgate.security.local import LocalSecrets, load_local_secrets
from wsgate.server.adminaccess import HEALTH_PATH, AdminAccess
from wsgate.server.apistore import definition_store
from wsgate.server.cluster import Cluster, ClusterTiming
from wsgate.server.connection import Traffic
from wsgate.server.controlplane import (
    PREFIX as CONTROL_PLANE_PREFIX,
    ControlPlaneApi,
    aws_time,
    random_id,
)
from wsgate.server.dashboard import DASHBOARD_PATH, Dashboard, is_dashboard_path
from wsgate.server.dataplane import DataPlane
from wsgate.server.listener import GuardedSite, RequestDeadline, SniffingSite, answer_expect
from wsgate.server.management import ConnectionsApi
from wsgate.server.stage import build_stages
from wsgate.server.traces import TRACE_PATHS, serve_traces
from wsgate.server.wiring import (
    build_access_logs,
    build_gate,
    management_keys,
    needs_gate,
    open_telemetry,
)

if TYPE_CHECKING:
    pass

__all__ = ["Gateway", "Listener"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    """A bound socket: what it serves and where."""

    role: str  # "public" or "admin" (in ``listeners``), "functions" (``functions_listener``)
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
        base_dir: str | Path | None = None,
        local: LocalSecrets | None = None,
        state: str | Path | None = None,
    ) -> None:
        self.config = config
        server = config.server
        # This machine's access key and admin token ($WSGATE_HOME), made on first use.
        self.local = local = local or _local_secrets()
        # Several APIs may share one Redis: each keeps to its own keys.
        self.registry = registry or registry_from_url(
            server.registry,
            prefix=f"wsgate:{config.api_id}:",
            max_clock_skew_seconds=server.cluster.max_clock_skew_seconds,
        )
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
        self.integrations = IntegrationCatalog(
            config, reload=reload, base_dir=folder, local_key=local.credentials
        )
        self._tracer = tracer = open_telemetry(server.open_telemetry)
        node_id = server.node_id or f"{socket.gethostname()}:{os.getpid()}"
        gate = build_gate(config, self.integrations) if needs_gate(config) else None
        traffic = Traffic()
        self.metrics = MetricsObserver() if server.metrics else None
        if self.metrics is not None:
            self.metrics.watch_traffic(traffic)
        self._access_logs = build_access_logs(config)
        # Traces and the dashboard are read on the admin listener; without one they would
        # only cost time.
        admin = server.admin_port is not None
        self.traces = (
            TraceStore(server.trace_buffer_size, sample_rate=server.trace_sample_rate)
            if admin and server.trace_buffer_size > 0
            else None
        )
        self.route_stats = RouteStats() if admin else None
        observers: list[Observer] = [*self._access_logs]
        for observer in (self.metrics, self.traces, self.route_stats):
            if observer is not None:
                observers.append(observer)
        self.dataplane = DataPlane(
            api_id=config.api_id or "",
            stages=build_stages(config, self.integrations),
            registry=self.registry,
            node_id=node_id,
            domain_name=server.domain_name,
            observers=observers,
            traffic=traffic,
            tracer=tracer,
            gate=gate,
            groups_key=config.groups_from_authorizer,
            max_in_flight=server.max_messages_in_flight,
        )
        timing = server.cluster
        self.cluster = Cluster(
            self.dataplane,
            self.registry,
            node_id,
            ClusterTiming(
                heartbeat_seconds=timing.heartbeat_seconds,
                node_timeout_seconds=timing.node_timeout_seconds,
                request_timeout_seconds=timing.request_timeout_seconds,
                idempotency_seconds=timing.idempotency_seconds,
            ),
        )
        signers = (
            management_keys(config, local, self.integrations.function_credentials)
            if server.management_authorization == "AWS_IAM"
            else None
        )
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
            ControlPlaneApi(
                ControlPlane(
                    clock=aws_time,
                    new_id=random_id,
                    base_dir=folder,
                    functions={
                        name: function.model_dump(by_alias=True, exclude_unset=True)
                        for name, function in config.functions.items()
                    },
                ),
                self._store,
                self._deploy,
                signers=signers,
                region=config.region,
            )
            if admin
            else None
        )
        self.admin_access = AdminAccess(
            host=server.admin_host,
            hosts=server.admin_hosts,
            token=local.admin_token,
            require_token=(
                server.management_authorization == "AWS_IAM" or not _is_loopback(server.admin_host)
            ),
        )
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

    # -- HTTP entry points ---------------------------------------------------------------------

    async def _public(self, request: web.BaseRequest) -> web.StreamResponse:
        self._deadline.arrived(request)
        management = match_management_path(request.raw_path)
        if management is not None:
            if not self.config.server.management_on_public:
                return _management_elsewhere()
            expectation = await answer_expect(request)
            if expectation is not None:
                return expectation
            return await self._management_for(management).handle(request, management)
        return await self._upgrade(request)

    def _management_for(self, path: ManagementPath) -> ConnectionsApi:
        """The ``@connections`` API a path addresses: a hosted API's (``/{apiId}/{stage}``)
        or this one's."""
        parts = path.prefix.rstrip("/").split("/")
        hosted = self.hosted.get((parts[-2], parts[-1])) if len(parts) > 2 else None
        return hosted.management if hosted is not None else self.management

    async def _functions(self, request: web.BaseRequest) -> web.StreamResponse:
        """The functions' listener: the data plane and ``@connections``, whatever the config
        says of the public listener (it is theirs, on loopback)."""
        self._deadline.arrived(request)
        management = match_management_path(request.raw_path)
        if management is not None:
            expectation = await answer_expect(request)
            if expectation is not None:
                return expectation
            return await self._management_for(management).handle(request, management)
        return await self._upgrade(request)

    def _upgrade(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        """What serves an upgrade request: its stage's data plane, or AWS's 403.

        Not a coroutine: the caller awaits the data plane's own, so no frame of this one (and
        none of its locals) stays alive for as long as the connection is open.
        """
        parts = request.raw_path.split("?", 1)[0].rstrip("/").split("/")
        hosted = self.hosted.get((parts[-2], parts[-1])) if len(parts) > 2 else None
        dataplane: DataPlane | None = self.dataplane
        if hosted is not None:
            dataplane = hosted.dataplane
        elif len(parts) > 2 and self._defined(parts[-2]):
            dataplane = None  # a control plane API whose stage is not deployed
        stage = dataplane.stages.get(parts[-1]) if dataplane is not None else None
        if dataplane is None or stage is None:
            return _forbidden()  # AWS's answer to an unknown stage or path
        return dataplane.handle_upgrade(request, stage)

    def _defined(self, api_id: str) -> bool:
        """True when the control plane holds this API (served on some stage or not)."""
        return self.controlplane is not None and api_id in self.controlplane.plane.definitions

    async def _admin(self, request: web.BaseRequest) -> web.StreamResponse:
        self._deadline.arrived(request)
        access = self.admin_access
        refusal = access.refusal(request)
        if refusal is None:
            refusal = await answer_expect(request)
        if refusal is not None:
            return refusal
        if request.path == HEALTH_PATH:  # load balancers ask without a token
            return self._health()
        shown = access.carries_token(request)
        management = match_management_path(request.raw_path)
        if management is not None:
            # A token stands in for a signature; without either, only an open API answers.
            if access.require_token and not shown and not self.management.signed:
                return access.token_refusal()
            return await self._management_for(management).handle(request, management, trusted=shown)
        controlplane = self.controlplane
        if controlplane is not None and request.path.startswith(CONTROL_PLANE_PREFIX):
            # As for @connections: the token, or a SigV4 signature for apigateway.
            if access.require_token and not shown and not controlplane.signed:
                return access.token_refusal()
            return await controlplane.handle(request, trusted=shown)
        if access.require_token and not shown:
            login = access.login(request, DASHBOARD_PATH) if self.dashboard is not None else None
            return login or access.token_refusal()
        if request.path == "/metrics" and self.metrics is not None:
            body, content_type = self.metrics.exposition()
            return web.Response(body=body, headers={"Content-Type": content_type})
        if request.path.startswith(TRACE_PATHS) and self.traces is not None:
            return await serve_traces(request, self.traces)
        if self.dashboard is not None and is_dashboard_path(request.path):
            return await self.dashboard.handle(request)
        return web.json_response({"message": "Not Found"}, status=404)

    def _health(self) -> web.Response:
        """For load balancers: 200 while this node takes connections, 503 once it drains."""
        accepting = self.dataplane.accepting
        body = {
            "status": "ok" if accepting else "draining",
            "node": self.cluster.node_id,
            "connections": len(self.dataplane.live),
            "registry": "ok" if self.cluster.registry_healthy else "unavailable",
        }
        return web.json_response(body, status=200 if accepting else 503)

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
                _share_callback(self.integrations, hosted.integrations)
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
        _share_callback(self.integrations, catalog)
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
        limits = self.config.server.listener
        # aiohttp's low-level server: every path goes to one handler, so an Application's router,
        # middlewares and signals would only add work to each handshake.
        server = web.Server(
            handler,
            access_log=None,
            # Passed to each connection's parser: longer lines or more headers get 400/431.
            max_line_size=limits.max_header_bytes,
            max_field_size=limits.max_header_bytes,
            max_headers=limits.max_headers,
            keepalive_timeout=_KEEPALIVE_SECONDS,
        )
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        sock = sock or socket.create_server((host, port), reuse_port=False)
        site: GuardedSite
        if functions_tls is not None:
            site = SniffingSite(runner, sock, self._deadline, functions_tls)
        else:
            tls = self.config.server.tls if role == "public" else None
            context = server_ssl_context(tls.cert_file, tls.key_file) if tls is not None else None
            site = GuardedSite(runner, sock, self._deadline, ssl_context=context)
        await site.start()
        bound = Listener(role, host, int(sock.getsockname()[1]))
        if role == "functions":  # the gateway's own, not one to advertise
            self.functions_listener = bound
        else:
            self.listeners.append(bound)
        self._runners.append(runner)
        self._sites.append(site)

    async def _serve_functions(self, public_host: str, public_port: int) -> None:
        """Start the functions' listener and tell the functions how to reach it."""
        config, server = self.config, self.config.server
        sock = socket.create_server(("127.0.0.1", 0))
        try:
            plan = plan_callback(
                api_id=config.api_id or "local",
                region=config.region,
                stage=next(iter(config.stages)),
                domain_name=server.domain_name,
                public=(public_host, public_port) if server.tls is None else None,
                listener_port=int(sock.getsockname()[1]),
            )
            extra = [server.tls.ca_file] if server.tls is not None and server.tls.ca_file else []
            tls = prepare_callback_tls(self.local.home, plan.names, extra)
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


# Idle keep-alive connections (management clients) are closed after this, as most servers do.
_KEEPALIVE_SECONDS: Final = 75.0


# Longer than any control plane integration may take (AWS's 29 s integration timeout).
_RETIRE_AFTER_SECONDS: Final = 30.0


async def _stop_later(catalog: IntegrationCatalog, seconds: float) -> None:
    """Stop a replaced catalog once the calls it may still be serving are over."""
    try:
        await asyncio.sleep(seconds)
    finally:
        await catalog.stop()


async def _forbidden() -> web.Response:
    return web.json_response({"message": "Forbidden"}, status=403)


def _share_callback(source: IntegrationCatalog, target: IntegrationCatalog) -> None:
    """Have ``target``'s functions call back through this gateway's functions' listener."""
    for family, environment in source.callback_environment.items():
        target.callback_environment[family].update(environment)


def _local_secrets() -> LocalSecrets:
    secrets = load_local_secrets()
    assert secrets is not None  # made when absent
    return secrets


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _management_elsewhere() -> web.Response:
    response = web.json_response(
        {"message": "the @connections API is not served on this listener"}, status=403
    )
    response.headers["x-amzn-ErrorType"] = "ForbiddenException"
    return response
