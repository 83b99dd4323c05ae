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
import sys
from collections.abc import Sequence
from pathlib import Path

from wsgate import __version__
from wsgate.cli.common import (
    EXIT_CERT_FILES,
    EXIT_INVALID_CONFIG,
    EXIT_OK,
    EXIT_USAGE,
    BadFlag,
    load_file,
    print_template,
    print_warnings,
)
from wsgate.cli.export import EXPORT_EPILOG, run_export
from wsgate.cli.serve import SERVE_EPILOG, run_serve
from wsgate.clients import management as management_client, traces as trace_client, ws as ws_client
from wsgate.config.load import load_config
from wsgate.config.template.export import EXPORT_FORMATS
from wsgate.config.template.options import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
)
from wsgate.errors import ConfigError, TlsError
from wsgate.registry import check_registry_url

__all__ = ["build_parser", "main"]


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
        epilog=SERVE_EPILOG,
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
    serve.set_defaults(func=run_serve)

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
        epilog=EXPORT_EPILOG,
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
    export.set_defaults(func=run_export)

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
        loaded = load_file(args)
        config = loaded.config
        check_registry_url(config.server.registry)
    except BadFlag as error:
        print(f"wsgate validate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID_CONFIG
    print_warnings(args.file, config)
    print_template(args.file, loaded)
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
