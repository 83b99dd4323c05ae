"""The ``wsgate`` command: serve, validate, connect, post, get, delete.

Thin by design: arguments become config values, then the library does the work. ``main(argv)``
returns the exit code so tests can call it directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from wsgate import __version__
from wsgate.clients import management as management_client, traces as trace_client, ws as ws_client
from wsgate.config.load import load_config
from wsgate.config.model import ApiConfig
from wsgate.errors import ConfigError, ConfigIssue, TlsError
from wsgate.observability.logs import configure_logging
from wsgate.registry import check_registry_url, redact_url

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_INVALID_CONFIG = 1
EXIT_USAGE = 1


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 1: 2 means "cannot connect" for the client commands."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = _Parser(
        prog="wsgate",
        description="A WebSocket API gateway compatible with Amazon API Gateway WebSocket APIs.",
    )
    parser.add_argument("--version", action="version", version=f"wsgate {__version__}")
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )

    serve = commands.add_parser("serve", help="serve an API described by a config file")
    serve.add_argument("file", help="the API's config file (YAML or JSON)")
    serve.add_argument("--host", help="public listener address (default: config, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="public listener port (0 picks a free one)")
    serve.add_argument("--admin-port", type=int, help="also serve @connections on this port")
    serve.add_argument("--stage", help="serve only this stage")
    serve.add_argument(
        "--registry", help="share connections with other nodes: redis://, rediss:// or unix://"
    )
    serve.add_argument("--node-id", help="this node's name in the registry (default host:pid)")
    serve.add_argument("--reload", action="store_true", help="reload function code on change")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format", choices=["json", "text"], help="default: text on a terminal, else JSON"
    )
    serve.set_defaults(func=_serve)

    validate = commands.add_parser("validate", help="check a config file and report every error")
    validate.add_argument("file")
    validate.set_defaults(func=_validate)

    cert = commands.add_parser(
        "cert", help="make a local CA and a certificate for wss:// and https://"
    )
    cert.add_argument("names", nargs="*", help="DNS names and IP addresses (default: localhost)")
    cert.add_argument("--dir", default=".wsgate/tls", help="where to write (default .wsgate/tls)")
    cert.add_argument("--config", help="also take server.domainName from this config file")
    cert.set_defaults(func=_cert)

    ws_client.add_parser(commands)
    management_client.add_parsers(commands)
    trace_client.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def _validate(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
        check_registry_url(config.server.registry)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    routes = ", ".join(config.routes) or "none"
    stages = ", ".join(config.stages)
    print(f"{args.file}: valid (API {config.name!r}, stages: {stages}, routes: {routes})")
    return EXIT_OK


def _cert(args: argparse.Namespace) -> int:
    from wsgate.security.certs import ensure_ca, issue_certificate

    names = list(args.names)
    if args.config is not None:
        try:
            domain = load_config(args.config).server.domain_name
        except ConfigError as error:
            print(error, file=sys.stderr)
            return EXIT_INVALID_CONFIG
        names += [domain] if domain else []
    names = list(dict.fromkeys(names or ["localhost", "127.0.0.1", "::1"]))
    folder = Path(args.dir)
    try:
        ca = ensure_ca(folder)
        cert, key = issue_certificate(folder, names, ca)
    except (TlsError, OSError) as error:
        print(f"wsgate cert: {error}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    chain = cert  # the chain a server presents: the certificate, then the CA
    print(f"certificate for {', '.join(names)}")
    print(f"  CA:          {ca[0]}")
    print(f"  certificate: {chain}\n  key:         {key}")
    print("\nin the config:\n  server:\n    tls:")
    print(f"      certFile: {chain.resolve()}\n      keyFile: {key.resolve()}")
    print(f"      caFile: {ca[0].resolve()}   # local functions get it as AWS_CA_BUNDLE")
    print(f"for other clients (boto3, the AWS CLI): export AWS_CA_BUNDLE={ca[0].resolve()}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    try:
        config = _configure(load_config(args.file), args)
        check_registry_url(config.server.registry)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    json_lines = None if args.log_format is None else args.log_format == "json"
    configure_logging(args.log_level, json_lines=json_lines)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        base_dir = Path(args.file).resolve().parent
        runner.run(_run_gateway(config, reload=args.reload, base_dir=base_dir))
    return EXIT_OK


def _configure(config: ApiConfig, args: argparse.Namespace) -> ApiConfig:
    server: dict[str, Any] = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    if args.admin_port is not None:
        server["admin_port"] = args.admin_port
    if args.registry is not None:
        server["registry"] = args.registry
    if args.node_id is not None:
        server["node_id"] = args.node_id
    update: dict[str, Any] = {"server": config.server.model_copy(update=server)}
    if args.stage is not None:
        if args.stage not in config.stages:
            known = ", ".join(config.stages)
            issue = ConfigIssue("--stage", f"no stage {args.stage!r} (known: {known})")
            raise ConfigError([issue], args.file)
        update["stages"] = {args.stage: config.stages[args.stage]}
    return config.model_copy(update=update)


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return None
    return uvloop.new_event_loop


async def _run_gateway(config: ApiConfig, *, reload: bool, base_dir: Path) -> None:
    from wsgate.server.app import Gateway
    from wsgate.server.dashboard import DASHBOARD_PATH

    gateway = Gateway(config, reload=reload, base_dir=base_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, _on_signal, stop)
    await gateway.start()
    _tune_garbage_collector()
    print(f"wsgate {__version__}: serving API {config.name!r} (id {config.api_id})", flush=True)
    for name, url in gateway.urls().items():
        kind, _, rest = name.partition(":")
        label = "WebSocket " if kind == "websocket" else "management"
        print(f"  {label} {url}   ({rest})", flush=True)
    registry = redact_url(config.server.registry)
    print(f"  registry   {registry}  (node {gateway.cluster.node_id})", flush=True)
    admin = next((x for x in gateway.listeners if x.role == "admin"), None)
    if admin is not None and gateway.traces is not None:
        print(f"  traces     wsgate logs http://{admin.host}:{admin.port}", flush=True)
    if admin is not None and gateway.dashboard is not None:
        url = f"http://{admin.host}:{admin.port}{DASHBOARD_PATH}"
        print(f"  dashboard  {url}", flush=True)
    await stop.wait()
    print("wsgate: shutting down (closing connections with 1001)", file=sys.stderr, flush=True)
    await gateway.stop()


def _tune_garbage_collector() -> None:
    # Every message allocates short-lived dicts that reference counting frees; the cycle
    # collector's frequent young-generation passes cost a fifth of the data plane's time under
    # load. Start-up objects are moved out of its way and young passes made rarer.
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 20, 20)


_GC_YOUNG_THRESHOLD = 50_000


def _on_signal(stop: asyncio.Event) -> None:
    if stop.is_set():
        # A second signal means "now": skip the graceful deadline.
        raise SystemExit(130)
    stop.set()
