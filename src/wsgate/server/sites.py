"""Starting a gateway's listeners, and telling its own functions how to reach theirs.

Each listener is aiohttp's low-level server on a bound socket, behind a site that guards it
(``server/listener.py``). The functions' listener, on loopback, answers to the API's
execute-api name and the events' ``domainName`` in TLS and in plain HTTP: its plan and
certificates go into the functions' environment (``integrations/callback.py``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from aiohttp import web

from wsgate.config.model import ApiConfig
from wsgate.config.security import ListenerProtection, TlsConfig
from wsgate.integrations.callback import CallbackPlan, plan_callback
from wsgate.integrations.catalog import IntegrationCatalog
from wsgate.security.callback_tls import CallbackTls, prepare_callback_tls
from wsgate.security.certs import server_ssl_context
from wsgate.server.listener import GuardedSite, RequestDeadline, SniffingSite

__all__ = ["plan_functions_listener", "share_callback", "start_site"]

# Idle keep-alive connections (management clients) are closed after this, as most servers do.
_KEEPALIVE_SECONDS: Final = 75.0


async def start_site(
    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
    host: str,
    port: int,
    *,
    deadline: RequestDeadline,
    limits: ListenerProtection,
    tls: TlsConfig | None,
    sock: socket.socket | None = None,
    functions_tls: ssl.SSLContext | None = None,
) -> tuple[web.ServerRunner, GuardedSite, int]:
    """Serve ``handler`` on ``sock``, or on a new socket bound to ``host`` and ``port``.

    Args:
        deadline: the time a connection's first request has to arrive.
        limits: the request line and header limits of each connection's parser.
        tls: the certificate of a TLS listener; None: plain HTTP.
        functions_tls: the functions' listener's context, to serve TLS and plain HTTP both.

    Returns:
        The runner and site to stop, and the port they listen on.
    """
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
        site = SniffingSite(runner, sock, deadline, functions_tls)
    else:
        context = server_ssl_context(tls.cert_file, tls.key_file) if tls is not None else None
        site = GuardedSite(runner, sock, deadline, ssl_context=context)
    await site.start()
    return runner, site, int(sock.getsockname()[1])


def plan_functions_listener(
    config: ApiConfig, home: Path, public: tuple[str, int], listener_port: int
) -> tuple[CallbackPlan, CallbackTls]:
    """Which names reach the functions' listener on ``listener_port`` (those of the public
    listener, at ``public``, too while it speaks plain HTTP), and the certificates that make the
    functions trust it."""
    server = config.server
    plan = plan_callback(
        api_id=config.api_id or "local",
        region=config.region,
        stage=next(iter(config.stages)),
        domain_name=server.domain_name,
        public=public if server.tls is None else None,
        listener_port=listener_port,
    )
    extra = [server.tls.ca_file] if server.tls is not None and server.tls.ca_file else []
    return plan, prepare_callback_tls(home, plan.names, extra)


def share_callback(source: IntegrationCatalog, target: IntegrationCatalog) -> None:
    """Have ``target``'s functions call back through this gateway's functions' listener."""
    for family, environment in source.callback_environment.items():
        target.callback_environment[family].update(environment)
