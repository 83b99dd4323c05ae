"""Read an API from a file that is either a wsgate config or a SAM/CloudFormation/CDK template.

A template is recognised by its content (a WebSocket ``AWS::ApiGatewayV2::Api`` among its
``Resources``), not by its name, so CDK's ``cdk.out/<Stack>.template.json`` is one too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wsgate.config.load import config_from_data, load_config
from wsgate.config.model import ApiConfig
from wsgate.config.template.options import TemplateOptions, stack_name_for
from wsgate.config.template.reader import is_template, read_template
from wsgate.config.template.translate import Translation, translate_template
from wsgate.errors import ConfigError, ConfigIssue

__all__ = ["LoadedApi", "load_api", "template_issue_place"]

# Config fields that hold maps keyed by the user's names, not by field names.
_NAMED_MAPS = frozenset(
    {
        "stageVariables",
        "requestTemplates",
        "responseTemplates",
        "requestParameters",
        "responseParameters",
        "routeSettings",
        "integrationResponses",
        "routeResponses",
        "requestModels",
        "environment",
    }
)


@dataclass(frozen=True, slots=True)
class LoadedApi:
    """An API config, and for a template what it skipped, what it noted and its outputs."""

    config: ApiConfig
    template: bool = False
    stack_name: str = ""
    skipped: list[ConfigIssue] = field(default_factory=list)
    notes: list[ConfigIssue] = field(default_factory=list)
    outputs: Mapping[str, Any] = field(default_factory=dict)


def load_api(path: str | Path, options: TemplateOptions) -> LoadedApi:
    """Load a config file or a template; relative paths resolve against its folder.

    Raises:
        ConfigError: the file cannot be read, or any part of it is invalid.
    """
    source = Path(path)
    try:
        data = read_template(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None  # load_config reports it as it reports any config file
    if not is_template(data):
        return LoadedApi(load_config(source, lambda_endpoint=options.lambda_endpoint))
    stack_name = options.stack_name or stack_name_for(source)
    template_dir = source.resolve().parent
    translation = translate_template(
        data, template_dir=template_dir, options=options, stack_name=stack_name
    )
    for file, text in translation.files.items():
        _write(file, text, str(source))
    issues = list(translation.issues)
    config = None
    try:
        config = config_from_data(
            translation.data,
            base_dir=template_dir,
            source=str(source),
            lambda_endpoint=options.lambda_endpoint,
        )
    except ConfigError as error:
        issues += [_in_template(issue, translation) for issue in error.issues]
    if issues or config is None:
        raise ConfigError(list(dict.fromkeys(issues)), str(source))
    return LoadedApi(
        config,
        template=True,
        stack_name=stack_name,
        skipped=translation.skipped,
        notes=translation.notes,
        outputs=translation.outputs,
    )


def _write(file: Path, text: str, source: str) -> None:
    try:
        if not file.is_file() or file.read_text(encoding="utf-8") != text:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
    except OSError as error:
        issue = ConfigIssue("", f"cannot write in-line code to {file}: {error.strerror}")
        raise ConfigError([issue], source) from error


def template_issue_place(path: str, origins: Mapping[tuple[str, ...], str]) -> str:
    """The template place of a config place.

    ``routes.x.target`` -> ``Resources.XRoute.Properties.Target``.
    """
    parts = tuple(path.split(".")) if path else ()
    for size in range(len(parts), -1, -1):
        if parts[:size] in origins:
            rest = []
            for index, part in enumerate(parts[size:], start=size):
                named = index > 0 and parts[index - 1] in _NAMED_MAPS
                rest.append(part if named else part[:1].upper() + part[1:])
            return ".".join([origins[parts[:size]], *rest])
    return path


def _in_template(issue: ConfigIssue, translation: Translation) -> ConfigIssue:
    return ConfigIssue(template_issue_place(issue.path, translation.origins), issue.message)
