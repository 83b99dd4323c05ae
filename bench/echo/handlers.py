"""The benchmark's functions: echoes that answer through the route response, and a $connect."""

import time


async def echo(event, context):
    return {"statusCode": 200, "body": event["body"]}


def echo_sync(event, context):
    """The same echo as a plain Lambda handler (``def``), as most functions are written."""
    return {"statusCode": 200, "body": event["body"]}


def connect(event, context):
    """A ``$connect`` function that accepts every connection."""
    return {"statusCode": 200}


def sleepy(event, context):
    """A handler doing blocking I/O on one route: ``sleep`` waits 100 ms, ``echo`` answers."""
    if event["requestContext"]["routeKey"] == "sleep":
        time.sleep(0.1)
    return {"statusCode": 200, "body": event["body"]}
