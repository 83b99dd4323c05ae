"""What a template is read with: parameter overrides, environment files, pseudo-parameters.

Every value CloudFormation would take from the account or the deployment has a local default
that a flag overrides: the region, the account, the stack's name.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGION",
    "TemplateOptions",
    "parse_env_vars",
    "parse_parameter_overrides",
    "pseudo_parameters",
    "stack_name_for",
]

DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT_ID: Final = "123456789012"


@dataclass(frozen=True, slots=True)
class TemplateOptions:
    """The deployment's side of a template: what ``sam deploy`` or CloudFormation would supply.

    ``env_vars`` is SAM CLI's ``--env-vars`` file: ``{"<LogicalId>": {...}, "Parameters": {...}}``
    (``Parameters`` applies to every function). ``home`` holds the folder where in-line code is
    written (``$WSGATE_HOME/templates/<hash>/``).
    """

    home: Path
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    env_vars: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    stack_name: str | None = None
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    # A Lambda Invoke endpoint that runs every function (wsgate serve --lambda-endpoint).
    lambda_endpoint: str | None = None


def stack_name_for(path: Path) -> str:
    """The default stack name: the template file's stem (``Chat.template.json`` -> ``Chat``)."""
    name = path.name.split(".")[0]
    cleaned = "".join(char if char.isalnum() or char == "-" else "-" for char in name).strip("-")
    return cleaned or "wsgate"


def parse_parameter_overrides(items: Sequence[str]) -> dict[str, str]:
    """SAM CLI's ``--parameter-overrides``: ``K=V`` or ``ParameterKey=K,ParameterValue=V``.

    Raises:
        ValueError: an item has neither form.
    """
    values: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key, sep, value = item.removeprefix("ParameterKey=").partition(",ParameterValue=")
        else:
            key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(
                f"{item!r}: expected KEY=VALUE or ParameterKey=KEY,ParameterValue=VALUE"
            )
        values[key] = value
    return values


def parse_env_vars(data: object) -> dict[str, dict[str, str]]:
    """SAM CLI's ``--env-vars`` JSON: objects of variables, keyed by function or ``Parameters``.

    Raises:
        ValueError: the shape is not an object of objects of scalars.
    """
    if not isinstance(data, dict):
        raise ValueError('expected {"FunctionLogicalId": {"VAR": "value"}, "Parameters": {...}}')
    result: dict[str, dict[str, str]] = {}
    for name, variables in data.items():
        if not isinstance(variables, dict):
            raise ValueError(f"{name}: expected an object of variables")
        result[name] = {}
        for variable, value in variables.items():
            if isinstance(value, dict | list) or value is None:
                raise ValueError(f"{name}.{variable}: expected a string, number or boolean")
            result[name][variable] = _text(value)
    return result


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def pseudo_parameters(options: TemplateOptions, stack_name: str) -> dict[str, object]:
    """``AWS::Region`` and the others, with the local values they stand for."""
    digest = hashlib.sha256(f"{options.account_id}/{stack_name}".encode()).digest()
    stack_uuid = uuid.UUID(bytes=digest[:16], version=4)
    return {
        "AWS::Region": options.region,
        "AWS::AccountId": options.account_id,
        "AWS::StackName": stack_name,
        "AWS::StackId": (
            f"arn:aws:cloudformation:{options.region}:{options.account_id}:"
            f"stack/{stack_name}/{stack_uuid}"
        ),
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }
