"""The AWS services an ``AWS`` integration may call, and the checks of such integrations.

An ``AWS`` integration calls a Lambda function without the proxy envelope (Lambda custom,
§3.3) or an AWS service action or path (API Gateway's AWS service integration). The service is
named in the ARN as API Gateway names it: by its endpoint prefix (``states`` for Step
Functions, ``email`` for SES). The table below holds the services wsgate calls, with the SDK's
name for each and how API Gateway sends an ``action/{Action}`` to it; a unit test checks the
table against botocore's models, which the integration reads at run time for everything else
(signing name, API version, JSON target prefix, endpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from wsgate.config.uris import (
    STAGE_VARIABLE,
    function_name_from_uri,
    service_uri,
    substitute_stage_variables,
)
from wsgate.core.service_request import ActionStyle
from wsgate.errors import ConfigIssue

__all__ = ["AWS_SERVICES", "AwsService", "aws_integration_issues"]


@dataclass(frozen=True, slots=True)
class AwsService:
    """One service an ``AWS`` integration can call."""

    sdk_name: str  # botocore's (and boto3's) name for it
    style: ActionStyle


AWS_SERVICES: Final[Mapping[str, AwsService]] = {
    "dynamodb": AwsService("dynamodb", "json"),
    "email": AwsService("ses", "query"),
    "events": AwsService("events", "json"),
    "firehose": AwsService("firehose", "json"),
    "kinesis": AwsService("kinesis", "json"),
    "kms": AwsService("kms", "json"),
    "logs": AwsService("logs", "json"),
    "monitoring": AwsService("cloudwatch", "query"),
    "s3": AwsService("s3", "rest"),
    "secretsmanager": AwsService("secretsmanager", "json"),
    "sns": AwsService("sns", "query"),
    # The SDKs moved SQS to JSON in 2023; API Gateway's SQS integrations send the query form
    # (Action=SendMessage&MessageBody=...), which SQS still takes.
    "sqs": AwsService("sqs", "query"),
    "ssm": AwsService("ssm", "json"),
    "states": AwsService("stepfunctions", "json"),
    "sts": AwsService("sts", "query"),
}


def aws_integration_issues(
    place: str,
    integration: Mapping[str, Any],
    functions: Mapping[str, Any],
    stage_variables: Mapping[str, Mapping[str, str]],
) -> list[ConfigIssue]:
    """Every problem of one ``AWS`` integration's URI, on every stage.

    The templates, parameters and integration responses are checked as an HTTP integration's
    are (:func:`wsgate.config.checks.backend_issues`).
    """
    uri = integration.get("integrationUri")
    where = f"{place}.integrationUri"
    if not isinstance(uri, str) or not uri:
        return [ConfigIssue(where, "an AWS integration needs a Lambda function or a service ARN")]
    issues = []
    for stage, variables in stage_variables.items():
        at = f" (in stage {stage})" if STAGE_VARIABLE.search(uri) else ""
        try:
            text = substitute_stage_variables(uri, variables)
            target = service_uri(text)
        except ValueError as error:
            issues.append(ConfigIssue(where, f"stage {stage}: {error}" if at else str(error)))
            continue
        if target is None:
            function = function_name_from_uri(text, {})
            if function not in functions:
                issues.append(ConfigIssue(where, f"no function named {function!r}{at}"))
            continue
        service = AWS_SERVICES.get(target.service)
        if service is None:
            known = ", ".join(AWS_SERVICES)
            message = f"unknown service {target.service!r}{at}; wsgate calls {known}"
            issues.append(ConfigIssue(where, message))
        elif target.form == "action" and service.style == "rest":
            message = f"{target.service} has no actions{at}: name a path (path/...)"
            issues.append(ConfigIssue(where, message))
    return list(dict.fromkeys(issues))
