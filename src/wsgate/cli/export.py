"""``wsgate export``: a CloudFormation or SAM template of an API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wsgate.cli.common import (
    EXIT_INVALID_CONFIG,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    BadFlag,
    NotFound,
    load_file,
    template_options,
)
from wsgate.config.model import ApiConfig
from wsgate.config.template.export import export_template
from wsgate.config.template.load import load_api
from wsgate.config.template.writer import render_template
from wsgate.errors import ConfigError, ConfigIssue

EXPORT_EPILOG = """\
The template goes to stdout, or to --output (as JSON when FILE ends in .json). What of the API
has no AWS counterpart is left out and listed on stderr (wsgate export: warning: PLACE: MESSAGE);
docs/templates.md ("Export") says what and how to deploy.

exit status:
  0  template written
  1  invalid config file, or something no template can hold: every place is listed
  2  usage error (including an unknown --format)
  3  FILE, the --state or --config file, or the API id is not found; or --output cannot be written
"""


def run_export(args: argparse.Namespace) -> int:
    try:
        config, source, skipped = _export_source(args)
    except BadFlag as error:
        print(f"wsgate export: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NotFound as error:
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
        BadFlag: ``--config`` without ``--state``, or a template flag that does not apply.
        NotFound: the file, the state file or the API id is not there.
        ConfigError: the file or the kept definition is invalid.
    """
    if args.state is None:
        if args.config is not None:
            raise BadFlag("--config: only with --state (the config `wsgate serve` ran with)")
        if not Path(args.file).is_file():
            raise NotFound(
                f"{args.file}: no such file (an API kept by the control plane is exported "
                "by its id, with --state FILE)"
            )
        loaded = load_file(args)
        skipped = [
            ConfigIssue(issue.path, f"{issue.message.partition(': ')[0]}: not part of the API")
            for issue in loaded.skipped
        ]
        return loaded.config, args.file, skipped
    from wsgate.config.stored import stored_config
    from wsgate.server.apistore import read_definitions

    state = Path(args.state)
    if not state.is_file():
        raise NotFound(f"--state {state}: no such file")
    try:
        definitions = read_definitions(state)
    except OSError as error:
        raise NotFound(f"--state {state}: {error}") from error
    definition = definitions.get(args.file)
    if definition is None:
        kept = ", ".join(f"{api_id} ({d['api']['name']})" for api_id, d in definitions.items())
        raise NotFound(f"no API with id {args.file!r} in {state} (kept: {kept or 'none'})")
    functions = {}
    if args.config is not None:
        if not Path(args.config).is_file():
            raise NotFound(f"--config {args.config}: no such file")
        functions = load_api(args.config, template_options(args)).config.functions
    source = f"{state} (API {args.file})"
    config = stored_config(definition, functions, base_dir=state.resolve().parent, source=source)
    return config, source, []
