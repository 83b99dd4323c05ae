"""AWS integrations at config load: their URIs read into parts, every problem with its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsgate.config.load import config_from_data
from wsgate.config.services import AWS_SERVICES, aws_integration_issues
from wsgate.config.uris import ServiceUri, service_uri
from wsgate.errors import ConfigError, ConfigIssue

_LAMBDA = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:{name}/invocations"
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("custom", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:custom", None),
        (_LAMBDA.format(name="custom"), None),
        (
            "arn:aws:apigateway:us-east-1:sqs:path/123456789012/queue",
            ServiceUri("us-east-1", "sqs", "path", "123456789012/queue"),
        ),
        ("arn:aws:apigateway:eu-west-3:sns:path//", ServiceUri("eu-west-3", "sns", "path", "/")),
        (
            "arn:aws:apigateway:us-gov-west-1:dynamodb:action/PutItem",
            ServiceUri("us-gov-west-1", "dynamodb", "action", "PutItem"),
        ),
        (
            "arn:aws-cn:apigateway:cn-north-1:sqs:action/SendMessage&QueueUrl=q%2F1&MessageBody=",
            ServiceUri(
                "cn-north-1",
                "sqs",
                "action",
                "SendMessage",
                (("QueueUrl", "q/1"), ("MessageBody", "")),
            ),
        ),
    ],
)
def test_service_uri_reads_the_arn(uri, expected):
    assert service_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions",
            "names no Lambda function; expected arn:aws:apigateway:{region}:lambda:path/",
        ),
        (
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/custom/invocations",
            "names no Lambda function",
        ),
        ("arn:aws:apigateway::sqs:action/SendMessage", "'' is not a region"),
        ("arn:aws:apigateway:US-EAST-1:sqs:action/SendMessage", "'US-EAST-1' is not a region"),
        ("arn:aws:apigateway:us-east-1:bucket.s3:path/key", "subdomains (bucket.s3) are not"),
        ("arn:aws:apigateway:us-east-1:SQS:action/SendMessage", "'SQS' is not a service name"),
        ("arn:aws:apigateway:us-east-1:sqs:SendMessage", "expected action/{Action} or path/"),
        ("arn:aws:apigateway:us-east-1:sqs:action", "expected action/{Action} or path/"),
        ("arn:aws:apigateway:us-east-1:sqs:verb/SendMessage", "expected action/{Action} or path/"),
        ("arn:aws:apigateway:us-east-1:sqs:action/", "'' is not an action name"),
        ("arn:aws:apigateway:us-east-1:sqs:action/Send-Message", "'Send-Message' is not an"),
    ],
)
def test_service_uri_refuses_malformed_arns(uri, message):
    with pytest.raises(ValueError) as caught:
        service_uri(uri)
    assert message in str(caught.value)


def _issues(uri: object, stages=None, functions=("custom",)):
    integration = {"integrationType": "AWS", "integrationUri": uri}
    return aws_integration_issues(
        "integrations.x", integration, {name: {} for name in functions}, stages or {"dev": {}}
    )


@pytest.mark.parametrize(
    "uri",
    [
        "custom",
        _LAMBDA.format(name="custom"),
        "arn:aws:apigateway:us-east-1:sqs:path/123456789012/q",
        "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem",
        "arn:aws:apigateway:us-east-1:s3:path/bucket/key",
    ],
)
def test_valid_aws_uris_have_no_issues(uri):
    assert _issues(uri) == []


_WHERE = "integrations.x.integrationUri"


@pytest.mark.parametrize(
    ("uri", "stages", "message"),
    [
        (None, None, "an AWS integration needs a Lambda function or a service ARN"),
        ("", None, "an AWS integration needs a Lambda function or a service ARN"),
        ("nofn", None, "no function named 'nofn'"),
        (_LAMBDA.format(name="nofn"), None, "no function named 'nofn'"),
        (
            _LAMBDA.format(name="${stageVariables.fn}"),
            {"dev": {"fn": "custom"}, "prod": {"fn": "other"}},
            "no function named 'other' (in stage prod)",
        ),
        (
            "arn:aws:apigateway:us-east-1:nosuch:action/Do",
            None,
            "unknown service 'nosuch'; wsgate calls dynamodb, email, events, firehose, kinesis, "
            "kms, logs, monitoring, s3, secretsmanager, sns, sqs, ssm, states, sts",
        ),
        (
            "arn:aws:apigateway:us-east-1:s3:action/GetObject",
            None,
            "s3 has no actions: name a path (path/...)",
        ),
        (
            "arn:aws:apigateway:us-east-1:${stageVariables.service}:action/Do",
            {"dev": {"service": "nosuch"}},
            "unknown service 'nosuch' (in stage dev); wsgate calls dynamodb,",
        ),
        (
            "arn:aws:apigateway:us-east-1:${stageVariables.service}:action/Do",
            {"dev": {}},
            "stage dev: stage variable 'service' is not set",
        ),
        (
            "arn:aws:apigateway:us-east-1:sqs:action",
            None,
            "'arn:aws:apigateway:us-east-1:sqs:action': expected",
        ),
    ],
)
def test_aws_uri_issues(uri, stages, message):
    issues = _issues(uri, stages)
    assert len(issues) == 1
    assert issues[0].path == _WHERE
    assert issues[0].message.startswith(message)


def test_config_load_reports_aws_integrations_with_the_rest(tmp_path: Path):
    data: dict[str, Any] = {
        "name": "aws",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
        "integrations": {
            "custom": {"integrationType": "AWS", "integrationUri": "custom"},
            "queue": {
                "integrationType": "AWS",
                "integrationUri": "arn:aws:apigateway:us-east-1:sqs:action/SendMessage",
                "credentialsArn": "arn:aws:iam::123456789012:role/api",
                "integrationResponses": {"/2\\d\\d/": {}, "2xx": {}},
            },
            "lost": {"integrationType": "AWS", "integrationUri": "arn:aws:apigateway:x:sqs:path/"},
        },
    }
    with pytest.raises(ConfigError) as caught:
        config_from_data(data, base_dir=tmp_path, source="test")
    assert caught.value.issues == [
        ConfigIssue("integrations.custom.integrationUri", "no function named 'custom'"),
        ConfigIssue(
            "integrations.queue.integrationResponses.2xx",
            "expected $default or a regex wrapped in /.../",
        ),
        ConfigIssue(
            "integrations.lost.integrationUri",
            "'arn:aws:apigateway:x:sqs:path/': 'x' is not a region (us-east-1, eu-west-3, ...)",
        ),
    ]
    del data["integrations"]["custom"], data["integrations"]["lost"]
    del data["integrations"]["queue"]["integrationResponses"]["2xx"]
    config = config_from_data(data, base_dir=tmp_path, source="test")
    assert config.integrations["queue"].credentials_arn == "arn:aws:iam::123456789012:role/api"


@pytest.mark.parametrize("prefix", sorted(AWS_SERVICES))
def test_the_service_table_agrees_with_botocore(prefix):
    """Each service is botocore's under that name, reached at that endpoint prefix, and takes
    actions in the style recorded (SQS aside: botocore speaks JSON to it, API Gateway's
    integrations the query form, which SQS still serves)."""
    import botocore.session

    service = AWS_SERVICES[prefix]
    model = botocore.session.get_session().get_service_model(service.sdk_name)
    assert model.metadata["endpointPrefix"] == prefix
    protocols = model.metadata.get("protocols", [model.protocol])
    if service.style == "rest":
        assert model.protocol.startswith("rest-")
    elif prefix != "sqs":
        assert service.style in protocols
