"""The larger parts a gateway (``server/app.py``) is put together from, built from its config.

Its connection registry, its observers, its cluster, the keys ``@connections`` and the control
plane check signatures against, the control plane API and who may use the admin listener. The
smaller pieces some of them take (the access gate, access logs, keys) come from ``wiring.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wsgate.config.controlplane.plane import ControlPlane
from wsgate.config.model import ApiConfig, ClusterConfig, ServerConfig
from wsgate.integrations.catalog import IntegrationCatalog
from wsgate.observability.accesslog import AccessLogObserver
from wsgate.observability.hooks import Observer
from wsgate.observability.metrics import MetricsObserver
from wsgate.observability.routestats import RouteStats
from wsgate.observability.tracing import TraceStore
from wsgate.registry import registry_from_url
from wsgate.registry.base import ConnectionRegistry
from wsgate.security.credentials import CredentialStore
from wsgate.security.local import LocalSecrets, is_loopback_host
from wsgate.server.adminaccess import AdminAccess
from wsgate.server.apistore import DefinitionStore
from wsgate.server.cluster import Cluster, ClusterTiming
from wsgate.server.connection import Traffic
from wsgate.server.controlplane import ControlPlaneApi, Deploy, aws_time, random_id
from wsgate.server.dataplane import DataPlane
from wsgate.server.wiring import build_access_logs, management_keys

__all__ = [
    "Observers",
    "build_admin_access",
    "build_cluster",
    "build_controlplane",
    "build_observers",
    "management_signers",
    "open_registry",
]


def open_registry(config: ApiConfig) -> ConnectionRegistry:
    """The connection registry ``server.registry`` names, kept to this API's keys."""
    server = config.server
    # Several APIs may share one Redis: each keeps to its own keys.
    return registry_from_url(
        server.registry,
        prefix=f"wsgate:{config.api_id}:",
        max_clock_skew_seconds=server.cluster.max_clock_skew_seconds,
    )


@dataclass(frozen=True, slots=True)
class Observers:
    """What watches a gateway's traffic; each part None (or empty) when the config asks for
    none."""

    metrics: MetricsObserver | None
    access_logs: list[AccessLogObserver]
    traces: TraceStore | None
    route_stats: RouteStats | None

    def all(self) -> list[Observer]:
        """Every one of them, for the data plane to report to."""
        observers: list[Observer] = [*self.access_logs]
        for observer in (self.metrics, self.traces, self.route_stats):
            if observer is not None:
                observers.append(observer)
        return observers


def build_observers(config: ApiConfig, traffic: Traffic) -> Observers:
    """Metrics (which read ``traffic``), access logs, traces and route statistics."""
    server = config.server
    metrics = MetricsObserver() if server.metrics else None
    if metrics is not None:
        metrics.watch_traffic(traffic)
    access_logs = build_access_logs(config)
    # Traces and the dashboard are read on the admin listener; without one they would
    # only cost time.
    admin = server.admin_port is not None
    traces = (
        TraceStore(server.trace_buffer_size, sample_rate=server.trace_sample_rate)
        if admin and server.trace_buffer_size > 0
        else None
    )
    route_stats = RouteStats() if admin else None
    return Observers(metrics, access_logs, traces, route_stats)


def build_cluster(
    dataplane: DataPlane, registry: ConnectionRegistry, node_id: str, timing: ClusterConfig
) -> Cluster:
    """This node among the others sharing ``registry``, with the config's timings."""
    return Cluster(
        dataplane,
        registry,
        node_id,
        ClusterTiming(
            heartbeat_seconds=timing.heartbeat_seconds,
            node_timeout_seconds=timing.node_timeout_seconds,
            request_timeout_seconds=timing.request_timeout_seconds,
            idempotency_seconds=timing.idempotency_seconds,
        ),
    )


def management_signers(
    config: ApiConfig, local: LocalSecrets, integrations: IntegrationCatalog
) -> CredentialStore | None:
    """The keys ``@connections`` and control plane signatures are checked against; None when
    ``managementAuthorization`` asks for none."""
    return (
        management_keys(config, local, integrations.function_credentials)
        if config.server.management_authorization == "AWS_IAM"
        else None
    )


def build_controlplane(
    config: ApiConfig,
    base_dir: Path,
    store: DefinitionStore,
    deploy: Deploy,
    signers: CredentialStore | None,
) -> ControlPlaneApi:
    """The apigatewayv2 control plane (``/v2/apis``); its APIs may call the config's functions."""
    return ControlPlaneApi(
        ControlPlane(
            clock=aws_time,
            new_id=random_id,
            base_dir=base_dir,
            functions={
                name: function.model_dump(by_alias=True, exclude_unset=True)
                for name, function in config.functions.items()
            },
        ),
        store,
        deploy,
        signers=signers,
        region=config.region,
    )


def build_admin_access(server: ServerConfig, local: LocalSecrets) -> AdminAccess:
    """Who may use the admin listener: the token is required off loopback, and wherever
    ``@connections`` asks for signatures."""
    return AdminAccess(
        host=server.admin_host,
        hosts=server.admin_hosts,
        token=local.admin_token,
        require_token=(
            server.management_authorization == "AWS_IAM" or not is_loopback_host(server.admin_host)
        ),
    )
