"""Handlers the integration tests drive; each records the event it got to EVENTS_FILE."""

import asyncio
import json
import os
import time

import boto3

ENV_NAMES = ("AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "GREETING")


def _record(event):
    with open(os.environ["EVENTS_FILE"], "a", encoding="utf-8") as file:
        file.write(json.dumps(event) + "\n")


def on_connect(event, context):
    _record(event)
    query = event.get("queryStringParameters") or {}
    mode = query.get("mode")
    if mode == "refuse":
        return {"statusCode": int(query.get("status", "403"))}
    if mode == "raise":
        raise RuntimeError("connect failed on purpose")
    if mode == "sleep":
        time.sleep(float(query.get("seconds", "1")))
    if mode == "post-self":
        request = event["requestContext"]
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"http://{request['domainName']}/{request['stage']}",
        )
        try:
            client.post_to_connection(ConnectionId=request["connectionId"], Data=b"x")
            outcome = "posted"
        except client.exceptions.GoneException:
            outcome = "GoneException"
        with open(os.environ["EVENTS_FILE"] + ".post", "w", encoding="utf-8") as file:
            file.write(outcome)
    headers = {}
    protocols = event["headers"].get("Sec-WebSocket-Protocol")
    if protocols:
        headers["Sec-WebSocket-Protocol"] = protocols.split(",")[0].strip()
    return {"statusCode": 200, "headers": headers}


def on_disconnect(event, context):
    _record(event)
    return {"statusCode": 200}


def echo(event, context):
    _record(event)
    return {"statusCode": 200, "body": event["body"]}


async def async_echo(event, context):
    await asyncio.sleep(0)
    return {"statusCode": 200, "body": "async:" + event["body"]}


def silent(event, context):
    # Its answer must not reach the client: the route has no route response.
    return {"statusCode": 200, "body": "should never be seen"}


def fail(event, context):
    raise ValueError("handler failed on purpose")


def slow(event, context):
    time.sleep(json.loads(event["body"]).get("seconds", 2))
    return {"statusCode": 200, "body": "slow done"}


def garbage(event, context):
    return {"statusCode": 200, "body": {"not": "a string"}}


def context_info(event, context):
    info = {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ENV_NAMES},
        "requestId": event["requestContext"]["requestId"],
    }
    return {"statusCode": 200, "body": json.dumps(info)}


def binary_echo(event, context):
    _record(event)
    return {"statusCode": 200, "body": event["body"], "isBase64Encoded": event["isBase64Encoded"]}
