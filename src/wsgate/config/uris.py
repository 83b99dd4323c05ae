"""Integration and authorizer URIs: stage variables substituted, Lambda ARNs read as names,
API Gateway's AWS service ARNs read into their parts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

from wsgate.core.service_request import ServiceUri

__all__ = [
    "STAGE_VARIABLE",
    "ServiceUri",
    "function_name_from_uri",
    "service_uri",
    "substitute_stage_variables",
]

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


# arn:{partition}:apigateway:{region}:{service}:{action|path}/{rest} (§3.1; API Gateway's
# Integration.uri for AWS integrations).
_APIGATEWAY_ARN: Final = re.compile(r"^arn:aws[\w-]*:apigateway:([^:]*):([^:]*):(.*)$")
_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_SERVICE: Final = re.compile(r"[a-z][a-z0-9-]*")
_ACTION: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_LAMBDA_FORM: Final = (
    "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations"
)


def service_uri(uri: str) -> ServiceUri | None:
    """The AWS service an ``AWS`` integration's URI calls; None when it names a function.

    A function is named as AWS_PROXY names one: API Gateway's Lambda invocation URI, a Lambda
    function ARN, or a plain name (see :func:`function_name_from_uri`). Stage variables must
    already be substituted.

    Raises:
        ValueError: an API Gateway ARN that is malformed, or a Lambda one naming no function.
    """
    arn = _APIGATEWAY_ARN.match(uri)
    if arn is None:
        return None
    region, service, rest = arn.groups()
    if service == "lambda":
        invocation = _LAMBDA_PATH.match(uri)
        if invocation is None or not _FUNCTION_ARN.match(invocation[1]):
            raise ValueError(f"{uri!r} names no Lambda function; expected {_LAMBDA_FORM}")
        return None
    if not _REGION.fullmatch(region):
        raise ValueError(f"{uri!r}: {region!r} is not a region (us-east-1, eu-west-3, ...)")
    if "." in service:
        raise ValueError(f"{uri!r}: service subdomains ({service}) are not served")
    if not _SERVICE.fullmatch(service):
        raise ValueError(f"{uri!r}: {service!r} is not a service name")
    form, slash, target = rest.partition("/")
    if form == "path" and slash:
        return ServiceUri(region, service, "path", target)
    if form != "action" or not slash:
        raise ValueError(f"{uri!r}: expected action/{{Action}} or path/{{path}} after the service")
    name, _, query = target.partition("&")
    if not _ACTION.fullmatch(name):
        raise ValueError(f"{uri!r}: {name!r} is not an action name")
    return ServiceUri(region, service, "action", name, tuple(parse_qsl(query, True)))
