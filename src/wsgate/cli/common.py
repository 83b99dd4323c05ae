"""What the commands share: exit statuses, loading the file a command names, warnings."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from wsgate.config.checks import config_warnings
from wsgate.config.model import ApiConfig
from wsgate.config.template.load import LoadedApi, load_api
from wsgate.config.template.options import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    TemplateOptions,
    parse_env_vars,
    parse_parameter_overrides,
)
from wsgate.security.local import wsgate_home

EXIT_OK = 0

EXIT_INVALID_CONFIG = 1

EXIT_USAGE = 2  # argparse exits with 2 on its own errors; bad flag values do the same

EXIT_CERT_FILES = 3

EXIT_NOT_FOUND = 3  # wsgate export: the file, the state file or the API is not there


class BadFlag(Exception):
    """A flag's value that argparse's types cannot judge alone, such as an unknown stage."""


class NotFound(Exception):
    """What ``wsgate export`` reads is not there: a file, a state file, an API id."""


def template_options(args: argparse.Namespace) -> TemplateOptions:
    """The template flags as options.

    Raises:
        BadFlag: an override or the ``--env-vars`` file cannot be read.
    """
    try:
        overrides = parse_parameter_overrides(args.parameter_overrides)
    except ValueError as error:
        raise BadFlag(f"--parameter-overrides: {error}") from error
    env_vars: dict[str, dict[str, str]] = {}
    if args.env_vars is not None:
        try:
            env_vars = parse_env_vars(json.loads(Path(args.env_vars).read_text(encoding="utf-8")))
        except OSError as error:
            raise BadFlag(f"--env-vars: cannot read {args.env_vars}: {error.strerror}") from error
        except ValueError as error:  # JSON's errors too
            raise BadFlag(f"--env-vars: {args.env_vars}: {error}") from error
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


def load_file(args: argparse.Namespace) -> LoadedApi:
    """Load the file the command names, config or template.

    Raises:
        BadFlag: a template flag is malformed, or given for a file that is not a template.
        ConfigError: the file is invalid.
    """
    loaded = load_api(args.file, template_options(args))
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
            raise BadFlag(f"{', '.join(given)}: only for templates; {args.file} is a config file")
    return loaded


def print_template(file: str, loaded: LoadedApi) -> None:
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


def print_warnings(file: str, config: ApiConfig) -> None:
    """Report what loads but is most likely a slip; warnings never change the exit status."""
    for issue in config_warnings(config):
        print(f"{file}: warning: {issue}", file=sys.stderr)
