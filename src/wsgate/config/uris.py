"""Integration and authorizer URIs: stage variables substituted, Lambda ARNs read as names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["STAGE_VARIABLE", "function_name_from_uri", "substitute_stage_variables"]

# arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations
_LAMBDA_PATH: Final = re.compile(
    r"^arn:aws[\w-]*:apigateway:[^:]*:lambda:path/[^/]+/functions/(.+)/invocations$"
)
_FUNCTION_ARN: Final = re.compile(
    r"^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:([^:/]+)(?::[^:/]+)?$"
)
STAGE_VARIABLE: Final = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def substitute_stage_variables(text: str, stage_variables: Mapping[str, str]) -> str:
    """Replace ``${stageVariables.x}`` in an integration URI with the stage's values.

    Raises:
        ValueError: a stage variable it names is not set.
    """

    def substitute(match: re.Match[str]) -> str:
        variable = match[1]
        if variable not in stage_variables:
            raise ValueError(f"stage variable {variable!r} is not set")
        return stage_variables[variable]

    return STAGE_VARIABLE.sub(substitute, text)


def function_name_from_uri(uri: str, stage_variables: Mapping[str, str]) -> str:
    """The local function an AWS_PROXY ``integrationUri`` names.

    Accepts a plain function name, a Lambda function ARN (with alias or version) and API
    Gateway's invocation URI, each possibly holding ``${stageVariables.x}``.

    Raises:
        ValueError: a stage variable it names is not set.
    """

    text = substitute_stage_variables(uri, stage_variables)
    invocation = _LAMBDA_PATH.match(text)
    if invocation:
        text = invocation[1]
    arn = _FUNCTION_ARN.match(text)
    if arn:
        return arn[1]
    return text
