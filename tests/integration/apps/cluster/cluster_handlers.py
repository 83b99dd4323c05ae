"""Handlers for the multi-node tests; each records its event to EVENTS_FILE (one JSON a line)."""

import json
import os


def _record(event):
    with open(os.environ["EVENTS_FILE"], "a", encoding="utf-8") as file:
        file.write(json.dumps(event) + "\n")


def connect(event, context):
    """Join the groups listed in ?groups=a,b (beyond AWS: a "groups" list in the answer)."""
    _record(event)
    query = event.get("queryStringParameters") or {}
    groups = [name for name in query.get("groups", "").split(",") if name]
    return {"statusCode": 200, "groups": groups}


def disconnect(event, context):
    _record(event)
    return {"statusCode": 200}


def echo(event, context):
    return {"statusCode": 200, "body": event.get("body") or ""}
