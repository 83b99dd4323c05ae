"""Lambda's contract as seen by a handler: context, environment, error shapes, marshalling."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest

from wsgate.config.model import FunctionConfig
from wsgate.errors import FunctionError
from wsgate.integrations.lambda_context import (
    EXIT_ERROR,
    FUNCTION_VERSION,
    FunctionInfo,
    LambdaContext,
    build_environment,
    build_function_info,
    build_log_stream_name,
    dump_json,
    exit_error_message,
    function_error,
    load_json,
    make_error_payload,
    new_invocation_id,
    timeout_error_message,
)

NOW = datetime.datetime(2024, 3, 9, 7, 5, 4, 321987, tzinfo=datetime.UTC)
STREAM = "2024/03/09/[$LATEST]" + "ab" * 16
CONFIG = FunctionConfig(
    handler="pkg.app.handler",
    code_uri="/srv/fn",
    environment={"GREETING": "hi", "AWS_REGION": "moon-1", "SHARED": "function"},
    timeout=7.5,
    memory_size=512,
)
INFO = build_function_info(
    "chat", CONFIG, region="eu-west-1", account_id="123456789012", log_stream_name=STREAM
)


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    return build_environment(
        INFO,
        CONFIG,
        region="eu-west-1",
        base=base if base is not None else {"SHARED": "parent", "PATH": "/bin"},
        runtime_dir="/opt/wsgate",
        python_version=(3, 12),
    )


def test_log_stream_name() -> None:
    assert build_log_stream_name(NOW, "ab" * 16) == STREAM


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("function_name", "chat"),
        ("function_version", "$LATEST"),
        ("invoked_function_arn", "arn:aws:lambda:eu-west-1:123456789012:function:chat"),
        ("memory_limit_in_mb", 512),
        ("log_group_name", "/aws/lambda/chat"),
        ("log_stream_name", STREAM),
        ("timeout", 7.5),
    ],
)
def test_function_info(attribute: str, expected: object) -> None:
    assert getattr(INFO, attribute) == expected


def test_function_info_round_trips_through_json() -> None:
    data = json.loads(json.dumps(INFO.to_dict()))
    assert FunctionInfo.from_dict({**data, "unknown": 1}) == INFO


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AWS_REGION", "eu-west-1"),  # Lambda's reserved names win over the function's
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_LAMBDA_FUNCTION_NAME", "chat"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/chat"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", STREAM),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"),
        ("LAMBDA_TASK_ROOT", "/srv/fn"),
        ("LAMBDA_RUNTIME_DIR", "/opt/wsgate"),
        ("TZ", ":UTC"),
        ("_HANDLER", "pkg.app.handler"),
        ("GREETING", "hi"),
        ("SHARED", "function"),  # the function's variables win over the parent's
        ("PATH", "/bin"),  # the parent's environment passes through
        ("AWS_ACCESS_KEY_ID", "wsgate"),
        ("AWS_SECRET_ACCESS_KEY", "wsgate"),
    ],
)
def test_environment(name: str, expected: str) -> None:
    assert environment()[name] == expected


@pytest.mark.parametrize(
    ("base", "key_id", "secret"),
    [
        ({}, "wsgate", "wsgate"),
        ({"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3"}, "AKIA1", "s3"),
        ({"AWS_ACCESS_KEY_ID": "AKIA1"}, "AKIA1", "wsgate"),
    ],
)
def test_environment_keeps_real_credentials(base: dict[str, str], key_id: str, secret: str) -> None:
    built = environment(base)
    assert (built["AWS_ACCESS_KEY_ID"], built["AWS_SECRET_ACCESS_KEY"]) == (key_id, secret)


def test_environment_does_not_touch_base() -> None:
    base = {"PATH": "/bin"}
    environment(base)
    assert base == {"PATH": "/bin"}


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("aws_request_id", "req-1"),
        ("function_name", "chat"),
        ("function_version", FUNCTION_VERSION),
        ("invoked_function_arn", "arn:aws:lambda:eu-west-1:123456789012:function:chat"),
        ("memory_limit_in_mb", 512),
        ("log_group_name", "/aws/lambda/chat"),
        ("log_stream_name", STREAM),
        ("identity", None),
        ("client_context", None),
        ("tenant_id", None),
    ],
)
def test_context_attributes(attribute: str, expected: object) -> None:
    context = LambdaContext(INFO, "req-1", deadline=10.0, clock=lambda: 0.0)
    assert getattr(context, attribute) == expected


@pytest.mark.parametrize(
    ("now", "remaining"),
    [(0.0, 10000), (9.5, 500), (9.9995, 0), (10.0, 0), (12.0, 0)],
)
def test_remaining_time_counts_down_to_the_deadline(now: float, remaining: int) -> None:
    context = LambdaContext(INFO, "req-1", deadline=10.0, clock=lambda: now)
    assert context.get_remaining_time_in_millis() == remaining


def test_context_from_dict_starts_the_function_timeout_at_now() -> None:
    context = LambdaContext.from_dict(INFO.to_dict(), "req-2", now=100.0, clock=lambda: 101.0)
    assert context.aws_request_id == "req-2"
    assert context.get_remaining_time_in_millis() == 6500


def test_context_is_slotted() -> None:
    context = LambdaContext(INFO, "req-1", deadline=1.0)
    assert not hasattr(context, "__dict__")
    assert "req-1" in repr(context)


def test_context_log_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    LambdaContext(INFO, "req-1", deadline=1.0).log("hello")
    assert capsys.readouterr().out == "hello"


def test_error_payload_shape() -> None:
    payload = make_error_payload("ValueError", "boom", ("  File x\n",), "req-1")
    assert payload == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": ["  File x\n"],
    }


@pytest.mark.parametrize(
    ("payload", "error_type", "message", "stack"),
    [
        (make_error_payload("KeyError", "'x'", ["a\n"]), "KeyError", "'x'", ["a\n"]),
        ({"errorMessage": "late"}, "Unhandled", "late", []),
        ({"errorType": "T", "stackTrace": "not a list"}, "T", "", []),
        ({}, "Unhandled", "", []),
    ],
)
def test_function_error_from_payload(
    payload: dict[str, object], error_type: str, message: str, stack: list[str]
) -> None:
    error = function_error("chat-integration", payload)
    assert isinstance(error, FunctionError)
    assert (error.integration, error.error_type, error.error_message, error.stack) == (
        "chat-integration",
        error_type,
        message,
        stack,
    )


def test_timeout_message_is_lambdas() -> None:
    assert timeout_error_message(NOW, "req-1", 3) == (
        "2024-03-09T07:05:04.321Z req-1 Task timed out after 3.00 seconds"
    )


@pytest.mark.parametrize(
    ("request_id", "returncode", "message"),
    [
        ("r", 1, "RequestId: r Error: Runtime exited with error: exit status 1"),
        ("r", 0, "RequestId: r Error: Runtime exited with error: exit status 0"),
        ("r", -9, "RequestId: r Error: Runtime exited with error: signal: killed"),
        ("r", -11, "RequestId: r Error: Runtime exited with error: signal: segmentation fault"),
        ("r", -15, "RequestId: r Error: Runtime exited with error: signal: terminated"),
        ("r", -40, "RequestId: r Error: Runtime exited with error: signal: signal 40"),
        ("r", None, "RequestId: r Error: Runtime exited with error: exit status unknown"),
        (None, 7, "Error: Runtime exited with error: exit status 7"),
    ],
)
def test_exit_message_is_lambdas(
    request_id: str | None, returncode: int | None, message: str
) -> None:
    assert exit_error_message(request_id, returncode) == message
    assert EXIT_ERROR == "Runtime.ExitError"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ({"statusCode": 200, "body": "hé"}, {"statusCode": 200, "body": "hé"}),
        ([1, 2.5, True, "x"], [1, 2.5, True, "x"]),
        ((1, 2), [1, 2]),
        ({1: "int key"}, {"1": "int key"}),  # as stdlib json (and Lambda) write it
        (2**70, 2**70),
        (decimal.Decimal("12"), 12),
        (decimal.Decimal("1.5"), 1.5),
    ],
)
def test_dump_json_accepts_what_lambda_accepts(value: object, expected: object) -> None:
    assert json.loads(dump_json(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 1, 1),
        {"when": datetime.date(2024, 1, 1)},
        {1, 2},
        object(),
        b"bytes",
    ],
)
def test_dump_json_rejects_what_lambda_rejects(value: object) -> None:
    with pytest.raises(TypeError, match="is not JSON serializable"):
        dump_json(value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b'{"a":[1,null]}', {"a": [1, None]}), (b'"x"', "x"), (b"null", None)],
)
def test_load_json(data: bytes, expected: object) -> None:
    assert load_json(data) == expected


def test_load_json_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        load_json(b"{not json")


def test_invocation_ids_are_fresh_version_4_uuids():
    drawn = [new_invocation_id() for _ in range(600)]  # more than one batch
    assert len(set(drawn)) == len(drawn)
    for value in drawn:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_context_without_an_id_draws_one_when_read():
    context = LambdaContext(INFO, None, deadline=10.0)
    first = context.aws_request_id
    assert uuid.UUID(first).version == 4
    assert context.aws_request_id == first  # one id for the whole invocation
    assert LambdaContext(INFO, None, deadline=10.0).aws_request_id != first
