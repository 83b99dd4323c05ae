"""The AWS sample chat app's handlers, unchanged in spirit: connection ids in a table, messages
sent to every connection through the @connections API with boto3.

{"action": "sendmessage", "data": "hi"} sends "hi" to everyone connected.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import boto3

_DATABASE = Path(os.environ.get("DATABASE_PATH", "chat.sqlite3"))


def _db() -> sqlite3.Connection:
    connection = sqlite3.connect(_DATABASE, timeout=10, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS connections (connection_id TEXT PRIMARY KEY)")
    return connection


def on_connect(event, context):
    connection_id = event["requestContext"]["connectionId"]
    with _db() as db:
        db.execute("INSERT OR REPLACE INTO connections VALUES (?)", (connection_id,))
    return {"statusCode": 200, "body": "Connected."}


def on_disconnect(event, context):
    connection_id = event["requestContext"]["connectionId"]
    with _db() as db:
        db.execute("DELETE FROM connections WHERE connection_id = ?", (connection_id,))
    return {"statusCode": 200, "body": "Disconnected."}


def send_message(event, context):
    context_ = event["requestContext"]
    scheme = os.environ.get("CALLBACK_SCHEME", "https")
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{scheme}://{context_['domainName']}/{context_['stage']}",
    )
    data = json.loads(event["body"]).get("data", "")
    with _db() as db:
        ids = [row[0] for row in db.execute("SELECT connection_id FROM connections")]
        for connection_id in ids:
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=data.encode("utf-8"))
            except client.exceptions.GoneException:
                # $disconnect is best effort: prune ids that are gone (AWS's advice).
                db.execute("DELETE FROM connections WHERE connection_id = ?", (connection_id,))
    return {"statusCode": 200, "body": "Data sent."}


def echo(event, context):
    return {"statusCode": 200, "body": event["body"]}


def default(event, context):
    hint = {"message": 'Use {"action": "sendmessage", "data": "..."} to chat.'}
    return {"statusCode": 200, "body": json.dumps(hint)}
