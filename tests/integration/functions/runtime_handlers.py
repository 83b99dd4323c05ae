"""Handlers for the function runtime tests (loaded by the worker process or in-process)."""

from __future__ import annotations

import asyncio
import datetime
import os
import time

_KEYS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_EXECUTION_ENV",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
    "_HANDLER",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "GREETING",
    "WSGATE_TEST_PASSTHROUGH",
)


def _mark(path):
    # Written aside then renamed: a test that sees the file sees the whole pid.
    with open(f"{path}.tmp", "w") as marker:
        marker.write(str(os.getpid()))
    os.replace(f"{path}.tmp", path)


def echo(event, context):
    return {"event": event, "pid": os.getpid()}


async def echo_async(event, context):
    await asyncio.sleep(0)
    return {"event": event, "async": True, "pid": os.getpid()}


def describe(event, context):
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": context.identity,
        "client_context": context.client_context,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {key: os.environ.get(key) for key in _KEYS},
        "cwd": os.getcwd(),
    }


def fail(event, context):
    raise ValueError("boom")


def sleep(event, context):
    if "marker" in event:  # lets a test see that the call has started
        _mark(event["marker"])
    time.sleep(event["seconds"])
    return {"slept": event["seconds"], "pid": os.getpid()}


async def sleep_async(event, context):
    await asyncio.sleep(event["seconds"])
    return {"slept": event["seconds"]}


def spin(event, context):
    if not event.get("spin"):
        return os.getpid()
    _mark(event["marker"])
    while True:
        pass


def exit_now(event, context):
    os._exit(1)


def not_json(event, context):
    return {"when": datetime.datetime.now()}


def noisy(event, context):
    print("hello from a handler")
    os.write(1, b"raw bytes on fd 1\n")
    return "quiet answer"


def kill_self(event, context):
    os.kill(os.getpid(), 9)


def bad_sys_exit(event, context):
    raise SystemExit(3)


def maybe_fail(event, context):
    if event.get("fail"):
        raise KeyError(event["fail"])
    return os.getpid()


def ignore_sigterm(event, context):
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _mark(event["marker"])
    time.sleep(30)


async def fail_after_waiting(event, context):
    await asyncio.sleep(0.01)
    raise ValueError("failed after waiting")


async def own_timeout(event, context):
    # A handler's own TimeoutError is its error, not the gateway's timeout.
    async with asyncio.timeout(0.01):
        await asyncio.sleep(1)


def int_keys(event, context):
    return {1: "one", "ok": True}
