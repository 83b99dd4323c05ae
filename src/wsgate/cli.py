"""The ``wsgate`` command: serve, validate, export, cert, connect, post, get, delete, trace, logs.

Thin by design: arguments become config values, then the library does the work. ``main(argv)``
returns the exit code so tests can call it directly.

Exit statuses follow one scheme, documented in each command's ``--help``: 0 is success and 2 a
usage error (argparse's own convention: a bad flag or flag value) for every command; 1, 3 and 4
mean what the command's epilog says, 1 being an invalid config file for ``serve`` and
``validate``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsgate import __version__
from wsgate.clients import management as management_client, traces as trace_client, ws as ws_client
from wsgate.config.checks import config_warnings
from wsgate.config.load import load_config
from wsgate.config.model import ApiConfig
from wsgate.config.template.export import EXPORT_FORMATS, export_template
from wsgate.config.template.load import LoadedApi, load_api
from wsgate.config.template.options import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    TemplateOptions,
    parse_env_vars,
    parse_parameter_overrides,
)
from wsgate.config.template.writer import render_template
from wsgate.errors import ConfigError, ConfigIssue, TlsError
from wsgate.observability.logs import configure_logging
from wsgate.registry import check_registry_url, redact_url
from wsgate.security.local import LOCAL_PROFILE, wsgate_home

if TYPE_CHECKING:
    from wsgate.server.app import Gateway

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_INVALID_CONFIG = 1
EXIT_USAGE = 2  # argparse exits with 2 on its own errors; bad flag values do the same
EXIT_CERT_FILES = 3
EXIT_NOT_FOUND = 3  # wsgate export: the file, the state file or the API is not there

_SERVE_EPILOG = """\
Warnings about the config file (FILE: warning: PLACE: MESSAGE) go to stderr before the URLs.

exit status:
  0  stopped by SIGINT or SIGTERM
  1  invalid config file: every error is listed with its place
  2  usage error (including a bad --port, --stage or --registry)
  130  a second SIGINT or SIGTERM: stopped without waiting for connections to close
"""

_VALIDATE_EPILOG = """\
Errors and warnings (FILE: warning: PLACE: MESSAGE) go to stderr; warnings alone still pass.

exit status:
  0  valid
  1  invalid config file: every error is listed with its place
  2  usage error
"""

_CERT_EPILOG = """\
exit status:
  0  success
  1  invalid --config file
  2  usage error (including a name that is neither a host name nor an IP address)
  3  the files in --dir cannot be created, read or written (or hold an unusable CA)
"""


_EXPORT_EPILOG = """\
The template goes to stdout, or to --output (as JSON when FILE ends in .json). What of the API
has no AWS counterpart is left out and listed on stderr (wsgate export: warning: PLACE: MESSAGE);
docs/templates.md ("Export") says what and how to deploy.

exit status:
  0  template written
  1  invalid config file, or something no template can hold: every place is listed
  2  usage error (including an unknown --format)
  3  FILE, the --state or --config file, or the API id is not found; or --output cannot be written
"""


class _BadFlag(Exception):
    """A flag's value that argparse's types cannot judge alone, such as an unknown stage."""


class _NotFound(Exception):
    """What ``wsgate export`` reads is not there: a file, a state file, an API id."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="wsgate",
        description="A WebSocket API gateway compatible with Amazon API Gateway WebSocket APIs.",
        epilog="Every command exits with 0 on success and 2 on a usage error; see its --help.",
    )
    parser.add_argument("--version", action="version", version=f"wsgate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve an API described by a config file",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "file", help="the API's config file, or a SAM/CloudFormation/CDK template (YAML or JSON)"
    )
    serve.add_argument("--host", help="public listener address (default: config, 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="public listener port (0 picks a free one)")
    serve.add_argument(
        "--admin-port",
        type=_port,
        help="also serve @connections, traces and the dashboard on this port",
    )
    serve.add_argument("--stage", help="serve only this stage")
    serve.add_argument(
        "--state",
        help="keep the APIs defined through the control plane (/v2/apis on the admin listener) "
        "in this SQLite file, and serve them again on start",
    )
    serve.add_argument(
        "--registry", help="share connections with other nodes: redis://, rediss:// or unix://"
    )
    serve.add_argument("--node-id", help="this node's name in the registry (default host:pid)")
    serve.add_argument("--reload", action="store_true", help="reload function code on change")
    serve.add_argument(
        "--watch",
        action="store_true",
        help="apply each saved version of the file without a restart; open connections stay",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format", choices=["json", "text"], help="default: text on a terminal, else JSON"
    )
    _add_template_flags(serve)
    _add_lambda_flag(serve)
    serve.set_defaults(func=_serve)

    validate = commands.add_parser(
        "validate",
        help="check a config file and report every error",
        epilog=_VALIDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("file", help="a config file, or a SAM/CloudFormation/CDK template")
    _add_template_flags(validate)
    _add_lambda_flag(validate)
    validate.set_defaults(func=_validate)

    cert = commands.add_parser(
        "cert",
        help="make a local CA and a certificate for wss:// and https://",
        epilog=_CERT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cert.add_argument("names", nargs="*", help="DNS names and IP addresses (default: localhost)")
    cert.add_argument("--dir", default=".wsgate/tls", help="where to write (default .wsgate/tls)")
    cert.add_argument("--config", help="also take server.domainName from this config file")
    cert.set_defaults(func=_cert)

    export = commands.add_parser(
        "export",
        help="write a CloudFormation or SAM template that deploys the API to AWS",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument(
        "file",
        metavar="API_OR_FILE",
        help="a config file or SAM/CloudFormation/CDK template; with --state, an API's id",
    )
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS, dest="export_format")
    export.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
    export.add_argument(
        "--state",
        metavar="FILE",
        help="the SQLite file of `wsgate serve --state`: export the API it keeps with that id",
    )
    export.add_argument(
        "--config",
        metavar="FILE",
        help="with --state: the config `wsgate serve` ran with, whose functions the API calls "
        "(without it they are existing Lambda functions, referred to by name)",
    )
    _add_template_flags(export)
    export.set_defaults(func=_export)

    ws_client.add_parser(commands)
    management_client.add_parsers(commands)
    trace_client.add_parsers(commands)
    return parser


def _add_lambda_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lambda-endpoint",
        metavar="URL",
        help="run every function at this Lambda Invoke endpoint (sam local start-lambda, an "
        "emulator, https://lambda.REGION.amazonaws.com) unless it names its own",
    )


def _add_template_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("templates (SAM, CloudFormation, CDK; see docs/templates.md)")
    group.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as SAM CLI takes them (also ParameterKey=K,ParameterValue=V)",
    )
    group.add_argument(
        "--env-vars",
        metavar="FILE",
        help='SAM CLI\'s JSON: {"FunctionLogicalId": {"VAR": "v"}, "Parameters": {...}}; '
        "variables are added to the functions' environment",
    )
    group.add_argument("--stack-name", help="AWS::StackName (default: the file's stem)")
    group.add_argument(
        "--region", help=f"AWS::Region (default: AWS_REGION, AWS_DEFAULT_REGION, {DEFAULT_REGION})"
    )
    group.add_argument(
        "--account-id", help=f"AWS::AccountId (default: AWS_ACCOUNT_ID, {DEFAULT_ACCOUNT_ID})"
    )


def _template_options(args: argparse.Namespace) -> TemplateOptions:
    """The template flags as options.

    Raises:
        _BadFlag: an override or the ``--env-vars`` file cannot be read.
    """
    try:
        overrides = parse_parameter_overrides(args.parameter_overrides)
    except ValueError as error:
        raise _BadFlag(f"--parameter-overrides: {error}") from error
    env_vars: dict[str, dict[str, str]] = {}
    if args.env_vars is not None:
        try:
            env_vars = parse_env_vars(json.loads(Path(args.env_vars).read_text(encoding="utf-8")))
        except OSError as error:
            raise _BadFlag(f"--env-vars: cannot read {args.env_vars}: {error.strerror}") from error
        except ValueError as error:  # JSON's errors too
            raise _BadFlag(f"--env-vars: {args.env_vars}: {error}") from error
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    account = args.account_id or os.environ.get("AWS_ACCOUNT_ID")
    return TemplateOptions(
        home=wsgate_home(),
        parameter_overrides=overrides,
        env_vars=env_vars,
        stack_name=args.stack_name,
        region=region or DEFAULT_REGION,
        account_id=account or DEFAULT_ACCOUNT_ID,
        lambda_endpoint=getattr(args, "lambda_endpoint", None),
    )


def _load(args: argparse.Namespace) -> LoadedApi:
    """Load the file the command names, config or template.

    Raises:
        _BadFlag: a template flag is malformed, or given for a file that is not a template.
        ConfigError: the file is invalid.
    """
    loaded = load_api(args.file, _template_options(args))
    if not loaded.template:
        given = [
            flag
            for flag, value in (
                ("--parameter-overrides", args.parameter_overrides),
                ("--env-vars", args.env_vars),
                ("--stack-name", args.stack_name),
                ("--region", args.region),
                ("--account-id", args.account_id),
            )
            if value
        ]
        if given:
            raise _BadFlag(f"{', '.join(given)}: only for templates; {args.file} is a config file")
    return loaded


def _print_template(file: str, loaded: LoadedApi) -> None:
    """What a template left aside (once, at start) and its outputs, with local values."""
    if not loaded.template:
        return
    config = loaded.config
    print(
        f"{file}: template, stack {loaded.stack_name!r} "
        f"(region {config.region}, account {config.account_id})"
    )
    for issue in loaded.skipped:
        print(f"  skipped  {issue}")
    if loaded.skipped:
        print(
            "  functions reach the real AWS services for skipped resources; point them at local "
            "stand-ins with --env-vars FILE, e.g. "
            '{"Parameters": {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}}'
        )
    for issue in loaded.notes:
        print(f"  note     {issue}")
    for name, value in loaded.outputs.items():
        text = value if isinstance(value, str) else json.dumps(value)
        print(f"  output   {name} = {text}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # a usage error (2), or --help and --version (0)
        return int(exit_.code or 0)
    result: int = args.func(args)
    return result


def _port(text: str) -> int:
    """Argparse type for a TCP port, where 0 picks a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def _validate(args: argparse.Namespace) -> int:
    try:
        loaded = _load(args)
        config = loaded.config
        check_registry_url(config.server.registry)
    except _BadFlag as error:
        print(f"wsgate validate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    _print_warnings(args.file, config)
    _print_template(args.file, loaded)
    routes = ", ".join(config.routes) or "none"
    stages = ", ".join(config.stages)
    print(f"{args.file}: valid (API {config.name!r}, stages: {stages}, routes: {routes})")
    return EXIT_OK


def _print_warnings(file: str, config: ApiConfig) -> None:
    """Report what loads but is most likely a slip; warnings never change the exit status."""
    for issue in config_warnings(config):
        print(f"{file}: warning: {issue}", file=sys.stderr)


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
    except TlsError as error:
        return _cert_failure(error, names)
    except OSError as error:  # a folder on the way that cannot be searched
        print(
            f"wsgate cert: cannot access {error.filename or folder}: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_CERT_FILES
    chain = cert  # the chain a server presents: the certificate, then the CA
    print(f"certificate for {', '.join(names)}")
    print(f"  CA:          {ca[0]}")
    print(f"  certificate: {chain}\n  key:         {key}")
    print("\nin the config:\n  server:\n    tls:")
    print(f"      certFile: {chain.resolve()}\n      keyFile: {key.resolve()}")
    print(f"      caFile: {ca[0].resolve()}   # local functions get it as AWS_CA_BUNDLE")
    print(f"for other clients (boto3, the AWS CLI): export AWS_CA_BUNDLE={ca[0].resolve()}")
    return EXIT_OK


def _cert_failure(error: TlsError, names: list[str]) -> int:
    """Report a failed ``wsgate cert``: a bad name is a usage error, the rest is about files."""
    if isinstance(error.__cause__, OSError):
        # The file system refused ("cannot write: Permission denied"): say so, with the path.
        action, _, reason = error.reason.partition(": ")
        print(f"wsgate cert: {action} {error.path}: {reason}", file=sys.stderr)
        return EXIT_CERT_FILES
    print(f"wsgate cert: {error}", file=sys.stderr)
    return EXIT_USAGE if error.path in names else EXIT_CERT_FILES


def _export(args: argparse.Namespace) -> int:
    try:
        config, source, skipped = _export_source(args)
    except _BadFlag as error:
        print(f"wsgate export: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except _NotFound as error:
        print(f"wsgate export: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    output = None if args.output is None else Path(args.output)
    base_dir = (Path.cwd() if output is None else output.parent).resolve()
    try:
        exported = export_template(config, args.export_format, base_dir=base_dir, source=source)
    except ConfigError as error:
        print(f"wsgate export: {source}: cannot be deployed to AWS as it is", file=sys.stderr)
        for issue in error.issues:
            print(f"  {issue}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    for issue in [*skipped, *exported.notes]:
        print(f"wsgate export: warning: {issue}", file=sys.stderr)
    as_json = output is not None and output.suffix == ".json"
    text = render_template(exported.template, as_json=as_json)
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"wsgate export: cannot write {output}: {error.strerror}", file=sys.stderr)
        return EXIT_NOT_FOUND
    count = len(exported.template["Resources"])
    print(f"wsgate export: wrote {output} ({args.export_format}, {count} resources)")
    if args.export_format == "sam":
        print(f"  deploy: sam build -t {output} && sam deploy --guided")
    else:
        print(
            "  deploy: zip each code folder to the S3 keys its parameters name, then "
            f"aws cloudformation deploy --template-file {output} --stack-name NAME "
            "--capabilities CAPABILITY_IAM --parameter-overrides CodeBucket=BUCKET"
        )
    return EXIT_OK


def _export_source(args: argparse.Namespace) -> tuple[ApiConfig, str, list[ConfigIssue]]:
    """The config ``wsgate export`` names (a file's, or a kept API's), what to call it, and the
    resources of a template that are not part of the API, which the export leaves out.

    Raises:
        _BadFlag: ``--config`` without ``--state``, or a template flag that does not apply.
        _NotFound: the file, the state file or the API id is not there.
        ConfigError: the file or the kept definition is invalid.
    """
    if args.state is None:
        if args.config is not None:
            raise _BadFlag("--config: only with --state (the config `wsgate serve` ran with)")
        if not Path(args.file).is_file():
            raise _NotFound(
                f"{args.file}: no such file (an API kept by the control plane is exported "
                "by its id, with --state FILE)"
            )
        loaded = _load(args)
        skipped = [
            ConfigIssue(issue.path, f"{issue.message.partition(': ')[0]}: not part of the API")
            for issue in loaded.skipped
        ]
        return loaded.config, args.file, skipped
    from wsgate.config.stored import stored_config
    from wsgate.server.apistore import read_definitions

    state = Path(args.state)
    if not state.is_file():
        raise _NotFound(f"--state {state}: no such file")
    try:
        definitions = read_definitions(state)
    except OSError as error:
        raise _NotFound(f"--state {state}: {error}") from error
    definition = definitions.get(args.file)
    if definition is None:
        kept = ", ".join(f"{api_id} ({d['api']['name']})" for api_id, d in definitions.items())
        raise _NotFound(f"no API with id {args.file!r} in {state} (kept: {kept or 'none'})")
    functions = {}
    if args.config is not None:
        if not Path(args.config).is_file():
            raise _NotFound(f"--config {args.config}: no such file")
        functions = load_api(args.config, _template_options(args)).config.functions
    source = f"{state} (API {args.file})"
    config = stored_config(definition, functions, base_dir=state.resolve().parent, source=source)
    return config, source, []


def _serve(args: argparse.Namespace) -> int:
    try:
        loaded = _load(args)
    except _BadFlag as error:
        print(f"wsgate serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    try:
        config = _configure(loaded.config, args)
    except _BadFlag as error:
        print(f"wsgate serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # The file's registry, unless --registry replaced it (and was checked in its place).
        check_registry_url(config.server.registry)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    _print_warnings(args.file, config)
    _print_template(args.file, loaded)
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
        _BadFlag: ``--stage`` names no stage of the API, or ``--registry`` cannot work.
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
            raise _BadFlag("; ".join(f"--registry: {x.message}" for x in error.issues)) from error
        server["registry"] = args.registry
    if args.node_id is not None:
        server["node_id"] = args.node_id
    if args.state is not None and server.get("admin_port", config.server.admin_port) is None:
        raise _BadFlag(
            "--state: the control plane is served on the admin listener; "
            "set --admin-port or server.adminPort"
        )
    update: dict[str, Any] = {"server": config.server.model_copy(update=server)}
    if args.stage is not None:
        if args.stage not in config.stages:
            known = ", ".join(config.stages)
            raise _BadFlag(f"--stage: no stage {args.stage!r} in {args.file} (known: {known})")
        update["stages"] = {args.stage: config.stages[args.stage]}
    return config.model_copy(update=update)


def _reader(args: argparse.Namespace) -> Callable[[], ApiConfig]:
    """Reads the served file again as at start, flags applied (``serve --watch``)."""

    def read() -> ApiConfig:
        try:
            return _configure(_load(args).config, args)
        except _BadFlag as error:
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
