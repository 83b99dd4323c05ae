"""Handlers that call the gateway back as they would on AWS, with no local settings."""

from __future__ import annotations

import json
import os
import socket

import boto3


def _reply_through(client, event, text):
    connection_id = event["requestContext"]["connectionId"]
    client.post_to_connection(ConnectionId=connection_id, Data=text.encode())
    return {"statusCode": 200}


def post_hardcoded(event, context):
    """The URL AWS gives the API, as a template's Fn::Sub builds it (CALLBACK_URL)."""
    client = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["CALLBACK_URL"])
    return _reply_through(client, event, "python: hard-coded")


def post_from_event(event, context):
    """https://{domainName}/{stage}, as AWS's samples build it."""
    request = event["requestContext"]
    endpoint = f"https://{request['domainName']}/{request['stage']}"
    client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    return _reply_through(client, event, "python: from the event")


def post_default(event, context):
    """No endpoint at all: the SDK reads AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI."""
    client = boto3.client("apigatewaymanagementapi")
    return _reply_through(client, event, "python: default endpoint")


def resolve(event, context):
    """Where each name's port 443 resolves to in this process (or the error)."""
    answers: dict[str, object] = {}
    for name in json.loads(event["body"])["names"]:
        try:
            address = socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)[0][4]
            answers[name] = [address[0], address[1]]
        except OSError as error:
            answers[name] = type(error).__name__
    return {"statusCode": 200, "body": json.dumps(answers)}
