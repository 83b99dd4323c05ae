"""The Runtime API's pure part: endpoints, verdicts, error documents, invocation headers."""

from __future__ import annotations

import json

import pytest

from wsgate.integrations.node_sdk import sdk_packages_in
from wsgate.integrations.runtime_protocol import (
    ACCEPTED,
    MAX_PAYLOAD_BYTES,
    Endpoint,
    build_trace_id,
    error_document,
    invocation_headers,
    judge_answer,
    judge_init_error,
    read_endpoint,
    response_too_large,
)
from wsgate.integrations.runtime_runner import _has_register

ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/2018-06-01/runtime/invocation/next", Endpoint("next")),
        ("POST", f"/2018-06-01/runtime/invocation/{ID}/response", Endpoint("response", ID)),
        ("POST", f"/2018-06-01/runtime/invocation/{ID}/error", Endpoint("error", ID)),
        ("POST", "/2018-06-01/runtime/init/error", Endpoint("init_error")),
        ("POST", "/2018-06-01/runtime/invocation/next", None),
        ("GET", f"/2018-06-01/runtime/invocation/{ID}/response", None),
        ("PUT", "/2018-06-01/runtime/init/error", None),
        ("POST", "/2018-06-01/runtime/invocation//response", None),
        ("POST", f"/2018-06-01/runtime/invocation/{ID}/other", None),
        ("POST", f"/2018-06-01/runtime/invocation/{ID}/response/more", None),
        ("GET", "/2020-01-01/extension/event/next", None),
        ("GET", "/", None),
    ],
)
def test_read_endpoint(method, path, expected):
    assert read_endpoint(method, path) == expected


@pytest.mark.parametrize(
    ("request_id", "current", "size", "status", "error_type"),
    [
        (ID, ID, 10, 202, None),
        (ID, ID, MAX_PAYLOAD_BYTES, 202, None),
        (ID, ID, MAX_PAYLOAD_BYTES + 1, 413, "RequestEntityTooLarge"),
        ("other", ID, 10, 400, "InvalidRequestID"),
        (ID, None, 10, 400, "InvalidRequestID"),  # answered already, or never asked
    ],
)
def test_judge_answer(request_id, current, size, status, error_type):
    verdict = judge_answer(request_id, current, size)
    assert verdict.status == status
    if error_type is None:
        assert verdict == ACCEPTED
        assert json.loads(verdict.encode()) == {"status": "OK"}
    else:
        assert verdict.body["errorType"] == error_type


def test_judge_answer_messages_are_rapids():
    assert judge_answer("x", None, 0).body["errorMessage"] == "Invalid request ID"
    too_large = judge_answer(ID, ID, MAX_PAYLOAD_BYTES + 1).body["errorMessage"]
    assert too_large == "Exceeded maximum allowed payload size (6291556 bytes)."
    assert response_too_large() == (
        "Function.ResponseSizeTooLarge",
        "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    )


def test_judge_init_error():
    assert judge_init_error(False) == ACCEPTED
    refused = judge_init_error(True)
    assert (refused.status, refused.body["errorType"]) == (403, "InvalidStateTransition")


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        (
            b'{"errorMessage": "boom", "errorType": "TypeError", "trace": ["TypeError: boom"]}',
            None,
            ("TypeError", "boom", ["TypeError: boom"]),
        ),
        (
            b'{"errorMessage": "boom", "errorType": "E", "stackTrace": ["a", 1]}',
            "Other",
            ("E", "boom", ["a", "1"]),
        ),
        (b'{"errorMessage": "no type"}', "Custom.Header", ("Custom.Header", "no type", [])),
        (b'{"errorType": "", "errorMessage": 3}', None, ("Unhandled", "", [])),
        (b'{"errorType": "E", "trace": "not a list"}', None, ("E", "", [])),
        (b"not json", "Custom", ("Custom", "not json", [])),
        (b"", None, ("Unhandled", "", [])),
        (b"[1, 2]", None, ("Unhandled", "[1, 2]", [])),
        (b'"text"', None, ("Unhandled", '"text"', [])),
    ],
)
def test_error_document(body, header, expected):
    document = error_document(body, header, ID)
    assert document["requestId"] == ID
    assert (document["errorType"], document["errorMessage"], document["stackTrace"]) == expected


def test_invocation_headers():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:chat"
    headers = invocation_headers(ID, 1542409706888, arn, "Root=1-x")
    assert headers == {
        "Lambda-Runtime-Aws-Request-Id": ID,
        "Lambda-Runtime-Deadline-Ms": "1542409706888",
        "Lambda-Runtime-Invoked-Function-Arn": arn,
        "Lambda-Runtime-Trace-Id": "Root=1-x",
        "Content-Type": "application/json",
    }
    assert "Lambda-Runtime-Trace-Id" not in invocation_headers(ID, 1, arn)


def test_build_trace_id():
    trace = build_trace_id(0x5BEF4DE7, "ad49b0e87f6ef6c87fc2e7009a9197af755a6419")
    assert trace == "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import { X } from '@aws-sdk/client-dynamodb';", {"@aws-sdk/client-dynamodb"}),
        ('const { Y } = require("@aws-sdk/lib-dynamodb")', {"@aws-sdk/lib-dynamodb"}),
        ("await import('@aws-sdk/client-s3/dist-cjs/index.js')", {"@aws-sdk/client-s3"}),
        ("import x from 'aws-sdk'; // v2, not provided", set()),
        ("'@smithy/types' '@aws-sdk/' ", set()),
    ],
)
def test_sdk_packages_in(text, expected):
    assert sdk_packages_in(text) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((20, 20, 2), True),
        ((20, 6, 0), True),
        ((20, 5, 1), False),
        ((18, 19, 0), True),
        ((18, 18, 2), False),
        ((22, 0, 0), True),
        ((19, 9, 0), False),
    ],
)
def test_has_register(version, expected):
    assert _has_register(version) is expected
