"""Chat handlers as written for Lambda: connection ids kept in a table (SQLite here), messages
sent to every connection through the @connections API with boto3."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

import boto3


def _db() -> sqlite3.Connection:
    connection = sqlite3.connect(os.environ["DATABASE_PATH"], timeout=10, isolation_level=None)
    connection.execute("CREATE TABLE IF NOT EXISTS connections (connection_id TEXT PRIMARY KEY)")
    return connection


def on_connect(event: dict[str, Any], context: object) -> dict[str, Any]:
    with _db() as db:
        db.execute(
            "INSERT OR REPLACE INTO connections VALUES (?)",
            (event["requestContext"]["connectionId"],),
        )
    return {"statusCode": 200}


def on_disconnect(event: dict[str, Any], context: object) -> dict[str, Any]:
    with _db() as db:
        db.execute(
            "DELETE FROM connections WHERE connection_id = ?",
            (event["requestContext"]["connectionId"],),
        )
    return {"statusCode": 200}


def send_message(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = event["requestContext"]
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{os.environ['CALLBACK_SCHEME']}://{request['domainName']}/{request['stage']}",
    )
    data = json.loads(event["body"]).get("data", "")
    with _db() as db:
        for (connection_id,) in db.execute("SELECT connection_id FROM connections").fetchall():
            if connection_id != request["connectionId"]:
                client.post_to_connection(ConnectionId=connection_id, Data=data.encode())
    return {"statusCode": 200}
