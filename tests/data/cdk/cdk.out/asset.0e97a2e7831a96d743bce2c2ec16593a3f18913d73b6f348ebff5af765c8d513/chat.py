"""The CDK chat's functions: connection ids in a file, messages posted through @connections."""

import json
import os
from pathlib import Path
from typing import Any

import boto3

CONNECTIONS = Path(os.environ.get("CONNECTIONS_FILE", "/tmp/cdk-chat-connections.json"))


def _load() -> list[str]:
    ids: list[str] = json.loads(CONNECTIONS.read_text()) if CONNECTIONS.exists() else []
    return ids


def on_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ids = _load()
    ids.append(event["requestContext"]["connectionId"])
    CONNECTIONS.write_text(json.dumps(ids))
    return {"statusCode": 200}


def on_disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    gone = event["requestContext"]["connectionId"]
    CONNECTIONS.write_text(json.dumps([i for i in _load() if i != gone]))
    return {"statusCode": 200}


def send_message(event: dict[str, Any], context: Any) -> dict[str, Any]:
    context_ = event["requestContext"]
    scheme = os.environ.get("CALLBACK_SCHEME", "https")
    endpoint = f"{scheme}://{context_['domainName']}/{context_['stage']}"
    api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    data = json.loads(event["body"])["data"]
    for connection_id in _load():
        if connection_id != context_["connectionId"]:
            api.post_to_connection(ConnectionId=connection_id, Data=data.encode())
    return {"statusCode": 200}
