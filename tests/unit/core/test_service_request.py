"""The URL and headers of an AWS service integration's request, from literals."""

from __future__ import annotations

import pytest

from wsgate.core.service_request import ServiceFacts, ServiceUri, service_headers, service_url

_SQS = ServiceFacts("https://sqs.us-east-1.amazonaws.com", "query", "2012-11-05")
_DYNAMODB = ServiceFacts(
    "http://127.0.0.1:5000/", "json", "2012-08-10", "DynamoDB_20120810", json_version="1.0"
)
_KINESIS = ServiceFacts("http://local", "json", "2013-12-02", "Kinesis_20131202", "1.1")
_S3 = ServiceFacts("https://s3.us-east-1.amazonaws.com", "rest", "2006-03-01")


@pytest.mark.parametrize(
    ("target", "facts", "url"),
    [
        (
            ServiceUri("us-east-1", "sqs", "path", "123456789012/queue"),
            _SQS,
            "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
        ),
        (
            ServiceUri("us-east-1", "sqs", "action", "SendMessage"),
            _SQS,
            "https://sqs.us-east-1.amazonaws.com/?Action=SendMessage&Version=2012-11-05",
        ),
        (
            ServiceUri(
                "us-east-1", "sqs", "action", "SendMessage", (("QueueUrl", "https://q/1 2"),)
            ),
            _SQS,
            "https://sqs.us-east-1.amazonaws.com/?Action=SendMessage&Version=2012-11-05"
            "&QueueUrl=https%3A%2F%2Fq%2F1%202",
        ),
        (
            ServiceUri("us-east-1", "sns", "action", "Publish", (("Version", "2010-03-31"),)),
            _SQS,
            "https://sqs.us-east-1.amazonaws.com/?Action=Publish&Version=2010-03-31",
        ),
        (
            ServiceUri("us-east-1", "dynamodb", "action", "PutItem"),
            _DYNAMODB,
            "http://127.0.0.1:5000/",
        ),
        (
            ServiceUri("us-east-1", "kinesis", "action", "PutRecord", (("a", "b"),)),
            _KINESIS,
            "http://local/?a=b",
        ),
        (
            ServiceUri("us-east-1", "s3", "path", "bucket/{key}/a b"),
            _S3,
            "https://s3.us-east-1.amazonaws.com/bucket/{key}/a%20b",
        ),
        (
            ServiceUri("us-east-1", "sns", "path", "/"),
            _SQS,
            "https://sqs.us-east-1.amazonaws.com//",
        ),
    ],
)
def test_service_url(target, facts, url):
    assert service_url(target, facts) == url


@pytest.mark.parametrize(
    ("target", "facts", "headers"),
    [
        (
            ServiceUri("us-east-1", "dynamodb", "action", "PutItem"),
            _DYNAMODB,
            (
                ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
                ("Content-Type", "application/x-amz-json-1.0"),
            ),
        ),
        (
            ServiceUri("us-east-1", "kinesis", "action", "PutRecord"),
            _KINESIS,
            (
                ("X-Amz-Target", "Kinesis_20131202.PutRecord"),
                ("Content-Type", "application/x-amz-json-1.1"),
            ),
        ),
        (ServiceUri("us-east-1", "kinesis", "path", "/"), _KINESIS, ()),
        (ServiceUri("us-east-1", "sqs", "action", "SendMessage"), _SQS, ()),
    ],
)
def test_service_headers(target, facts, headers):
    assert service_headers(target, facts) == headers
