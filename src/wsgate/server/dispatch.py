"""Which part of a gateway answers a request, on each of its listeners.

The public listener hands an upgrade to its stage's data plane (a hosted API's at
``/{apiId}/{stage}``) and ``@connections`` to the management API, unless ``managementOnPublic``
is off; the functions' listener does both, whatever the config says. The admin listener checks
who asks (``server/adminaccess.py``), then serves the health check, ``@connections``, the
control plane, metrics, traces and the dashboard.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Self

from aiohttp import web

from wsgate.config.model import ApiConfig
from wsgate.core.addressing import ManagementPath, match_management_path
from wsgate.observability.metrics import MetricsObserver
from wsgate.observability.tracing import TraceStore
from wsgate.server.adminaccess import HEALTH_PATH, AdminAccess
from wsgate.server.cluster import Cluster
from wsgate.server.controlplane import PREFIX as CONTROL_PLANE_PREFIX, ControlPlaneApi
from wsgate.server.dashboard import DASHBOARD_PATH, Dashboard, is_dashboard_path
from wsgate.server.dataplane import DataPlane
from wsgate.server.listener import RequestDeadline, answer_expect
from wsgate.server.management import ConnectionsApi
from wsgate.server.traces import TRACE_PATHS, serve_traces

__all__ = ["RequestDispatch"]


class RequestDispatch:
    """The HTTP entry points of a gateway's listeners, mixed into ``app.Gateway``.

    Mixed in rather than an object of its own, which would need a reference back to the
    gateway: the entry points read its parts as they are at each request (a redeploy replaces
    its config, the control plane adds and removes the APIs it hosts), and an open connection
    waits in ``_public``'s frame and the data plane's, nothing between.
    """

    # What the entry points read of the gateway; ``Gateway.__init__`` sets them.
    config: ApiConfig
    hosted: dict[tuple[str, str], Self]
    dataplane: DataPlane
    cluster: Cluster
    management: ConnectionsApi
    controlplane: ControlPlaneApi | None
    admin_access: AdminAccess
    dashboard: Dashboard | None
    metrics: MetricsObserver | None
    traces: TraceStore | None
    _deadline: RequestDeadline

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


async def _forbidden() -> web.Response:
    return web.json_response({"message": "Forbidden"}, status=403)


def _management_elsewhere() -> web.Response:
    response = web.json_response(
        {"message": "the @connections API is not served on this listener"}, status=403
    )
    response.headers["x-amzn-ErrorType"] = "ForbiddenException"
    return response
