"""Handlers run by awslambdaric, unchanged from how Lambda runs them."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "requestId": context.aws_request_id,
        "function": context.function_name,
        "arn": context.invoked_function_arn,
        "remaining": context.get_remaining_time_in_millis(),
    }


def fail(event: dict[str, Any], context: Any) -> None:
    raise ValueError("it broke")
