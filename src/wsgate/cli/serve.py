"""``wsgate serve``: the gateway in the foreground until a signal, with ``--watch``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsgate import __version__
from wsgate.config.model import ApiConfig
from wsgate.errors import ConfigError, ConfigIssue
from wsgate.observability.logs import configure_logging
from wsgate.registry import check_registry_url, redact_url
from wsgate.security.local import LOCAL_PROFILE

if TYPE_CHECKING:
    from wsgate.server.app import Gateway

from wsgate.cli.common import (
    EXIT_INVALID_CONFIG,
    EXIT_OK,
    EXIT_USAGE,
    BadFlag,
    load_file,
    print_template,
    print_warnings,
)

SERVE_EPILOG = """\
Warnings about the config file (FILE: warning: PLACE: MESSAGE) go to stderr before the URLs.

exit status:
  0  stopped by SIGINT or SIGTERM
  1  invalid config file: every error is listed with its place
  2  usage error (including a bad --port, --stage or --registry)
  130  a second SIGINT or SIGTERM: stopped without waiting for connections to close
"""


def run_serve(args: argparse.Namespace) -> int:
    try:
        loaded = load_file(args)
    except BadFlag as error:
        print(f"wsgate serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    try:
        config = _configure(loaded.config, args)
    except BadFlag as error:
        print(f"wsgate serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # The file's registry, unless --registry replaced it (and was checked in its place).
        check_registry_url(config.server.registry)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    print_warnings(args.file, config)
    print_template(args.file, loaded)
    json_lines = None if args.log_format is None else args.log_format == "json"
    configure_logging(args.log_level, json_lines=json_lines)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        base_dir = Path(args.file).resolve().parent
        try:
            runner.run(
                _run_gateway(
                    config,
                    reload=args.reload,
                    base_dir=base_dir,
                    state=args.state,
                    watch=(Path(args.file), _reader(args)) if args.watch else None,
                )
            )
        except ConfigError as error:  # e.g. the local secrets folder cannot be written
            print(error, file=sys.stderr)
            return EXIT_INVALID_CONFIG
    return EXIT_OK


def _configure(config: ApiConfig, args: argparse.Namespace) -> ApiConfig:
    """Apply the flags to ``config``.

    Raises:
        BadFlag: ``--stage`` names no stage of the API, or ``--registry`` cannot work.
    """
    server: dict[str, Any] = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    if args.admin_port is not None:
        server["admin_port"] = args.admin_port
    if args.registry is not None:
        try:
            check_registry_url(args.registry)
        except ConfigError as error:
            raise BadFlag("; ".join(f"--registry: {x.message}" for x in error.issues)) from error
        server["registry"] = args.registry
    if args.node_id is not None:
        server["node_id"] = args.node_id
    if args.state is not None and server.get("admin_port", config.server.admin_port) is None:
        raise BadFlag(
            "--state: the control plane is served on the admin listener; "
            "set --admin-port or server.adminPort"
        )
    update: dict[str, Any] = {"server": config.server.model_copy(update=server)}
    if args.stage is not None:
        if args.stage not in config.stages:
            known = ", ".join(config.stages)
            raise BadFlag(f"--stage: no stage {args.stage!r} in {args.file} (known: {known})")
        update["stages"] = {args.stage: config.stages[args.stage]}
    return config.model_copy(update=update)


def _reader(args: argparse.Namespace) -> Callable[[], ApiConfig]:
    """Reads the served file again as at start, flags applied (``serve --watch``)."""

    def read() -> ApiConfig:
        try:
            return _configure(load_file(args).config, args)
        except BadFlag as error:
            raise ConfigError([ConfigIssue(args.file, str(error))]) from error

    return read


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return None
    return uvloop.new_event_loop


async def _run_gateway(
    config: ApiConfig,
    *,
    reload: bool,
    base_dir: Path,
    state: str | None = None,
    watch: tuple[Path, Callable[[], ApiConfig]] | None = None,
) -> None:
    from wsgate.server.app import Gateway
    from wsgate.server.dashboard import DASHBOARD_PATH
    from wsgate.server.watch import watch_config

    gateway = Gateway(config, reload=reload, base_dir=base_dir, state=state)
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
    local = gateway.local
    if config.server.management_authorization == "AWS_IAM":
        print(
            f"  signing    @connections needs SigV4; local functions and `wsgate post` sign with "
            f"{local.access_key_id} ({local.credentials_file}, profile {LOCAL_PROFILE})",
            flush=True,
        )
    else:
        print(
            "wsgate: warning: managementAuthorization is NONE: anyone who reaches "
            f"{_management_listeners(gateway)} can list, post to and close every connection",
            file=sys.stderr,
            flush=True,
        )
    admin = next((x for x in gateway.listeners if x.role == "admin"), None)
    if admin is not None and gateway.traces is not None:
        print(f"  traces     wsgate logs http://{admin.host}:{admin.port}", flush=True)
    if admin is not None and gateway.dashboard is not None:
        url = f"http://{admin.host}:{admin.port}{DASHBOARD_PATH}"
        if gateway.admin_access.require_token:
            url += f"?token={local.admin_token}"
        print(f"  dashboard  {url}", flush=True)
    watching = None
    if watch is not None:
        path, read = watch
        watching = asyncio.create_task(watch_config(path, read, gateway, stop))
        print(f"  watching   {path} (saved versions apply without a restart)", flush=True)
    await stop.wait()
    if watching is not None:
        await watching
    print("wsgate: shutting down (closing connections with 1001)", file=sys.stderr, flush=True)
    await gateway.stop()


def _management_listeners(gateway: Gateway) -> str:
    """The listeners that serve ``@connections``, for the warning about an open API."""
    serving = [
        f"{listener.host}:{listener.port}"
        for listener in gateway.listeners
        if listener.role == "admin" or gateway.config.server.management_on_public
    ]
    return " and ".join(serving) or "no listener"


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
